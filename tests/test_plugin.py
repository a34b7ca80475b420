"""The pytest plugin, end to end: real hypothesis files run in a subprocess (`pytester`) on the
study's released data, checked against the report they write.

Each run is a fresh process (the plugin caches evidence per process): ~1–3 s each.
"""
from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

from loraplace.claims.registry import get_claim
from loraplace.scoring.execution import default_cache_dir
from loraplace.scoring.gsm8k import SCORERS

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]
# C2: supported and inconclusive parts; C3: a refuted part. Outcomes are checked against the
# report the run writes, so the tests hold whatever the verdicts are.
FILES = ("test_c2_recurrent_topology.py", "test_c3_transfer_asymmetry.py")
CLAIM_IDS = ("C2", "C3")
# pytester points HOME at its tmp dir; keep the sandbox's HumanEval execution cache (which every
# load of the published track uses) where it is, or each run re-executes ~1.5k completions (~40 s).
CACHE_ROOT = default_cache_dir().parent
RESAMPLES = "200"
SKIPPED = ("unavailable", "untestable")  # record_verdict skips these with the verdict line

# Loaded by every process of a run (controller and xdist workers): logs who writes the report,
# and each failure's exact message (`longreprtext`).
COUNTING_CONFTEST = '''
import json
import os
import loraplace.report.html as _html

_write = _html.write_report


def _logged_write(data, out_dir):
    with open(os.environ["LORAPLACE_TEST_WRITES"], "a") as fh:
        fh.write(os.environ.get("PYTEST_XDIST_WORKER", "controller") + "\\n")
    return _write(data, out_dir)


_html.write_report = _logged_write


def pytest_runtest_logreport(report):
    if report.failed and not os.environ.get("PYTEST_XDIST_WORKER"):
        with open(os.environ["LORAPLACE_TEST_FAILURES"], "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"nodeid": report.nodeid, "message": report.longreprtext}) + "\\n")
'''


def n_parts(topology: str | None = None) -> int:
    return sum(1 for c in CLAIM_IDS for p in get_claim(c).parts if topology in (None, p.topology))


def node_suffix(v: dict) -> str:
    return f"[{v['evidence']}-{v['scorer']}-{v['part_id']}]"


class Run:
    """One `pytest` subprocess in pytester's dir, with the report (if any) it wrote."""

    def __init__(self, pytester: pytest.Pytester, published_dir: Path, *args: str, files=FILES):
        self.report_dir = pytester.path / "reports-out"
        self.writes_log = pytester.path / "writes.log"
        self.failures_log = pytester.path / "failures.jsonl"
        for log in (self.writes_log, self.failures_log):
            log.unlink(missing_ok=True)
        for name in files:
            shutil.copy(REPO / "hypotheses" / name, pytester.path / name)
        self.result = pytester.runpytest_subprocess(
            "-p", "loraplace.pytest_plugin.plugin", "-p", "loraplace.pytest_plugin.fixtures", "-p", "no:cacheprovider",
            # `--opt=value`: a separate path token would be taken for a test path when pytest picks
            # the rootdir (before any plugin's options are known)
            f"--published-dir={published_dir}", f"--report-dir={self.report_dir}",
            "--bootstrap-resamples", RESAMPLES, *(() if "--evidence" in args else ("--evidence", "published")),
            *args)

    @property
    def json_path(self) -> Path:
        return self.report_dir / "claims.json"

    @property
    def report(self) -> dict:
        return json.loads(self.json_path.read_text(encoding="utf-8"))

    @property
    def writers(self) -> list[str]:
        return self.writes_log.read_text().split() if self.writes_log.exists() else []

    def failures(self) -> dict[str, str]:
        """nodeid → the failure's whole message, as the test report carries it."""
        if not self.failures_log.exists():
            return {}
        rows = [json.loads(line) for line in self.failures_log.read_text(encoding="utf-8").splitlines()]
        return {row["nodeid"]: row["message"] for row in rows}


@pytest.fixture
def run(pytester: pytest.Pytester, published_dir: Path, monkeypatch: pytest.MonkeyPatch):
    # lib/ first so the subprocess tests this checkout's
    # loraplace, not whichever one an editable install points at
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO / "lib"), str(REPO)]))
    monkeypatch.setenv("LORAPLACE_TEST_WRITES", str(pytester.path / "writes.log"))
    monkeypatch.setenv("LORAPLACE_TEST_FAILURES", str(pytester.path / "failures.jsonl"))
    monkeypatch.setenv("LORAPLACE_CACHE_DIR", str(CACHE_ROOT))
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)  # when this suite itself runs under xdist
    pytester.makeconftest(COUNTING_CONFTEST)
    return lambda *args, **kw: Run(pytester, published_dir, *args, **kw)


def test_report_written_with_one_verdict_per_test_and_scorer(run):
    r = run("--verdicts", "record")
    r.result.assert_outcomes(passed=sum(1 for v in r.report["verdicts"] if v["verdict"] not in SKIPPED),
                             skipped=sum(1 for v in r.report["verdicts"] if v["verdict"] in SKIPPED))
    assert r.json_path.is_file() and (r.report_dir / "claims.html").is_file()
    assert r.writers == ["controller"]
    data = r.report
    keys = Counter((v["part_id"], v["scorer"]) for v in data["verdicts"])
    assert len(keys) == n_parts() * len(SCORERS) and set(keys.values()) == {1}
    assert {v["claim_id"] for v in data["verdicts"]} == set(CLAIM_IDS)
    assert all(v["verdict_line"].startswith(f"{v['part_id']} [published/{v['scorer']}]") for v in data["verdicts"])
    prov = data["provenance"]
    assert prov["resamples"] == int(RESAMPLES) and prov["seed"] == 3407
    assert prov["git_sha"] and isinstance(prov["git_sha"], str)
    assert {"loraplace", "numpy", "pytest", "python"} <= set(prov["packages"])
    assert prov["inputs"] and all(len(i["sha256"]) == 64 and i["path"] for i in prov["inputs"])
    assert prov["scorers"] == list(SCORERS) and prov["evidence"] == ["published"]
    r.result.stdout.fnmatch_lines(["*loraplace claims*", f"report: {r.report_dir / 'claims.html'} (+ claims.json)"])
    html = (r.report_dir / "claims.html").read_text(encoding="utf-8")
    assert all(v["part_id"] in html for v in data["verdicts"])


def test_marker_selects_only_sequential_parts(run):
    r = run("--verdicts", "record", "-m", "sequential")
    outcomes = r.result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("skipped", 0) == n_parts("sequential") * len(SCORERS)
    assert outcomes["deselected"] == n_parts("parallel") * len(SCORERS)
    verdicts = r.report["verdicts"]
    assert len(verdicts) == n_parts("sequential") * len(SCORERS)
    assert {v["topology"] for v in verdicts} == {"sequential"}
    assert r.report["provenance"]["markexpr"] == "sequential"


def test_xdist_controller_writes_once_with_all_workers_verdicts(run):
    serial = run("--verdicts", "record").report
    r = run("--verdicts", "record", "-n", "2", "-v")
    assert r.result.ret == 0
    assert r.writers == ["controller"], "the report must be written once, by the controller"
    ran_on = {line.split("]")[0].lstrip("[") for line in r.result.outlines if line.startswith("[gw")}
    assert ran_on == {"gw0", "gw1"}
    assert len(r.report["verdicts"]) == len(serial["verdicts"]) == n_parts() * len(SCORERS)
    strip = lambda vs: sorted(json.dumps(v, sort_keys=True) for v in vs)  # noqa: E731
    assert strip(r.report["verdicts"]) == strip(serial["verdicts"]), "same seed → same verdicts"


def test_assert_mode_fails_unsupported_parts_with_the_verdict_line(run):
    r = run("--verdicts", "assert")
    verdicts = r.report["verdicts"]
    by_outcome = Counter(v["verdict"] for v in verdicts)
    failing = [v for v in verdicts if v["verdict"] in ("refuted", "inconclusive")]
    assert failing, "the chosen claims should include at least one part that is not supported"
    r.result.assert_outcomes(passed=by_outcome["supported"], failed=len(failing),
                             skipped=by_outcome["unavailable"] + by_outcome["untestable"])
    assert r.result.ret == pytest.ExitCode.TESTS_FAILED
    failures = r.failures()
    assert len(failures) == len(failing)
    for v in failing:
        [message] = [m for nodeid, m in failures.items() if nodeid.endswith(node_suffix(v))]
        assert message == v["verdict_line"]
        assert v["verdict_line"] in r.result.outlines  # the whole failure section is the line
    assert r.writers == ["controller"]  # the report is written whatever the outcomes


def test_record_mode_passes_every_judged_part(run):
    r = run("--verdicts", "record")
    assert r.result.ret == 0
    unavailable = sum(1 for v in r.report["verdicts"] if v["verdict"] in SKIPPED)
    r.result.assert_outcomes(passed=n_parts() * len(SCORERS) - unavailable, skipped=unavailable)
    assert not r.failures()


def test_record_mode_prints_one_line_per_judged_part(run):
    """The terminal shows each verdict (part, track, scorer, verdict, effect, Holm p), not only counts;
    a p below the bootstrap's resolution reads "< 1/B", never 0."""
    r = run("--verdicts", "record")
    lines = r.result.outlines
    for v in r.report["verdicts"]:
        cells = [v["part_id"], v["evidence"], v["scorer"], v["verdict"].upper()]
        assert any(line.split()[:4] == cells for line in lines), cells
        if v["p_holm"] is not None and v["p_holm"] < 1 / int(RESAMPLES):
            row = next(line for line in lines if line.split()[:4] == cells)
            assert f"< {1 / int(RESAMPLES):.0e}" in row


@pytest.mark.parametrize("args, message", [
    (("--evidence", "tiny", "--profile", "study"), "*--profile study does not apply to --evidence tiny*"),
    (("--evidence", "paper", "--paper-model=serial=/m"), "*unknown topology 'serial'*"),
    (("--evidence", "paper", "--paper-model=sequential"), "*expected TOPOLOGY=ID_OR_DIR*"),
])
def test_track_options_that_cannot_apply_are_usage_errors(run, args, message):
    r = run(*args, files=FILES[:1])
    assert r.result.ret == pytest.ExitCode.USAGE_ERROR
    r.result.stderr.fnmatch_lines([message])
    assert not r.json_path.exists() and r.writers == []


def test_scorer_option_runs_only_that_scorer(run):
    r = run("--verdicts", "record", "--scorer", "corrected", "-v")
    verdicts = r.report["verdicts"]
    assert {v["scorer"] for v in verdicts} == {"corrected"} and len(verdicts) == n_parts()
    assert r.report["provenance"]["scorers"] == ["corrected"]
    ran = [line for line in r.result.outlines if "::" in line and ("PASSED" in line or "SKIPPED" in line)]
    assert len(ran) == n_parts() and not any("as-published" in line for line in ran)


def test_no_verdict_no_report(run, pytester):
    pytester.makepyfile(test_plain="def test_nothing_judged():\n    assert True\n")
    r = run("--verdicts", "record", files=())
    r.result.assert_outcomes(passed=1)
    assert not r.report_dir.exists() and r.writers == []
    assert "loraplace claims" not in r.result.stdout.str()
