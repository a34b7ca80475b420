"""Paired comparisons of two runs on the same questions — the only way scores meet.

Items are paired by `item_key` (the benchmark question), never by position, and only items
both runs answered take part. Several seeds are paired seed by seed (a base model, which is
not trained, pairs with every seed). Several benchmarks are strata: the effect is the mean
over benchmarks of the per-benchmark mean difference, each resampled within itself.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loraplace import stats
from loraplace.evidence.records import BASE, Evidence

ZERO = "zero"  # compare a run against the constant 0 (e.g. "pass@1 is at the floor")


@dataclass(frozen=True)
class Paired:
    benchmark: str
    a: list[np.ndarray]  # one array per seed, items in the same order as b
    b: list[np.ndarray]
    seeds: tuple[int, ...]
    item_keys: tuple[str, ...]  # the shared questions (of the first seed)


def pair(evidence: Evidence, model: str, scorer: str, a: str, b: str, domain: str, benchmark: str) -> Paired:
    """Scores of condition `a` and `b` (either may be "base"; `b` may be "zero") on shared questions."""
    def runs(condition: str) -> dict[int, dict[str, float]]:
        return evidence.scores(model, scorer, condition, BASE if condition == BASE else domain, benchmark)

    runs_a = runs(a)
    runs_b = None if b == ZERO else runs(b)
    if runs_b is None:
        seeds = sorted(runs_a)
    elif a == BASE or b == BASE:
        seeds = sorted(runs_a if b == BASE else runs_b)
    else:
        seeds = sorted(set(runs_a) & set(runs_b))
        if not seeds:
            raise ValueError(f"{model}: {a} and {b} after {domain} share no seed")
    xs, ys, first_keys = [], [], None
    for seed in seeds:
        sa = runs_a[seed] if a != BASE else next(iter(runs_a.values()))
        if runs_b is None:
            keys = list(sa)
            sb = dict.fromkeys(keys, 0.0)
        else:
            sb = runs_b[seed] if b != BASE else next(iter(runs_b.values()))
            keys = [k for k in sa if k in sb]  # a's order: the run's own item order
        if not keys:
            raise ValueError(f"{model} {benchmark}: {a} and {b} after {domain} (seed {seed}) share no question")
        xs.append(np.fromiter((sa[k] for k in keys), float, len(keys)))
        ys.append(np.fromiter((sb[k] for k in keys), float, len(keys)))
        first_keys = first_keys or tuple(keys)
    return Paired(benchmark, xs, ys, tuple(seeds), first_keys)


def estimate(strata: list[Paired], *, resamples: int, seed: int, alpha: float = 0.05) -> stats.Estimate:
    """Bootstrap estimate of mean(a − b): paired, hierarchical over seeds, stratified by benchmark.

    A fresh generator seeded with `seed` per comparison, as the study did.
    """
    rng = np.random.default_rng(seed)
    if len(strata) == 1:
        only = strata[0]
        if len(only.seeds) == 1:
            return stats.paired_bootstrap(only.a[0], only.b[0], resamples=resamples, rng=rng, alpha=alpha)
        return stats.hierarchical_bootstrap(only.a, only.b, resamples=resamples, rng=rng, alpha=alpha)
    return stats.stratified_bootstrap([(s.a, s.b) for s in strata], resamples=resamples, rng=rng, alpha=alpha)


def compare(evidence: Evidence, *, model: str, scorer: str, a: str, b: str, domain: str,
            benchmarks: tuple[str, ...], resamples: int, seed: int, alpha: float = 0.05) -> stats.Estimate:
    strata = [pair(evidence, model, scorer, a, b, domain, bench) for bench in benchmarks]
    return estimate(strata, resamples=resamples, seed=seed, alpha=alpha)
