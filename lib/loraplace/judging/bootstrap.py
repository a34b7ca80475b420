"""The paired bootstrap of one training run, and the `Estimate` every comparison returns.

Pure functions: no printing, no global RNG. Every random function takes an explicit
``rng: np.random.Generator`` and consumes it in a documented, chunk-invariant way. The crossed
seeds × items estimate is `loraplace.judging.crossed`; the public façade is `loraplace.judging.stats`.

Resampling scheme of :func:`paired_bootstrap` (the study's; it reproduces the released
tables bit for bit, see tests/test_stats_reproduction.py for the one known exception):
with ``d`` the per-item differences a - b (items sorted by id, float64),

    rng = np.random.default_rng(3407)                  # fresh per comparison
    boot = d[rng.integers(0, n, size=(B, n))].mean(axis=1)
    lo, hi = np.percentile(boot, [2.5, 97.5])          # linear interpolation

The (B, n) index matrix is never materialised: :func:`resample_indices` draws it in row chunks,
bit-identical to that single call, memoised by generator state (``loraplace.judging.index_memo``).

The p-value is dual to that interval (:func:`percentile_p`): "it excludes 0" iff "p < alpha".
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Iterator

import numpy as np

from loraplace.judging.index_memo import MEMO

__all__ = ["Estimate", "Stratum", "paired_bootstrap", "bootstrap_distribution", "resample_indices",
           "percentile_p", "dual_p", "estimate_from_boot", "z_mde", "sample_sd", "CHUNK_ELEMENTS", "MIN_SEEDS_FOR_SPREAD"]

CHUNK_ELEMENTS = 1 << 21  # ~2M draws per chunk: 16 MiB of int64/float64 per array
MIN_SEEDS_FOR_SPREAD = 3  # fewer seeds: the between-seed spread is not estimable


@dataclass(frozen=True)
class Stratum:
    """One stratum (benchmark) of an estimate: its own paired effect and how many items paired."""
    n_paired: int          # questions paired (answered by every run of both sides)
    weight: float          # weight in the stratified mean (equal weights: 1 / number of strata)
    effect: float
    se: float              # item-bootstrap standard error of the stratum's effect
    var_share: float       # share of the estimate's item variance that this stratum contributes
    name: str = ""
    n_a: int | None = None  # questions side a answered (every seed of a), before pairing
    n_b: int | None = None


@dataclass(frozen=True)
class Estimate:
    n: int              # paired questions (summed over strata; NOT multiplied by seeds)
    n_seeds: int        # training runs per side (1 for paired_bootstrap)
    effect: float       # point estimate of mean(a - b), a fraction (not pp)
    ci_low: float
    ci_high: float
    p_value: float      # two-sided, dual to the percentile interval (see percentile_p)
    sd_diff: float      # SD (ddof=1) of the per-question differences (averaged over seeds)
    mde: float          # single-test MDE: 80 % power, two-sided alpha (NOT the Holm level)
    resamples: int
    alpha: float
    se: float = float("nan")        # standard error of the effect (items + between-seed part)
    seed_sd: float | None = None    # SD of the per-seed effects (a training run's); None unless n_seeds >= 3
    strata: tuple[Stratum, ...] = ()
    item_var: float | None = None   # n_seeds >= 3: the item part of se**2 (normal); the rest is the
    seed_var: float | None = None   # seed part seed_sd**2 / n_seeds, scaled t(n_seeds - 1) (crossed.SeedLaw)

    @property
    def seed_spread_estimable(self) -> bool:
        return self.n_seeds >= MIN_SEEDS_FOR_SPREAD

    n_a = property(lambda self: _total(s.n_a for s in self.strata), doc="questions side a answered, all strata")
    n_b = property(lambda self: _total(s.n_b for s in self.strata), doc="questions side b answered, all strata")
    n_paired = property(lambda self: self.n, doc="paired questions (= n)")


def _total(counts) -> int | None:
    counts = list(counts)
    return None if not counts or None in counts else sum(counts)


# ──────────────────────────────────────────────────────────────── validation

def check_common(resamples: int, alpha: float, rng) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if isinstance(resamples, bool) or int(resamples) != resamples or resamples < 1:
        raise ValueError(f"resamples must be a positive integer, got {resamples!r}")
    check_alpha(alpha)


def check_alpha(alpha: float, name: str = "alpha") -> None:
    if not (0.0 < float(alpha) < 1.0):
        raise ValueError(f"{name} must be in (0, 1), got {alpha!r}")


def as_1d(x, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite scores")
    return arr


def paired_diffs(a, b) -> np.ndarray:
    a, b = as_1d(a, "a"), as_1d(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have equal lengths (paired items), got {a.size} and {b.size}")
    if a.size < 1:
        raise ValueError("need at least one paired item (n >= 1), got 0")
    return a - b


def crossed_diffs(a, b) -> np.ndarray:
    """(S, n) differences; ``b`` is (S, n) (trained on the same seeds) or (n,)/(1, n) (one shared base)."""
    try:
        A, B = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    except ValueError:  # ragged rows
        raise ValueError("every seed must answer the same items: pass equal-length rows") from None
    if A.ndim != 2:
        raise ValueError(f"a must be 2-D (n_seeds, n_items): every seed answers the same items, got shape {A.shape}")
    if B.ndim == 1:
        B = B[None]
    if B.ndim != 2 or B.shape[1] != A.shape[1] or B.shape[0] not in (1, A.shape[0]):
        raise ValueError(f"b must be (n_seeds, n_items) = {A.shape} or one shared run of {A.shape[1]} items, "
                         f"got shape {B.shape} (a different number of seeds or items)")
    if A.shape[0] < 1:
        raise ValueError("need at least one seed, got 0")
    if A.shape[1] < 1:
        raise ValueError("need at least one paired item (n >= 1), got 0")
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(B))):
        raise ValueError("a or b contains NaN or infinite scores")
    return A - B


# ──────────────────────────────────────────────────────────── index stream

def resample_indices(rng: np.random.Generator, n: int, resamples: int,
                     chunk_rows: int | None = None) -> Iterator[np.ndarray]:
    """Yield row chunks of ``rng.integers(0, n, size=(resamples, n))``, bit-identical.

    Chunking is stream-neutral: numpy draws bounded ints from 32-bit halves of 64-bit
    words, and the unused half is buffered in the bit generator itself (e.g. PCG64's
    ``has_uint32``/``uinteger``), not per call, so consecutive calls continue one stream
    and leave ``rng`` in the same state as the single call (tested).
    """
    rows = chunk_rows or max(1, CHUNK_ELEMENTS // n)
    for start in range(0, resamples, rows):
        yield rng.integers(0, n, size=(min(rows, resamples - start), n))


def bootstrap_distribution(diffs, *, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap distribution (length ``resamples``) of the mean of 1-D ``diffs``."""
    d = as_1d(diffs, "diffs")
    if d.size < 1:
        raise ValueError("need at least one item (n >= 1), got 0")
    check_common(resamples, 0.05, rng)
    chunks = MEMO.draw(rng, d.size, resamples, lambda: resample_indices(rng, d.size, resamples))
    return np.concatenate([d[idx].mean(axis=1) for idx in chunks])


# ─────────────────────────────────────────────────────────────── summaries

def _zero_crossing(x: np.ndarray) -> float:
    """sup{tau : Q(tau) <= 0} for np.quantile's linear Q over the sorted array x (0 if none)."""
    B = x.size
    k = int(np.searchsorted(x, 0.0, side="right"))  # x[:k] <= 0 < x[k:]
    if k == 0:
        return 0.0
    if k == B or B == 1:
        return 1.0
    j = k - 1
    return (j + (0.0 - x[j]) / (x[j + 1] - x[j])) / (B - 1)


def percentile_p(boot) -> float:
    """Two-sided p dual to the percentile interval: the smallest alpha whose interval excludes 0.

    With Q the linear-interpolation quantile function of ``boot`` (``np.quantile``), the
    interval [Q(alpha/2), Q(1 - alpha/2)] excludes 0 iff alpha > p, where
    p = 2 min(sup{tau: Q(tau) <= 0}, sup{tau: Q(1 - tau) >= 0}), capped at 1 — about
    2 min(P*(boot <= 0), P*(boot >= 0)). 0 when every replicate lies on one side of 0.
    """
    x = np.sort(np.asarray(boot, dtype=np.float64))
    return float(min(1.0, 2 * min(_zero_crossing(x), _zero_crossing(-x[::-1]))))


def dual_p(p: float, lo: float, hi: float, alpha: float) -> float:
    """``p`` made exactly dual to the interval [lo, hi] at ``alpha``: "excludes 0" iff "p < alpha".

    Both are computed from the same law, so they agree up to floating-point rounding; at the
    boundary (an endpoint within rounding of 0) the interval decides and p is moved to alpha
    (interval touches 0) or just below it (interval excludes 0).
    """
    excludes = lo > 0 or hi < 0
    if excludes and not p < alpha:
        return math.nextafter(alpha, 0.0)
    if not excludes and p < alpha:
        return float(alpha)
    return float(p)


def z_mde(se: float, alpha: float, power: float = 0.8) -> float:
    """(z_{1 - alpha/2} + z_power) se: the single-test MDE of a normal-approximation estimate."""
    z = NormalDist()
    return (z.inv_cdf(1 - alpha / 2) + z.inv_cdf(power)) * se if math.isfinite(se) else float("nan")


def estimate_from_boot(boot, effect, *, n, n_seeds, sd_diff, se, resamples, alpha, strata=()) -> Estimate:
    """The percentile interval of a bootstrap distribution and its dual p, as an `Estimate`."""
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return Estimate(n=int(n), n_seeds=int(n_seeds), effect=float(effect), ci_low=float(lo), ci_high=float(hi),
                    p_value=dual_p(percentile_p(boot), float(lo), float(hi), alpha), sd_diff=float(sd_diff),
                    mde=z_mde(se, alpha), resamples=int(resamples), alpha=float(alpha), se=float(se),
                    strata=tuple(strata))


def sample_sd(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1)) if x.size > 1 else float("nan")


def paired_bootstrap(a, b, *, resamples: int, rng: np.random.Generator,
                     alpha: float = 0.05) -> Estimate:
    """Percentile CI and dual p for mean(a - b) over paired items (one training run).

    ``a[i]`` and ``b[i]`` must score the same item. Resampling: see the module docstring;
    with a fresh ``np.random.default_rng(3407)`` and ``resamples=10_000`` this reproduces
    the study's ``key_paired_bootstrap_comparisons.csv`` (8 of 9 rows bit for bit, the
    9th one grid step off) and, at 1,000, its notebook table. ``se`` = sd / sqrt(n) and
    ``mde`` is :func:`z_mde` (z, one test) with that se; both NaN when n == 1.
    """
    d = paired_diffs(a, b)
    check_common(resamples, alpha, rng)
    boot = bootstrap_distribution(d, resamples=resamples, rng=rng)
    sd = sample_sd(d)
    se = math.sqrt(sd ** 2 / d.size)  # the form stratified_bootstrap uses, to the last bit
    stratum = Stratum(d.size, 1.0, float(d.mean()), se, 1.0)
    return estimate_from_boot(boot, d.mean(), n=d.size, n_seeds=1, sd_diff=sd, se=se,
                              resamples=resamples, alpha=alpha, strata=(stratum,))


