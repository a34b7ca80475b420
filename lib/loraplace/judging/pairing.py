"""Paired comparisons of two runs on the same questions — the only way scores meet.

Items are paired by `item_key` (the benchmark question), never by position. Explicit rules,
no silent choices:

* Questions: only questions answered by every run of both sides take part (seeds are crossed
  with items, so every seed must answer the same questions); how many each side had and how
  many paired is kept (`Paired.n_a`, `n_b`: questions any run of that side answered, counted
  before seeds and sides are intersected, so a question missing in a single seed shows as
  dropped; `n_paired`) and shown wherever the estimate is.
* Seeds: two trained conditions must have the same seeds — different seed sets are an error
  naming both, never a silent intersection. The base model is not trained: it must be ONE run,
  shared by every seed of the other side (several base runs are an error).
* Benchmarks are strata with equal weights (the study averaged benchmarks): the effect is the
  mean of the per-benchmark mean differences; each benchmark is resampled within itself.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from loraplace.evidence.records import BASE, Evidence
from loraplace.judging import stats

ZERO = "zero"  # compare a run against the constant 0 (e.g. "pass@1 is at the floor")


@dataclass(frozen=True)
class Paired:
    benchmark: str
    a: np.ndarray  # (n_seeds, n_paired): row s = seed s, columns = item_keys
    b: np.ndarray  # same shape (a shared base run is repeated on every row)
    seeds: tuple[int, ...]
    item_keys: tuple[str, ...]  # the shared questions, in a's first run's order
    n_a: int = 0  # questions some run of side a answered (before intersecting seeds and sides)
    n_b: int = 0

    @property
    def n_paired(self) -> int:
        return len(self.item_keys)

    @property
    def dropped(self) -> bool:
        return self.n_paired < max(self.n_a, self.n_b)

    def counts(self) -> str:
        """'gsm8k 22 of 256/128' when questions were dropped, else 'gsm8k 256'."""
        return f"{self.benchmark} {self.n_paired}" + (f" of {self.n_a}/{self.n_b}" if self.dropped else "")


def _common(runs: dict[int, dict[str, float]]) -> list[str]:
    """Questions answered by every run, in the first run's order."""
    first, *rest = [runs[s] for s in sorted(runs)]
    return [k for k in first if all(k in r for r in rest)]


def pair(evidence: Evidence, model: str, scorer: str, a: str, b: str, domain: str, benchmark: str) -> Paired:
    """Scores of condition `a` and `b` (either may be "base"; `b` may be "zero") on shared questions."""
    def runs(condition: str) -> dict[int, dict[str, float]]:
        got = evidence.scores(model, scorer, condition, BASE if condition == BASE else domain, benchmark)
        if condition == BASE and len(got) > 1:
            raise ValueError(f"{model} {benchmark}: the base model has runs for seeds {sorted(got)}; it is not "
                             "trained, so one run is expected (which one to use would be a silent choice)")
        return got

    runs_a = runs(a)
    runs_b = {s: dict.fromkeys(runs_a[s], 0.0) for s in runs_a} if b == ZERO else runs(b)
    if a == BASE and b != BASE:
        seeds = sorted(runs_b)
    elif b == BASE or b == ZERO:
        seeds = sorted(runs_a)
    else:
        seeds = sorted(runs_a)
        if set(runs_a) != set(runs_b):
            raise ValueError(f"{model} {benchmark}: {a} has seeds {sorted(runs_a)} but {b} has seeds {sorted(runs_b)} "
                             f"after {domain}; a paired comparison needs the same training seeds on both sides")
    keys_a, keys_b = _common(runs_a), _common(runs_b)
    in_b = set(keys_b)
    keys = [k for k in keys_a if k in in_b]
    if not keys:
        raise ValueError(f"{model} {benchmark}: {a} and {b} after {domain} share no question")

    def matrix(side: dict[int, dict[str, float]]) -> np.ndarray:
        rows = [side[s] for s in (seeds if len(side) > 1 else [next(iter(side))] * len(seeds))]
        return np.array([[r[k] for k in keys] for r in rows], dtype=np.float64)

    def answered(side: dict[int, dict[str, float]]) -> int:
        return len(set().union(*side.values()))

    return Paired(benchmark, matrix(runs_a), matrix(runs_b), tuple(seeds), tuple(keys), answered(runs_a),
                  answered(runs_b))


def estimate(strata: list[Paired], *, resamples: int, seed: int, alpha: float = 0.05) -> stats.Estimate:
    """Bootstrap estimate of mean(a − b): paired, crossed over seeds, stratified by benchmark.

    A fresh generator seeded with `seed` per comparison, as the study did. One run on one
    benchmark is :func:`stats.paired_bootstrap` (the study's own scheme, bit for bit).
    """
    rng = np.random.default_rng(seed)
    if len(strata) == 1 and len(strata[0].seeds) == 1:
        est = stats.paired_bootstrap(strata[0].a[0], strata[0].b[0], resamples=resamples, rng=rng, alpha=alpha)
    else:
        est = stats.stratified_bootstrap([(s.a, s.b) for s in strata], resamples=resamples, rng=rng, alpha=alpha)
    named = tuple(replace(st, name=p.benchmark, n_a=p.n_a, n_b=p.n_b) for st, p in zip(est.strata, strata))
    return replace(est, strata=named)


def compare(evidence: Evidence, *, model: str, scorer: str, a: str, b: str, domain: str,
            benchmarks: tuple[str, ...], resamples: int, seed: int, alpha: float = 0.05) -> stats.Estimate:
    strata = [pair(evidence, model, scorer, a, b, domain, bench) for bench in benchmarks]
    return estimate(strata, resamples=resamples, seed=seed, alpha=alpha)
