"""The local engine: one machine, a pool of spawned worker processes (or this process).

    outcomes = run(tasks, workers=2, retries=2, on_event=bar.event)

The tiny track's `tiny_pool` pattern made generic: at most `workers` tasks in flight, a task
submitted once its dependencies have finished, each in a spawned process (never a fork of a
process that has started torch's thread pools). A task that raises, or whose process dies, is
retried up to `retries` more times (a dead process breaks the pool: a new one is started and
the tasks that were in flight count an attempt); the tasks that depend on one that still fails
never start. `workers` = 1 runs everything in this process, in order (a GPU machine's default
for the paper track: one GPU, one run at a time).
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from loraplace.scale.graph import Event, Outcome, Task, call, error_text, ordered


def run(tasks: list[Task], *, workers: int = 1, retries: int = 2, on_event: Event | None = None) -> dict[str, Outcome]:
    """Run `tasks` (dependencies first) -> task id -> Outcome."""
    emit = on_event or (lambda kind, task_id: None)
    tasks = ordered(tasks)
    if workers <= 1:
        return _in_process(tasks, retries, emit)
    return _pool(tasks, workers, retries, emit)


def _failed_dep(t: Task, outcomes: dict[str, Outcome]) -> str | None:
    return next((d for d in t.deps if d in outcomes and not outcomes[d].ok), None)


def _in_process(tasks: list[Task], retries: int, emit: Event) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}
    for t in tasks:
        dep = _failed_dep(t, outcomes)
        if dep is not None:
            outcomes[t.id] = Outcome(t.id, False, 0, f"dependency {dep} failed")
            emit("fail", t.id)
            continue
        for attempt in range(1, retries + 2):
            emit("start", t.id)
            try:
                call(t)
            except Exception as exc:  # noqa: BLE001 -- a task's failure is reported, not fatal
                outcomes[t.id] = Outcome(t.id, False, attempt, error_text(exc))
                emit("retry" if attempt <= retries else "fail", t.id)
                continue
            outcomes[t.id] = Outcome(t.id, True, attempt)
            emit("done", t.id)
            break
    return outcomes


def _pool(tasks: list[Task], workers: int, retries: int, emit: Event) -> dict[str, Outcome]:
    ids = {t.id for t in tasks}
    outcomes: dict[str, Outcome] = {}
    attempts: dict[str, int] = {}
    pending = list(tasks)
    inflight: dict = {}
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)

    def failed(t: Task, error: str) -> None:
        if attempts[t.id] <= retries:
            emit("retry", t.id)
            pending.insert(0, t)
        else:
            outcomes[t.id] = Outcome(t.id, False, attempts[t.id], error)
            emit("fail", t.id)

    try:
        while pending or inflight:
            for t in list(pending):
                if len(inflight) >= workers:
                    break
                dep = _failed_dep(t, outcomes)
                if dep is not None:
                    pending.remove(t)
                    outcomes[t.id] = Outcome(t.id, False, 0, f"dependency {dep} failed")
                    emit("fail", t.id)
                elif all(d not in ids or (d in outcomes and outcomes[d].ok) for d in t.deps):
                    pending.remove(t)
                    attempts[t.id] = attempts.get(t.id, 0) + 1
                    emit("start", t.id)
                    inflight[pool.submit(call, t)] = t
            if not inflight:
                continue  # everything left waits on tasks just marked failed; the next pass settles them
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            broken = False
            for fut in done:
                t = inflight.pop(fut)
                try:
                    fut.result()
                except BrokenProcessPool as exc:
                    broken = True
                    failed(t, f"worker process died ({exc})")
                except Exception as exc:  # noqa: BLE001
                    failed(t, error_text(exc))
                else:
                    outcomes[t.id] = Outcome(t.id, True, attempts[t.id])
                    emit("done", t.id)
            if broken:  # every task still in flight died with the pool: each counts an attempt
                for fut, t in list(inflight.items()):
                    inflight.pop(fut)
                    failed(t, "worker process died (the pool broke)")
                pool.shutdown(wait=False, cancel_futures=True)
                pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    finally:
        pool.shutdown(wait=not inflight, cancel_futures=True)
    return outcomes
