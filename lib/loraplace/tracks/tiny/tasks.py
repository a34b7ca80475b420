"""The tiny track as tasks: per organism pretrain -> base evaluation, and pretrain -> adapter ->
evaluation for each of its runs (condition x domain x seed, `tracks.tiny.design.runs_of`), one cache
entry each. Organisms are named by key, or by topology for the study's organism of it.

    tasks = plan(profile("smoke"), cache_root)          # every task (the engine skips present ones)
    present = probe(profile("smoke"), Cache(cache_root)) # entry id -> in the cache

Every task calls the track's own `cached_base` / `ensure_base` / `ensure_adapter` / `ensure_run`
(torch on one thread while an entry is created), so its bytes are those an in-process build or
`tiny_pool` writes. Entry ids: ``tiny-base/<organism>``, ``tiny-records/<organism>/base``,
``tiny-adapter/<organism>/<condition>/<domain>/<seed>``, ``tiny-records/<organism>/<condition>/…``.
"""
from __future__ import annotations

import time

from loraplace.evidence.records import BASE, sha256_file
from loraplace.scale.graph import Task
from loraplace.tracks.tiny import track as tiny
from loraplace.train.cache import Cache

_BASES: dict = {}  # per worker process: (profile, cache root, organism key) -> tiny.Base (checkpoint only)


def plan(p: tiny.Profile, cache_root: str, organisms: tuple[str, ...] | None = None) -> list[Task]:
    """Every task of profile `p` (optionally only some organisms), in dependency order."""
    root = str(cache_root)
    tasks = []
    for key, spec in tiny.specs(p, organisms).items():
        pre = f"pretrain/{key}"
        tasks.append(Task(pre, "loraplace.tracks.tiny.tasks:pretrain", (p, root, key), (f"tiny-base/{key}",)))
        tasks.append(Task(f"base-eval/{key}", "loraplace.tracks.tiny.tasks:base_eval", (p, root, key),
                          (f"tiny-records/{key}/base",), deps=(pre,)))
        for cond, domain, seed in tiny.runs_of(p, spec):
            run = f"{key}/{cond}/{domain}/{seed}"
            tasks.append(Task(f"adapter/{run}", "loraplace.tracks.tiny.tasks:adapter", (p, root, key, cond, domain, seed),
                              (f"tiny-adapter/{run}",), deps=(pre,)))
            tasks.append(Task(f"eval/{run}", "loraplace.tracks.tiny.tasks:evaluate", (p, root, key, cond, domain, seed),
                              (f"tiny-records/{run}",), deps=(f"adapter/{run}",)))
    return tasks


def probe(p: tiny.Profile, cache: Cache, organisms: tuple[str, ...] | None = None) -> dict[str, bool]:
    """Entry id -> whether a verified entry is in the cache. An entry whose key depends on a
    missing one (an adapter on its base checkpoint, records on their adapter) counts as missing."""
    from loraplace.evidence.records import Run

    out: dict[str, bool] = {}
    for key, spec in tiny.specs(p, organisms).items():
        topo = spec.topology
        base_spec = tiny.base_spec(spec, p)
        has_base = cache.has("tiny-base", base_spec)
        out[f"tiny-base/{key}"] = has_base
        sha = sha256_file(cache.path("tiny-base", base_spec) / "model.safetensors") if has_base else None
        out[f"tiny-records/{key}/base"] = bool(sha) and cache.has(
            "tiny-records", tiny.records_spec(p, Run(key, topo, BASE, BASE, 0), sha, None))
        for cond, domain, seed in tiny.runs_of(p, spec):
            run = f"{key}/{cond}/{domain}/{seed}"
            a_spec = tiny.adapter_spec(p, key, sha, cond, domain, seed) if sha else None
            has_adapter = bool(a_spec) and cache.has("tiny-adapter", a_spec)
            out[f"tiny-adapter/{run}"] = has_adapter
            a_sha = sha256_file(cache.path("tiny-adapter", a_spec) / "adapter.safetensors") if has_adapter else None
            out[f"tiny-records/{run}"] = bool(a_sha) and cache.has(
                "tiny-records", tiny.records_spec(p, Run(key, topo, cond, domain, seed), sha, a_sha))
    return out


# ---- the task functions (run in a worker) ------------------------------------------------------

def _spec(p: tiny.Profile, organism: str):
    (spec,) = tiny.specs(p, (organism,)).values()
    return spec


def _base(p: tiny.Profile, root: str, organism: str) -> tiny.Base:
    """The organism's pretrained checkpoint, loaded once per worker (its records are not needed)."""
    from loraplace.train import lora

    key = (p, root, organism)
    if key not in _BASES:
        spec = _spec(p, organism)
        path = tiny.cached_base(Cache(root), spec, p, allow_create=False)
        model, tok = lora.load_base(path)
        _BASES[key] = tiny.Base(spec.topology, spec, model, tok, sha256_file(path / "model.safetensors"), path, [],
                                None)
    return _BASES[key]


def pretrain(p: tiny.Profile, root: str, organism: str) -> dict:
    t0 = time.perf_counter()
    tiny.cached_base(Cache(root), _spec(p, organism), p)
    return {"pretrain": time.perf_counter() - t0}


def base_eval(p: tiny.Profile, root: str, organism: str) -> dict:
    timer = tiny.Timer()
    tiny.ensure_base(Cache(root), p, organism, timer=timer)
    return timer.spent


def adapter(p: tiny.Profile, root: str, organism: str, condition: str, domain: str, seed: int) -> dict:
    timer = tiny.Timer()
    tiny.ensure_adapter(Cache(root), p, _base(p, root, organism), condition, domain, seed, timer=timer)
    return timer.spent


def evaluate(p: tiny.Profile, root: str, organism: str, condition: str, domain: str, seed: int) -> dict:
    timer = tiny.Timer()
    tiny.ensure_run(Cache(root), p, _base(p, root, organism), condition, domain, seed, timer=timer)
    return timer.spent
