"""The paper track as tasks: one per planned run (`paper_plan.plan`, the `loraplace plan` rows):
a base evaluation (one `paper-records` entry) or a fine-tuning run (its `paper-adapter`, then
its `paper-records` from the in-memory model, in one task: adapters before their evaluation).

    session = prepare(PaperArgs("study", models, data_dir, published_dir, root, "cuda"))
    tasks = plan(args, session); present = probe(session)

Runs need no order between them; each asks for `gpus` GPUs (default 1) and runs in a worker
process of its own, so a GPU's memory is returned between runs. The worker rebuilds the same
`tracks.paper.track.prepare` session from plain arguments and calls its `build(run)`: the bytes are
those a pytest session would write. The device enters every adapter's key, so the driver
probes with the workers' device ("cuda" when tasks get GPUs), not its own.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from loraplace.scale.graph import Task

_SESSIONS: dict = {}  # per worker process: PaperArgs -> tracks.paper.track.PaperSession


@dataclass(frozen=True)
class PaperArgs:
    """Everything a worker needs to rebuild the driver's session (plain, picklable data)."""

    profile: str
    models: tuple[str, ...]  # TOPOLOGY=ID_OR_DIR (empty: the study's two models)
    data_dir: str | None
    published_dir: str | None
    cache_root: str
    device: str  # where runs are built: "cuda" or "cpu"
    protocol: str = "study"  # tracks.paper.protocol


def prepare(args: PaperArgs):
    """The `PaperSession` of `args` (memoized per process)."""
    from loraplace.tracks.paper import track as paper
    from loraplace.train.cache import Cache

    if args not in _SESSIONS:
        _SESSIONS[args] = paper.prepare(args.profile, models=args.models or None, data_dir=args.data_dir,
                                        cache=Cache(args.cache_root), published_dir=args.published_dir,
                                        progress=False, device=args.device, protocol=args.protocol)
    return _SESSIONS[args]


def _run_id(run) -> str:
    return f"{run.model}/{run.condition}/{run.domain}/{run.seed}"


def plan(args: PaperArgs, session, gpus: float = 1.0) -> list[Task]:
    """One task per planned run, each asking for `gpus` GPUs and a fresh worker process."""
    tasks = []
    for i, run in enumerate(session.runs):
        rid = _run_id(run)
        kinds = ("paper-records",) if run.is_base else ("paper-adapter", "paper-records")
        tasks.append(Task(f"{'base-eval' if run.is_base else 'run'}/{rid}", "loraplace.tracks.paper.tasks:build",
                          (args, i, rid), tuple(f"{k}/{rid}" for k in kinds), num_gpus=gpus, fresh_process=True))
    return tasks


def probe(session) -> dict[str, bool]:
    """Entry id -> whether a verified entry is in the cache."""
    return {f"{kind}/{_run_id(run)}": ok for run in session.runs for kind, ok in session.status(run).items()}


def build(args: PaperArgs, index: int, run_id: str) -> dict:
    """Train (if missing) and evaluate (if missing) planned run `index` of the session (in a worker)."""
    t0 = time.perf_counter()
    session = prepare(args)
    run = session.runs[index]
    if _run_id(run) != run_id:
        raise ValueError(f"the worker plans run {index} as {_run_id(run)}, the driver as {run_id}: the worker "
                         f"resolves different models or data (same loraplace version and inputs on every node?)")
    session.build(run, -1)
    return {"run": time.perf_counter() - t0}
