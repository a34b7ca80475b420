"""Build the tiny track: load it from the cache, or fill the cache first (in parallel) and load.

    evidence = build_tiny("smoke", cache=Cache(root))

Above both `tiny` (how each cache entry is made and the evidence assembled) and `tiny_pool`
(worker processes that make entries), which therefore never import each other.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from loraplace.cpus import usable as cpus_usable
from loraplace.evidence.records import Evidence
from loraplace.progress import events as _progress
from loraplace.tracks.tiny import pool as tiny_pool
from loraplace.tracks.tiny import shipped
from loraplace.tracks.tiny.track import Missing, Profile, assemble, base_spec, profile, runs_of, specs

MAX_DEFAULT_WORKERS = 8  # each worker holds ~0.4 GB (torch + an organism); beyond 8 pretraining bounds the wall time


def default_workers() -> int:
    """Worker processes for a cold build: the CPUs this process may use, at most
    `MAX_DEFAULT_WORKERS`; `LORAPLACE_WORKERS=N` overrides (1: build in-process)."""
    env = os.environ.get("LORAPLACE_WORKERS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise ValueError(f"LORAPLACE_WORKERS must be a whole number, got {env!r}") from None
    cpus = cpus_usable()
    return max(1, min(cpus, MAX_DEFAULT_WORKERS))


# Cold-build wall minutes on 2 cores with 2 workers at the reference machine speed, and how much
# slower this machine has run on a slow day; other machines scale by workers. Where each number
# comes from (measured builds, and since tiny-eval-3 the measured phase ratios of
# `bench_tiny.py --against`): benchmarks/RESULTS.md, the only place for dated timings.
REFERENCE_MINUTES = {"smoke": 2, "default": 10, "full": 210}  # the bases installed (shipped) or cached
PRETRAIN_MINUTES = {"smoke": 6, "default": 6, "full": 30}  # the four bases pretrained here instead
SLOW_DAY = 2.26


def plan_line(p: Profile, cache, workers: int) -> str:
    """What a cold build is about to create and roughly how long it takes here (one line)."""
    every = specs(p)
    missing = [s for s in every.values() if not cache.has("tiny-base", base_spec(s, p))]
    bases = sum(shipped.lookup(cache.key("tiny-base", base_spec(s, p))) is None for s in missing)
    installed = len(missing) - bases
    runs = sum(len(runs_of(p, s)) for s in every.values())
    ref = REFERENCE_MINUTES.get(p.name)
    cpus = cpus_usable()
    if ref is None:
        rough = "time unknown (a custom profile)"
    else:
        minutes = ref + PRETRAIN_MINUTES[p.name] * bases / len(every)
        fast = max(1, round(minutes * 2 / max(2, min(workers, cpus, 8))))
        rough = f"roughly {fast}-{round(fast * SLOW_DAY)} min on idle CPUs"
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        if load > cpus:  # other work holds the CPUs: the workers get a share of them
            rough += f", longer now (load {load:.1f} on {cpus} CPUs)"
    hint = "" if p.name == "smoke" else "; `--profile smoke` takes a few minutes"
    shipped_note = f" ({installed} installed from the shipped pretrained files)" if installed else ""
    return (f"loraplace tiny[{p.name}]: building into {cache.root}: {bases} of {len(every)} bases to pretrain "
            f"({p.pretrain_steps} steps each){shipped_note}, up to {runs} fine-tuning runs + evaluations, with {workers} "
            f"worker processes; {rough}{hint}")


def build_tiny(profile_name: str | Profile, *, cache=None, progress: bool = True,
               workers: int | None = None) -> Evidence:
    """Run (or load from `cache`) the whole tiny track of a profile -> Evidence("tiny", …).

    When anything is missing from the cache and `workers` > 1 (default: `default_workers()`), the
    missing entries are first created by that many single-threaded worker processes
    (`tiny_pool.fill`); the evidence is then assembled from the cache. The workers are spawned, so
    a script that calls this must keep its top level under `if __name__ == "__main__":` (or pass
    workers=1). With cache=None everything runs in a temporary cache that is deleted afterwards."""
    if cache is None:
        from loraplace.train.cache import Cache

        with tempfile.TemporaryDirectory(prefix="loraplace-tiny-") as tmp:
            return build_tiny(profile_name, cache=Cache(Path(tmp)), progress=progress, workers=workers)
    p = profile_name if isinstance(profile_name, Profile) else profile(profile_name)
    workers = default_workers() if workers is None else max(1, workers)
    t_start = time.perf_counter()
    filled = None
    if workers > 1:
        try:
            return assemble(p, cache, progress=False, allow_create=False, t_start=t_start, workers=workers)
        except Missing:
            if progress:
                _progress.note(plan_line(p, cache, workers))
            filled = tiny_pool.fill(p, cache.root, workers, progress=progress)
    return assemble(p, cache, progress=progress and filled is None, allow_create=True, t_start=t_start,
                     workers=workers, filled=filled)


def load(profile: str, cache_dir: str | None = None) -> Evidence:
    """The track's loader (`loraplace.evidence.registry`): the profile built into (or read from) the cache."""
    from loraplace.train.cache import Cache

    return build_tiny(profile, cache=Cache(cache_dir))
