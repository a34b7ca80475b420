"""Evidence track `published`: the study's released per-item outputs, re-scored.

Every file of ``results/eval_details/`` becomes records. ``example_id`` is a position in that
run's evaluation subset and the subsets differ between runs (Qwen GSM8K: 128 vs 256 items),
so positions are mapped through ``results/eval_indices/`` to the benchmark's own index; the
gold answer of every question is checked to agree across all files that contain it.
"""
from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from loraplace import jsonl
from loraplace.evidence.records import BASE, Evidence, Record, sha256_file, sha256_text
from loraplace.scoring.gsm8k import SCORERS, check_scorer, score_gsm8k
from loraplace.study import BENCHMARKS, MODELS, MULTIPLE_CHOICE, study_model
from loraplace.tracks.published.fetch import ENV_DIR as ENV
from loraplace.tracks.published.fetch import resolve_published_dir as default_dir

DATA_SOURCE = "github.com/hecboar/lora-placement-hybrid"
DATA_COMMIT = "4972e7b"
INDICES_COMMIT = "3d98377d2567bbd7e35c7d77890199cca00f0e75"

_TRAIN = re.compile(
    r"^train__(?P<model>\w+?)__(?P<condition>\w+?)__(?P<domain>\w+?)__seed(?P<seed>\d+)"
    r"__inline_eval__(?P<benchmark>\w+)\.jsonl$"
)
_BASE = re.compile(r"^(?P<model>\w+?)__base__(?P<benchmark>\w+)\.jsonl$")
_INDICES = re.compile(r"^indices__(?P<benchmark>\w+?)__(?P<split>\w+?)__(?P<n>\d+)\.json$")
_REQUIRED = {"gsm8k": ("raw_completion", "gold_answer"), "humaneval": ("task_id", "completion")}
for _b in MULTIPLE_CHOICE:
    _REQUIRED[_b] = ("correct", "gold_index")


class PublishedDataError(ValueError):
    """The released data is missing, malformed or inconsistent (the message names file and line)."""


class _MalformedLine(PublishedDataError, jsonl.JsonlError):
    """A released file's line that is not JSON."""

    def __init__(self, path, line, problem):
        jsonl.JsonlError.__init__(self, path, line, problem)


@dataclass(frozen=True)
class RunFile:
    path: Path
    model: str
    condition: str
    domain: str
    seed: int
    benchmark: str


def parse_name(path: Path) -> RunFile:
    """Model, condition, domain, seed and benchmark from an eval_details file name."""
    name = Path(path).name
    m = _TRAIN.match(name)
    if m:
        fields = m.groupdict()
        seed = int(fields.pop("seed"))
    else:
        m = _BASE.match(name)
        if not m:
            raise PublishedDataError(
                f"{path}: unknown file name scheme; expected '<model>__base__<benchmark>.jsonl' or "
                "'train__<model>__<condition>__<domain>__seed<N>__inline_eval__<benchmark>.jsonl'"
            )
        fields = dict(m.groupdict(), condition=BASE, domain=BASE)
        seed = 3407  # the study's single seed; the base model is not trained
    try:
        model = study_model(fields["model"])
        if fields["condition"] != BASE:
            model.role(fields["condition"])
    except ValueError as exc:
        raise PublishedDataError(f"{path}: {exc}") from None
    if fields["benchmark"] not in BENCHMARKS:
        raise PublishedDataError(f"{path}: unknown benchmark {fields['benchmark']!r}. Available: {', '.join(BENCHMARKS)}")
    return RunFile(Path(path), fields["model"], fields["condition"], fields["domain"], seed, fields["benchmark"])


def load_indices(root: Path) -> dict[tuple[str, int], list[int]]:
    """(benchmark, subset size) -> benchmark index of each position."""
    folder = Path(root) / "results" / "eval_indices"
    if not folder.is_dir():
        raise PublishedDataError(f"{folder}: missing (maps example_id positions to benchmark questions)")
    out, owner = {}, {}
    for path in sorted(folder.glob("*.json")):
        m = _INDICES.match(path.name)
        if not m:
            raise PublishedDataError(f"{path}: unknown file name scheme; expected 'indices__<benchmark>__<split>__<n>.json'")
        try:
            values = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise PublishedDataError(f"{path}:{exc.lineno}: malformed JSON: {exc.msg}") from None
        if len(values) != int(m["n"]) or len(set(values)) != len(values):
            raise PublishedDataError(f"{path}: expected {m['n']} distinct indices, got {len(values)}")
        key = (m["benchmark"], int(m["n"]))
        if key in out and out[key] != values:  # runs are matched to index files by (benchmark, size) alone
            raise PublishedDataError(f"{path}: a second {key[0]} index of {key[1]} items (another split?) "
                                     f"differs from {owner[key].name}; which one a run used is ambiguous")
        out[key], owner[key] = values, path
    return out


def _read_lines(path: Path, benchmark: str) -> tuple[list[dict], str]:
    """The file's rows (each checked for the benchmark's fields) and the file's sha256."""
    raw = path.read_bytes()
    rows = []
    for lineno, row in jsonl.rows_of_lines(path, raw.decode("utf-8").splitlines(), error=_MalformedLine):
        if not isinstance(row, dict) or "example_id" not in row:
            raise PublishedDataError(f"{path}:{lineno}: missing field 'example_id'")
        for name in _REQUIRED[benchmark]:
            if name not in row:
                raise PublishedDataError(f"{path}:{lineno}: missing field {name!r}")
        if benchmark == "humaneval" and not re.fullmatch(r"HumanEval/\d+", str(row["task_id"])):
            raise PublishedDataError(f"{path}:{lineno}: malformed task_id {row['task_id']!r}")
        row["_line"] = lineno
        rows.append(row)
    if not rows:
        raise PublishedDataError(f"{path}: empty file")
    return rows, hashlib.sha256(raw).hexdigest()


def _item_index(run: RunFile, row: dict, positions: list[int] | None) -> int:
    where = f"{run.path}:{row['_line']}"
    if run.benchmark == "humaneval":  # the task id names the question itself
        task = str(row["task_id"])
        index = int(task.split("/")[1])
        position = row["example_id"]
        if not isinstance(position, int) or not 0 <= position < len(positions) or positions[position] != index:
            raise PublishedDataError(f"{where}: task_id {task} disagrees with eval_indices position {row['example_id']}")
        return index
    position = row["example_id"]
    if not isinstance(position, int) or not 0 <= position < len(positions):
        raise PublishedDataError(f"{where}: example_id {position!r} outside the subset of {len(positions)} items")
    return positions[position]


def _records_of_row(run: RunFile, row: dict, key: str, topology: str, scorers: tuple[str, ...]) -> list[Record]:
    common = dict(model=run.model, topology=topology, condition=run.condition, domain=run.domain,
                  seed=run.seed, benchmark=run.benchmark, item_key=key)
    source = f"{run.path.name}:{row['_line']}"
    out = []
    for scorer in scorers:
        if run.benchmark == "gsm8k":
            score, pred = score_gsm8k(row["raw_completion"], str(row["gold_answer"]), scorer)
            extra = {"example_id": row["example_id"], "pred": pred, "source": source,
                     "raw_sha256": sha256_text(row["raw_completion"])}
        elif run.benchmark == "humaneval":
            extra = {"example_id": row["example_id"], "source": source, "raw_sha256": sha256_text(row["completion"])}
            result = row.get("_executed", {}).get(scorer)
            if result is None:
                continue  # not executed (load_published(execute_humaneval=False))
            score = result["score"]
            extra.update(status=result["status"], reason=result["reason"], stderr_tail=result["stderr_tail"][-500:],
                         network_isolated=result["network_isolated"], isolation=result.get("isolation", "full"))
        else:  # multiple choice: the study's stored log-likelihood label under every scorer
            score = int(row["correct"])
            extra = {"example_id": row["example_id"], "pred": row.get("pred_index"), "source": source}
        out.append(Record(score=float(score), scorer=scorer, extra=extra, **common))
    return out


def _gold(run: RunFile, row: dict):
    if run.benchmark == "gsm8k":
        return str(row["gold_answer"])
    if run.benchmark == "humaneval":
        return None
    return row["gold_index"]


def load_published(root: Path | str | None = None, scorers: tuple[str, ...] = SCORERS, *,
                   execute_humaneval: bool = True, allow_unsandboxed: bool = False) -> Evidence:
    """Every released per-item output as records, under each named scorer.

    HumanEval completions are executed in the sandbox under each scorer (as-published: the raw
    completion; corrected: cut at the stop sequences; results cached by content, so only the
    first load pays); with ``execute_humaneval=False`` HumanEval has no records. Without full
    sandbox isolation execution is refused unless ``allow_unsandboxed`` (`--allow-unsandboxed`).
    """
    root = Path(root) if root is not None else default_dir()
    return _load(str(root.resolve()), tuple(check_scorer(s) for s in scorers), execute_humaneval,
                 bool(allow_unsandboxed))


def _execute_humaneval(runs: list[tuple[RunFile, list[dict]]], scorers: tuple[str, ...],
                       allow_unsandboxed: bool) -> None:
    """Attach each completion's sandboxed result per scorer to its row (as `_executed[scorer]`)."""
    from loraplace.scoring.execution import execute_cached

    rows = [row for run, rs in runs if run.benchmark == "humaneval" for row in rs]
    for scorer in scorers if rows else ():
        results = execute_cached([(str(r["task_id"]), r["completion"]) for r in rows], scorer,
                                 allow_unsandboxed=allow_unsandboxed)
        for row, result in zip(rows, results):
            row.setdefault("_executed", {})[scorer] = result


@functools.lru_cache(maxsize=4)
def _load(root_str: str, scorers: tuple[str, ...], execute_humaneval: bool, allow_unsandboxed: bool) -> Evidence:
    root = Path(root_str)
    details = root / "results" / "eval_details"
    if not details.is_dir():
        raise PublishedDataError(
            f"{details}: missing. Point --published-dir / ${ENV} at the study's data, "
            "or run `loraplace fetch published`."
        )
    indices = load_indices(root)
    records: list[Record] = []
    inputs = []
    gold_seen: dict[str, tuple] = {}
    runs = []
    for path in sorted(details.glob("*.jsonl")):
        run = parse_name(path)
        rows, digest = _read_lines(path, run.benchmark)
        inputs.append({"path": str(path.relative_to(root)), "sha256": digest})
        runs.append((run, rows))
    if execute_humaneval:
        _execute_humaneval(runs, scorers, allow_unsandboxed)
    for run, rows in runs:
        path = run.path
        positions = indices.get((run.benchmark, len(rows)))
        if positions is None and run.benchmark == "humaneval":
            # a shorter HumanEval run (157 of 164: tasks 86-92 missing) keeps the full set's positions
            positions = max((v for (b, _), v in indices.items() if b == "humaneval"), key=len, default=None)
        if positions is None:
            raise PublishedDataError(
                f"{path}: no eval_indices for a {run.benchmark} subset of {len(rows)} items "
                f"(have: {sorted(n for b, n in indices if b == run.benchmark)})"
            )
        seen_keys = set()
        topology = study_model(run.model).topology
        for row in rows:
            key = f"{run.benchmark}:{_item_index(run, row, positions)}"
            if key in seen_keys:
                raise PublishedDataError(f"{path}:{row['_line']}: duplicate question {key}")
            seen_keys.add(key)
            gold = _gold(run, row)
            first = gold_seen.setdefault(key, (gold, f"{path.name}:{row['_line']}"))
            if first[0] != gold:
                raise PublishedDataError(
                    f"{path}:{row['_line']}: gold answer {gold!r} for {key} disagrees with {first[1]} ({first[0]!r}); "
                    "positions are mapped to different questions"
                )
            records.extend(_records_of_row(run, row, key, topology, scorers))
    for path in sorted((root / "results" / "eval_indices").glob("*.json")):
        inputs.append({"path": str(path.relative_to(root)), "sha256": sha256_file(path)})
    source = {"data_source": DATA_SOURCE, "data_commit": DATA_COMMIT, "indices_commit": INDICES_COMMIT, "path": root_str}
    return Evidence(
        "published", records, inputs=inputs, source=source,
        models={m.topology: m.key for m in MODELS.values()},
        roles={m.key: dict(m.conditions) for m in MODELS.values()},
        cells={m.key: {"topology": m.topology, "mixer": m.recurrent_mixer} for m in MODELS.values()},
        condition_sets={m.key: "study" for m in MODELS.values()},
    )


def load(published_dir: str | None = None, allow_unsandboxed: bool = False) -> Evidence:
    """The track's loader (`loraplace.evidence.registry`): every released output, re-scored."""
    return load_published(published_dir, allow_unsandboxed=allow_unsandboxed)
