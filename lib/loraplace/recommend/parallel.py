"""A round's runs side by side for the backends that train in-process (your data, the paper track).

    prefetch("loraplace.recommend.data_backend:DataBackend", options, [(name, seed), ...],
             engine="local" | "ray", workers=2, address=None)

Each (placement, seed) is one task of `loraplace.scale` (the local process pool, or Ray): the
task builds the backend from its plain-data `options` in the worker (loading the model and data
there) and trains and scores that run into the shared cache; the driver's `backend.run` then only
reads the entries. The tiny backend has its own tasks (`tracks.tiny.tasks`).
"""
from __future__ import annotations

import importlib
import time


def task(backend: str, options: dict, name: str, seed: int, threads: int) -> dict:
    """Worker side: the backend `module:Class` built from `options`, one run trained and scored."""
    import torch

    if threads:
        torch.set_num_threads(threads)  # side by side on one machine: a share of its cores each
    module, _, cls = backend.partition(":")
    t0 = time.perf_counter()
    getattr(importlib.import_module(module), cls)(**options).run(name, seed)
    return {"run": time.perf_counter() - t0}


def prefetch(backend: str, options: dict, pairs: list[tuple[str, int]], *, engine: str = "local",
             workers: int | None = None, address: str | None = None, gpus: float = 0.0) -> None:
    """Run the round's `pairs` as tasks; a failed run is one RuntimeError naming it."""
    import os

    from loraplace.scale import local, ray_engine
    from loraplace.scale.graph import Task

    n = min(len(pairs), workers or 1)  # default: in this process, the model loaded once
    threads = 0 if engine == "ray" or gpus else max(1, (os.cpu_count() or 1) // n)
    tasks = [Task(f"recommend/{name}/{seed}", "loraplace.recommend.parallel:task",
                  (backend, options, name, seed, threads), (f"recommend/{name}/{seed}",),
                  num_gpus=gpus, fresh_process=bool(gpus)) for name, seed in pairs]
    if engine == "ray":
        outcomes = ray_engine.run(tasks, address=address)
    elif n <= 1:
        return  # one worker: `run` trains them in this process, the model loaded once
    else:
        outcomes = local.run(tasks, workers=n)
    failed = [f"{o.id}: {o.error}" for o in outcomes.values() if not o.ok]
    if failed:
        raise RuntimeError("training runs failed: " + "; ".join(failed[:3]))
