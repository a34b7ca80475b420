"""Fill the tiny track's cache with worker processes: one single-threaded torch per process.

    timings = fill(tiny.profile("smoke"), cache_root, workers=2)

On these organisms a second torch thread makes a step only 1.25-1.65x faster, while two
single-threaded processes get through 1.2-1.6x more fine-tuning and evaluation than one
two-threaded one (2 cores, `benchmarks/README.md`). So a cold build runs its missing entries in
`workers` spawned processes, each with torch on one thread -- the thread count every entry is
created with, in-process too, so the bytes do not depend on where an entry was made. Tasks:
one per organism (pretrain + base evaluation; the slowest, the Gated DeltaNet organisms, first),
and once an organism's base exists, one per fine-tuning run (adapter + evaluation). Every task goes
through the same `tiny.ensure_base` / `tiny.ensure_run` as the in-process build and the cache's
file locks, so concurrent builds (pytest-xdist workers, two shells) still create each entry once.
The first failing task cancels the rest and its exception is raised here.
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from loraplace.progress import events as _progress
from loraplace.tracks.tiny import track as tiny
from loraplace.train.cache import Cache

_BASES: dict = {}  # per worker process: (Profile, cache root, organism key) -> tiny.Base


def _init_worker() -> None:
    import torch

    torch.set_num_threads(tiny.THREADS)


def _base(p, root: str, organism: str, timer=None, progress: bool = False):
    key = (p, root, organism)
    if key not in _BASES:  # progress: the pretraining steps, reported to $LORAPLACE_PROGRESS_DIR if set
        _BASES[key] = tiny.ensure_base(Cache(root), p, organism, timer=timer, progress=progress)
    return _BASES[key]


def _base_task(p, root: str, organism: str, progress: bool = False) -> dict[str, float]:
    timer = tiny.Timer()
    _base(p, root, organism, timer, progress)
    return timer.spent


def _run_task(p, root: str, organism: str, condition: str, domain: str, seed: int) -> dict[str, float]:
    timer = tiny.Timer()
    tiny.ensure_run(Cache(root), p, _base(p, root, organism), condition, domain, seed, timer=timer)
    return timer.spent


def fill(p, cache_root: Path | str, workers: int, *, progress: bool = True,
         bases_only: bool = False) -> dict[str, float]:
    """Create every missing entry of profile `p`'s (a `tiny.Profile`) tiny track under
    `cache_root` with `workers` processes -> seconds per phase summed over the workers
    (`bases_only`: the pretrained bases and their evaluations, no fine-tuning run)."""
    root = str(cache_root)
    every = tiny.specs(p)
    organisms = sorted(every, key=lambda k: every[k].mixer != "gdn")  # Gated DeltaNet pretraining is the longest
    spent: dict[str, float] = {}
    bases_bar = _progress.phase(f"tiny[{p.name}] pretraining + base eval", len(organisms), unit="base", enabled=progress,
                                eta=False)  # side by side; each organism's steps carry their own ETA
    runs_bar = None  # started with the first base: one bar per phase
    ctx = multiprocessing.get_context("spawn")  # never fork a process that has started torch's thread pools
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker) as pool:
        pending = {pool.submit(_base_task, p, root, k, progress): ("base", k, "") for k in organisms}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    kind, organism, detail = pending.pop(fut)
                    for phase, seconds in fut.result().items():  # re-raises a worker's exception
                        spent[phase] = spent.get(phase, 0.0) + seconds
                    if kind == "base":
                        bases_bar.advance(current=organism)
                        if bases_bar.done == len(organisms):
                            bases_bar.close()
                        runs_bar = runs_bar or _progress.phase(
                            f"tiny[{p.name}] fine-tuning + eval", sum(len(tiny.runs_of(p, s)) for s in every.values()),
                            unit="run", enabled=progress)
                    else:
                        runs_bar.advance(current=f"{organism} {detail}")
                    if kind == "base" and not bases_only:
                        for cond, domain, seed in tiny.runs_of(p, every[organism]):
                            pending[pool.submit(_run_task, p, root, organism, cond, domain, seed)] = (
                                "run", organism, f"{cond}/{domain}/s{seed}")
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)  # running tasks finish; queued ones never start
            raise
        finally:
            bases_bar.close()
            if runs_bar is not None:
                runs_bar.close()
    return spent
