"""The Ray engine: every task a Ray task, on one machine or a cluster (`pip install 'loraplace[ray]'`).

    outcomes = run(tasks, address=None, retries=2, on_event=bar.event)

Ray does the scheduling: each task is submitted with its resources (`num_cpus`, `num_gpus`)
and the object references of the tasks it depends on, so Ray starts it only after they have
finished, and never starts it if one of them failed. `max_retries` + `retry_exceptions` retry a
task that raises or whose worker dies (killed, out of memory, a lost node); `max_calls=1` gives
a GPU task a worker process of its own. A small actor records each start, which gives the
progress bar its "running" count and the report each task's attempts.

Without `address` a local Ray instance is started (loraplace made importable by its workers,
as here) and shut down afterwards; with `address` ("auto", "ray://host:10001", "host:6379") the
cluster's nodes must have the same loraplace and libraries installed (their versions enter
every cache key) and the same cache directory mounted. An instance this process has already
started (`ray.init` before) is used as it is.
"""
from __future__ import annotations

import os
from pathlib import Path

from loraplace.scale.graph import Event, Outcome, Task, error_text, ordered


def _ray():
    try:
        import ray
    except ImportError:
        raise ValueError("the ray engine needs Ray: pip install 'loraplace[ray]' (or use --engine local)") from None
    return ray


def _runtime_env() -> dict:
    """Workers of a local instance import loraplace from where this process does (a source
    checkout on PYTHONPATH included)."""
    import loraplace

    here = str(Path(loraplace.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p)
    return {"env_vars": {"PYTHONPATH": path}}


def _execute(task: Task, board, *_dependencies) -> dict:
    """A Ray task: note the start, run the task (its dependencies' results are only an ordering)."""
    import ray

    from loraplace.scale.graph import call

    ray.get(board.start.remote(task.id))  # waited for: an attempt that dies at once still counts
    return call(task)


class _Board:
    """Counts each task's starts (an actor, so retries on other workers are counted too)."""

    def __init__(self) -> None:
        self.starts: dict[str, int] = {}

    def start(self, task_id: str) -> None:
        self.starts[task_id] = self.starts.get(task_id, 0) + 1

    def snapshot(self) -> dict[str, int]:
        return dict(self.starts)


def options(task: Task, retries: int) -> dict:
    """The Ray options a task is submitted with (`fresh_process` tasks also go to a remote
    function declared with max_calls=1, which `.options()` cannot set)."""
    return {"num_cpus": task.num_cpus, "num_gpus": task.num_gpus, "max_retries": retries,
            "retry_exceptions": True, "name": task.id[:200]}


def check_resources(tasks: list[Task], resources: dict) -> None:
    """Refuse a plan no node can run (Ray would wait forever for a GPU it does not have)."""
    gpus, cpus = max((t.num_gpus for t in tasks), default=0), max((t.num_cpus for t in tasks), default=0)
    if gpus > resources.get("GPU", 0):
        raise ValueError(f"the tasks ask for {gpus:g} GPU each but the Ray cluster has "
                         f"{resources.get('GPU', 0):g}: add GPU nodes, or --gpus-per-task 0 to build on CPUs")
    if cpus > resources.get("CPU", 0):
        raise ValueError(f"the tasks ask for {cpus:g} CPU each but the Ray cluster has {resources.get('CPU', 0):g}")


def run(tasks: list[Task], *, address: str | None = None, retries: int = 2, on_event: Event | None = None,
        num_cpus: int | None = None, poll_s: float = 1.0) -> dict[str, Outcome]:
    """Run `tasks` on Ray -> task id -> Outcome. `num_cpus`: of a local instance (default: all)."""
    ray = _ray()
    emit = on_event or (lambda kind, task_id: None)
    tasks = ordered(tasks)
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, logging_level="WARNING")
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False, runtime_env=_runtime_env(),
                     logging_level="WARNING")
    try:
        check_resources(tasks, ray.cluster_resources())
        board = ray.remote(num_cpus=0)(_Board).remote()
        remote = {False: ray.remote(_execute), True: ray.remote(max_calls=1)(_execute)}
        refs: dict[str, object] = {}
        for t in tasks:
            deps = [refs[d] for d in t.deps if d in refs]
            refs[t.id] = remote[t.fresh_process].options(**options(t, retries)).remote(t, board, *deps)
        return _collect(ray, tasks, refs, board, emit, poll_s)
    finally:
        if started_here:
            ray.shutdown()


def _collect(ray, tasks, refs, board, emit, poll_s) -> dict[str, Outcome]:
    by_ref = {refs[t.id]: t for t in tasks}
    errors: dict[str, str] = {}
    finished: set[str] = set()
    seen: dict[str, int] = {}
    waiting = list(by_ref)
    while waiting:
        ready, waiting = ray.wait(waiting, num_returns=len(waiting), timeout=poll_s)
        for task_id, n in ray.get(board.snapshot.remote()).items():
            while seen.get(task_id, 0) < n:
                seen[task_id] = seen.get(task_id, 0) + 1
                if task_id not in finished:
                    if seen[task_id] > 1:
                        emit("retry", task_id)  # an attempt failed; this is the next one
                    emit("start", task_id)
        for ref in ready:
            t = by_ref[ref]
            finished.add(t.id)
            try:
                ray.get(ref)
            except Exception as exc:  # noqa: BLE001 -- RayTaskError, WorkerCrashedError, …
                errors[t.id] = error_text(getattr(exc, "cause", None) or exc)
                emit("fail", t.id)
            else:
                emit("done", t.id)
    starts = ray.get(board.snapshot.remote())
    outcomes = {}
    for t in tasks:
        n = starts.get(t.id, 0)
        if t.id not in errors:
            outcomes[t.id] = Outcome(t.id, True, max(1, n))
            continue
        failed_dep = next((d for d in t.deps if d in errors), None)
        outcomes[t.id] = Outcome(t.id, False, n, errors[t.id] if n or failed_dep is None
                                 else f"dependency {failed_dep} failed")
    return outcomes
