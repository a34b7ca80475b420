"""`fill`: plan a track's cache entries, run the missing ones on an engine, report what changed.

    work = plan_tiny(tiny.profile("smoke"), cache_root)
    result = fill(work, engine="ray")          # FillResult(entries=146, created=146, reused=0, failed=0, …)

The plan is the one `loraplace plan` lists and a pytest session assembles its evidence from;
`fill` probes the cache before and after, so `created` / `reused` / `failed` count cache
entries on disk (not tasks), and an entry a worker made but the driver cannot see (another
cache directory, other library versions on the workers) counts as failed and is named.
Engines: `local` (`scale/local.py`) and `ray` (`scale/ray_engine.py`).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from loraplace.scale.graph import Task

ENGINES = ("local", "ray")


def check_engine(name: str) -> str:
    if name not in ENGINES:
        raise ValueError(f"Unknown engine {name!r}. Available: {', '.join(ENGINES)}")
    return name


@dataclass(frozen=True)
class Work:
    """A planned track: every task and the probe of every entry they create."""

    evidence: str
    profile: str
    cache_root: str
    tasks: tuple[Task, ...]
    probe: Callable[[], dict[str, bool]]  # entry id -> a verified entry is in the cache
    default_workers: int  # the local engine's worker processes


@dataclass(frozen=True)
class FillResult:
    engine: str
    evidence: str
    profile: str
    cache_dir: str
    entries: int  # planned cache entries
    created: int  # absent before, present after
    reused: int  # present before
    failed: int  # absent after
    tasks_run: int
    wall_s: float
    errors: tuple[dict, ...]  # {task, attempts, error} of every task that failed or left no entry

    def to_json(self) -> dict:
        return asdict(self) | {"errors": list(self.errors)}


def plan_tiny(p, cache_root, organisms: tuple[str, ...] | None = None) -> Work:
    """The tiny track's work under profile `p` (a `tiny.Profile`), optionally some organisms only."""
    from loraplace.tracks.tiny import build as tiny_build
    from loraplace.tracks.tiny import tasks as tiny
    from loraplace.train.cache import Cache

    root = str(Path(cache_root).resolve())
    return Work("tiny", p.name, root, tuple(tiny.plan(p, root, organisms)),
                lambda: tiny.probe(p, Cache(root), organisms), tiny_build.default_workers())


def plan_paper(profile: str, cache_root, *, models=(), data_dir=None, published_dir=None,
               device: str = "cuda", gpus: float = 1.0) -> Work:
    """The paper track's work: one task per planned run asking for `gpus` GPUs, built on `device`."""
    from loraplace.tracks.paper import tasks as paper
    args = paper.PaperArgs(profile, tuple(models or ()), str(Path(data_dir).resolve()) if data_dir else None,
                           str(Path(published_dir).resolve()) if published_dir else None,
                           str(Path(cache_root).resolve()), device)
    session = paper.prepare(args)
    return Work("paper", session.p.name, args.cache_root, tuple(paper.plan(args, session, gpus)),
                lambda: paper.probe(session), 1)


def fill(work: Work, *, engine: str = "local", address: str | None = None, workers: int | None = None,
         retries: int = 2, progress: bool = True) -> FillResult:
    """Run every task of `work` whose entries are not all in the cache on `engine` -> FillResult.

    `workers`: local engine processes (default `work.default_workers`), or the CPUs of a local
    Ray instance (default: all). `address`: an existing Ray cluster (ray engine only)."""
    from loraplace.scale.bar import Bar

    check_engine(engine)
    if address and engine != "ray":
        raise ValueError("--address names a Ray cluster: use it with --engine ray")
    t0 = time.perf_counter()
    planned = {e for t in work.tasks for e in t.entries}
    before = {e: ok for e, ok in work.probe().items() if e in planned}
    todo = [t for t in work.tasks if not all(before.get(e, False) for e in t.entries)]
    bar = Bar(len(todo), f"fill {work.evidence}[{work.profile}] {engine}", enabled=progress and bool(todo))
    try:
        if not todo:
            outcomes = {}
        elif engine == "local":
            from loraplace.scale import local

            outcomes = local.run(todo, workers=workers or work.default_workers, retries=retries, on_event=bar.event)
        else:
            from loraplace.scale import ray_engine

            outcomes = ray_engine.run(todo, address=address, retries=retries, on_event=bar.event, num_cpus=workers)
    finally:
        bar.close()
    after = {e: ok for e, ok in work.probe().items() if e in planned}
    errors = [{"task": o.id, "attempts": o.attempts, "error": o.error} for o in outcomes.values() if not o.ok]
    for t in todo:
        unseen = [e for e in t.entries if not after.get(e, False)]
        if outcomes.get(t.id) and outcomes[t.id].ok and unseen:
            errors.append({"task": t.id, "attempts": outcomes[t.id].attempts,
                           "error": f"finished, but {', '.join(unseen)} is not in {work.cache_root} as seen here "
                                    "(is the cache directory shared, and are the library versions the same?)"})
    created = sum(1 for e, ok in after.items() if ok and not before.get(e, False))
    reused = sum(1 for e, ok in before.items() if ok)
    return FillResult(engine, work.evidence, work.profile, work.cache_root, len(after), created, reused,
                      len(after) - created - reused, len(todo), round(time.perf_counter() - t0, 2), tuple(errors))
