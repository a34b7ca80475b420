"""Paired and crossed (seeds × items) bootstrap, exact binomial bounds, Holm, power.

Pure functions: no printing, no global RNG. Every random function takes an explicit
``rng: np.random.Generator`` and consumes it in a documented, chunk-invariant way.

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
from typing import Iterator, Sequence

import numpy as np

from loraplace.judging.index_memo import MEMO

__all__ = ["Estimate", "Stratum", "paired_bootstrap", "crossed_bootstrap", "stratified_bootstrap",
           "bootstrap_distribution", "resample_indices", "percentile_p", "proportion_ci", "holm", "mde",
           "items_needed", "z_sum", "CHUNK_ELEMENTS", "MIN_SEEDS_FOR_SPREAD"]

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
    seed_sd: float | None = None    # between-seed SD of the effect; None unless n_seeds >= 3
    strata: tuple[Stratum, ...] = ()

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

def _check_common(resamples: int, alpha: float, rng) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if isinstance(resamples, bool) or int(resamples) != resamples or resamples < 1:
        raise ValueError(f"resamples must be a positive integer, got {resamples!r}")
    _check_alpha(alpha)


def _check_alpha(alpha: float, name: str = "alpha") -> None:
    if not (0.0 < float(alpha) < 1.0):
        raise ValueError(f"{name} must be in (0, 1), got {alpha!r}")


def _as_1d(x, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite scores")
    return arr


def _paired_diffs(a, b) -> np.ndarray:
    a, b = _as_1d(a, "a"), _as_1d(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have equal lengths (paired items), got {a.size} and {b.size}")
    if a.size < 1:
        raise ValueError("need at least one paired item (n >= 1), got 0")
    return a - b


def _crossed_diffs(a, b) -> np.ndarray:
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
    d = _as_1d(diffs, "diffs")
    if d.size < 1:
        raise ValueError("need at least one item (n >= 1), got 0")
    _check_common(resamples, 0.05, rng)
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


def _estimate(boot, effect, *, n, n_seeds, sd_diff, se, resamples, alpha, seed_sd=None,
              strata=()) -> Estimate:
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return Estimate(n=int(n), n_seeds=int(n_seeds), effect=float(effect), ci_low=float(lo), ci_high=float(hi),
                    p_value=percentile_p(boot), sd_diff=float(sd_diff),
                    mde=mde(se, 1, alpha=alpha) if math.isfinite(se) else float("nan"),
                    resamples=int(resamples), alpha=float(alpha), se=float(se), seed_sd=seed_sd,
                    strata=tuple(strata))


def _sd(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1)) if x.size > 1 else float("nan")


def paired_bootstrap(a, b, *, resamples: int, rng: np.random.Generator,
                     alpha: float = 0.05) -> Estimate:
    """Percentile CI and dual p for mean(a - b) over paired items (one training run).

    ``a[i]`` and ``b[i]`` must score the same item. Resampling: see the module docstring;
    with a fresh ``np.random.default_rng(3407)`` and ``resamples=10_000`` this reproduces
    the study's ``key_paired_bootstrap_comparisons.csv`` (8 of 9 rows bit for bit, the
    9th one grid step off) and, at 1,000, its notebook table. ``se`` = sd / sqrt(n) and
    ``mde`` is the closed form :func:`mde` with the paired SD; both NaN when n == 1.
    """
    d = _paired_diffs(a, b)
    _check_common(resamples, alpha, rng)
    boot = bootstrap_distribution(d, resamples=resamples, rng=rng)
    sd = _sd(d)
    se = math.sqrt(sd ** 2 / d.size)  # the form stratified_bootstrap uses, to the last bit
    stratum = Stratum(d.size, 1.0, float(d.mean()), se, 1.0)
    return _estimate(boot, d.mean(), n=d.size, n_seeds=1, sd_diff=sd, se=se,
                     resamples=resamples, alpha=alpha, strata=(stratum,))


# ───────────────────────────────────────────────── crossed seeds × items

def crossed_bootstrap(a, b, *, resamples: int, rng: np.random.Generator,
                      alpha: float = 0.05) -> Estimate:
    """Seeds × items crossed: ``a`` (n_seeds, n_items), ``b`` the same or one shared (n_items,) run.

    The mean over seeds and items of a - b: one stratum of :func:`stratified_bootstrap` (the method).
    """
    return stratified_bootstrap([(a, b)], resamples=resamples, rng=rng, alpha=alpha)


def _stratum_parts(a, b) -> tuple[np.ndarray, np.ndarray, float]:
    """(per-question mean over seeds (n,), per-seed mean over questions (S,), residual MS / n)."""
    try:
        one_run = np.ndim(a) == 1
    except ValueError:  # ragged rows: _crossed_diffs says what is wrong
        one_run = False
    d = _paired_diffs(a, b)[None] if one_run else _crossed_diffs(a, b)
    S, n = d.shape
    cols, rows = d.mean(axis=0), d.mean(axis=1)
    if S < 2 or n < 2:
        return cols, rows, 0.0
    resid = d - rows[:, None] - cols[None, :] + d.mean()
    return cols, rows, float(np.sum(resid ** 2) / ((S - 1) * (n - 1)) / n)


def stratified_bootstrap(strata, *, resamples: int, rng: np.random.Generator,
                         alpha: float = 0.05) -> Estimate:
    """Mean over strata (benchmarks, equal weights) of each stratum's mean paired difference.

    ``strata``: a sequence of ``(a, b)``: 1-D paired item scores (one training run), or
    ``a`` of shape (n_seeds, n_items) with ``b`` of that shape or one shared (n_items,) run.
    Every stratum has the same seeds (the same trained models answer every benchmark).

    Method (seeds and items crossed; seeds a random effect):

    * Items. Per stratum, in order, one index draw per replicate (the stream of
      :func:`paired_bootstrap`) applied to every seed and to the shared base alike: the
      replicate is the mean of the drawn questions' seed-averaged differences. This keeps
      the shared question effect and the shared base, which resampling items inside each
      seed independently (a nested bootstrap) throws away. With one seed this is exactly
      :func:`paired_bootstrap`.
    * Seeds (n_seeds >= 3). The item bootstrap holds the trained runs fixed. The spread of
      new training runs is added as a random effect: with theta_s the seed's own estimate,
      sigma_u^2 = max(0, var_s(theta_s) - sum_k w_k^2 MS_res,k / n_k) (method of moments of
      the two-way crossed layout: the seed means' variance minus the item × seed residual
      already in the item bootstrap), and each replicate adds sqrt(sigma_u^2 / S) * t_{S-1}
      (``rng.standard_t(S - 1, resamples)``, drawn after the items). The t_{S-1} law carries
      the uncertainty of a variance estimated from S seeds — a z would make the interval far
      too short at S = 3 — while the items keep their bootstrap. Simulated coverage: see
      tests/test_stats_crossed.py. A two-way (pigeonhole) bootstrap was rejected: resampling
      3 seeds gives 3 distinct means, a normal-quantile width, and undercovers at S = 3.
    * Fewer than 3 seeds: the between-seed spread is not estimable (1 df); the interval is
      conditional on these training runs (``seed_sd`` None, ``seed_spread_estimable`` False).

    ``se`` = sqrt(sum_k w_k^2 s_k^2 / n_k + sigma_u^2 / S), s_k the SD of stratum k's
    seed-averaged question differences (with one run and one stratum: the paired sd / sqrt(n));
    ``mde`` = (z_{1-alpha/2} + z_0.8) se.
    """
    if len(strata) < 1:
        raise ValueError("need at least one stratum, got 0")
    _check_common(resamples, alpha, rng)
    parts = [_stratum_parts(a, b) for a, b in strata]
    seeds = {rows.size for _, rows, _ in parts}
    if len(seeds) > 1:
        raise ValueError(f"every stratum must have the same seeds (the same trained runs), got seed counts {sorted(seeds)}")
    S, K = seeds.pop(), len(parts)
    w = 1.0 / K
    boots = [bootstrap_distribution(cols, resamples=resamples, rng=rng) for cols, _, _ in parts]
    boot = np.mean(boots, axis=0) if K > 1 else boots[0]
    var_k = np.array([w ** 2 * _sd(cols) ** 2 / cols.size for cols, _, _ in parts])  # analytic item variance
    effect = float(np.mean([cols.mean() for cols, _, _ in parts]))
    seed_sd, seed_var = None, 0.0
    if S >= MIN_SEEDS_FOR_SPREAD:
        theta_s = np.mean([rows for _, rows, _ in parts], axis=0)                     # (S,)
        residual = sum(w ** 2 * r for _, _, r in parts)
        seed_var = max(0.0, float(np.var(theta_s, ddof=1)) - residual)
        seed_sd = math.sqrt(seed_var)
        boot = boot + math.sqrt(seed_var / S) * rng.standard_t(S - 1, size=resamples)
    pooled = np.concatenate([cols for cols, _, _ in parts])
    total = float(var_k.sum())
    out_strata = tuple(Stratum(cols.size, w, float(cols.mean()), math.sqrt(_sd(cols) ** 2 / cols.size),
                               float(v / total) if total > 0 else w)
                       for (cols, _, _), v in zip(parts, var_k))
    se = math.sqrt(total + seed_var / S)
    return _estimate(boot, effect, n=pooled.size, n_seeds=S, sd_diff=_sd(pooled), se=se,
                     resamples=resamples, alpha=alpha, seed_sd=seed_sd, strata=out_strata)


# ─────────────────────────────────────────────────────── single proportions

def _binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space (exact enough for any n here)."""
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 1.0 if k >= n else 0.0
    j = np.arange(k + 1)
    logfact = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1)))])        # log i!, i = 0..n
    terms = logfact[n] - logfact[j] - logfact[n - j] + j * math.log(p) + (n - j) * math.log1p(-p)
    top = terms.max()
    return float(min(1.0, math.exp(top) * np.exp(terms - top).sum()))


def _bisect(f, target: float) -> float:
    """The p in [0, 1] where the decreasing function f crosses target (60 halvings)."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if f(mid) > target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def proportion_ci(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact (Clopper–Pearson) two-sided 1 - alpha interval for a binomial proportion k / n.

    Lower bound L: P(X >= k | L) = alpha / 2 (0 when k == 0); upper U: P(X <= k | U) = alpha / 2
    (1 when k == n). Coverage is at least 1 - alpha for every true proportion.
    """
    if isinstance(k, bool) or int(k) != k or isinstance(n, bool) or int(n) != n:
        raise ValueError(f"k and n must be integers, got k={k!r}, n={n!r}")
    k, n = int(k), int(n)
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    _check_alpha(alpha)
    lower = 0.0 if k == 0 else 1.0 - _bisect(lambda p: 1.0 - _binom_cdf(k - 1, n, 1.0 - p), alpha / 2)
    upper = 1.0 if k == n else _bisect(lambda p: _binom_cdf(k, n, p), alpha / 2)
    return lower, upper


# ─────────────────────────────────────────────────────── multiplicity, power

def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values, in input order, monotone in p, capped at 1."""
    p = np.asarray(p_values, dtype=np.float64).ravel()
    if p.size and (np.any(np.isnan(p)) or p.min() < 0 or p.max() > 1):
        raise ValueError(f"p-values must lie in [0, 1], got {p.tolist()}")
    order = np.argsort(p, kind="stable")
    m = p.size
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def z_sum(alpha: float = 0.05, power: float = 0.8, family: int = 1) -> float:
    """z_{1 - alpha/(2 family)} + z_power: two-sided test at Holm's strictest step alpha / family."""
    _check_alpha(alpha)
    _check_alpha(power, "power")
    if isinstance(family, bool) or int(family) != family or family < 1:
        raise ValueError(f"family must be a positive integer, got {family!r}")
    z = NormalDist()
    return z.inv_cdf(1 - alpha / (2 * family)) + z.inv_cdf(power)


def mde(sd_diff: float, n: int, *, alpha: float = 0.05, power: float = 0.8, family: int = 1) -> float:
    """Minimum detectable paired mean difference: z_sum(alpha, power, family) sd / sqrt(n).

    ``family`` > 1 gives the MDE at Holm's strictest step (alpha / family): the effect a
    comparison detects with the given power however the family's other comparisons fall.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if sd_diff < 0:
        raise ValueError(f"sd_diff must be >= 0, got {sd_diff}")
    return float(z_sum(alpha, power, family) * sd_diff / np.sqrt(n))


def items_needed(sd_diff: float, effect: float, *, alpha: float = 0.05, power: float = 0.8,
                 family: int = 1) -> int:
    """Fewest paired items n with mde(sd_diff, n, …) <= |effect|: ceil((z_sum sd / effect)^2)."""
    if sd_diff < 0 or not math.isfinite(sd_diff):
        raise ValueError(f"sd_diff must be finite and >= 0, got {sd_diff}")
    if effect == 0 or not math.isfinite(effect):
        raise ValueError(f"effect must be finite and non-zero, got {effect}")
    return max(1, math.ceil((z_sum(alpha, power, family) * sd_diff / abs(effect)) ** 2 - 1e-9))
