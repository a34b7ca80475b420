"""Paired and hierarchical bootstrap, Holm-Bonferroni, minimum detectable effect.

Pure functions: no printing, no global RNG. Every random function takes an explicit
``rng: np.random.Generator`` and consumes it in a documented, chunk-invariant way.

Resampling scheme of :func:`paired_bootstrap` (the study's; it reproduces the released
tables bit for bit, see tests/test_stats_reproduction.py for the one known exception):
with ``d`` the per-item differences a - b (items sorted by id, float64),

    rng = np.random.default_rng(3407)                  # fresh per comparison
    boot = d[rng.integers(0, n, size=(B, n))].mean(axis=1)
    lo, hi = np.percentile(boot, [2.5, 97.5])          # linear interpolation

The (B, n) index matrix is never materialised: :func:`resample_indices` draws it in
row chunks, bit-identical to that single ``rng.integers`` call.
"""
from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Iterator, Sequence

import numpy as np

__all__ = ["Estimate", "paired_bootstrap", "hierarchical_bootstrap", "bootstrap_distribution",
           "resample_indices", "stratified_bootstrap", "holm", "mde", "CHUNK_ELEMENTS"]

CHUNK_ELEMENTS = 1 << 21  # ~2M draws per chunk: 16 MiB of int64/float64 per array


@dataclass(frozen=True)
class Estimate:
    n: int              # paired items (hierarchical: total items over seeds)
    n_seeds: int        # 1 for paired_bootstrap
    effect: float       # point estimate of mean(a - b), a fraction (not pp)
    ci_low: float
    ci_high: float
    p_value: float      # two-sided bootstrap p under H0: effect == 0
    sd_diff: float      # SD (ddof=1) of per-item differences (pooled over seeds)
    mde: float          # minimum detectable effect at 80 % power, two-sided alpha
    resamples: int
    alpha: float


# ──────────────────────────────────────────────────────────────── validation

def _check_common(resamples: int, alpha: float, rng) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if isinstance(resamples, bool) or int(resamples) != resamples or resamples < 1:
        raise ValueError(f"resamples must be a positive integer, got {resamples!r}")
    if not (0.0 < float(alpha) < 1.0):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")


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
    return np.concatenate([d[idx].mean(axis=1) for idx in resample_indices(rng, d.size, resamples)])


# ─────────────────────────────────────────────────────────────── summaries

def _p_value(boot: np.ndarray, effect: float) -> float:
    """Two-sided p from the bootstrap distribution recentred under H0 (effect == 0)."""
    extreme = np.count_nonzero(np.abs(boot - effect) >= abs(effect))
    return float((1 + extreme) / (boot.size + 1))


def _estimate(boot, effect, *, n, n_seeds, sd_diff, mde_value, resamples, alpha) -> Estimate:
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return Estimate(n=int(n), n_seeds=int(n_seeds), effect=float(effect), ci_low=float(lo),
                    ci_high=float(hi), p_value=_p_value(boot, effect), sd_diff=float(sd_diff),
                    mde=float(mde_value), resamples=int(resamples), alpha=float(alpha))


def _sd(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1)) if x.size > 1 else float("nan")


def paired_bootstrap(a, b, *, resamples: int, rng: np.random.Generator,
                     alpha: float = 0.05) -> Estimate:
    """Percentile CI and bootstrap p for mean(a - b) over paired items.

    ``a[i]`` and ``b[i]`` must score the same item. Resampling: see the module docstring;
    with a fresh ``np.random.default_rng(3407)`` and ``resamples=10_000`` this reproduces
    the study's ``key_paired_bootstrap_comparisons.csv`` (8 of 9 rows bit for bit, the
    9th one grid step off) and, at 1,000, its notebook table. ``mde`` uses the closed form
    :func:`mde` with the paired SD; it is NaN when n == 1.
    """
    d = _paired_diffs(a, b)
    _check_common(resamples, alpha, rng)
    boot = bootstrap_distribution(d, resamples=resamples, rng=rng)
    sd = _sd(d)
    return _estimate(boot, d.mean(), n=d.size, n_seeds=1, sd_diff=sd,
                     mde_value=mde(sd, d.size, alpha=alpha) if d.size > 1 else float("nan"),
                     resamples=resamples, alpha=alpha)


def _seed_rows(x, name: str) -> list[np.ndarray]:
    if isinstance(x, np.ndarray) and x.dtype != object:
        if x.ndim != 2:
            raise ValueError(f"{name} must be 2-D (n_seeds, n_items) or a list of 1-D arrays, "
                             f"got shape {x.shape}")
        return [_as_1d(row, f"{name}[{i}]") for i, row in enumerate(x)]
    return [_as_1d(row, f"{name}[{i}]") for i, row in enumerate(x)]


def hierarchical_bootstrap(a, b, *, resamples: int, rng: np.random.Generator,
                           alpha: float = 0.05) -> Estimate:
    """Two-stage bootstrap: seeds with replacement, then items within each drawn seed.

    ``a``, ``b``: arrays of shape (n_seeds, n_items), or lists of per-seed 1-D arrays of
    possibly different lengths (ragged); row s of ``a`` pairs with row s of ``b`` item by
    item. Statistic: mean over drawn seeds of the mean item difference (each seed weighs
    the same, whatever its item count); the point estimate is the same on the data.

    Draws: see :func:`_hierarchical_distribution` (seeds first, then items of each drawn
    seed, as multinomial counts when the differences take few values); the result does
    not depend on the chunk size.
    ``mde`` here is (z_{1-alpha/2} + z_power) x the bootstrap SE of the statistic, which
    includes seed-to-seed variance (the closed form from ``sd_diff`` would not).
    """
    diffs = _seed_diffs(a, b)
    _check_common(resamples, alpha, rng)
    boot, point = _hierarchical_distribution(diffs, resamples=resamples, rng=rng)
    pooled = np.concatenate(diffs)
    return _estimate(boot, point, n=pooled.size, n_seeds=len(diffs), sd_diff=_sd(pooled),
                     mde_value=mde(_se(boot), 1, alpha=alpha), resamples=resamples, alpha=alpha)


def _se(boot: np.ndarray) -> float:
    return float(np.std(boot, ddof=1)) if boot.size > 1 else float("nan")


def _seed_diffs(a, b) -> list[np.ndarray]:
    rows_a, rows_b = _seed_rows(a, "a"), _seed_rows(b, "b")
    if len(rows_a) != len(rows_b):
        raise ValueError(f"a and b must have the same number of seeds, got {len(rows_a)} and {len(rows_b)}")
    if len(rows_a) < 1:
        raise ValueError("need at least one seed, got 0")
    diffs = []
    for s, (ra, rb) in enumerate(zip(rows_a, rows_b)):
        if ra.shape != rb.shape:
            raise ValueError(f"seed {s}: a and b must have equal lengths, got {ra.size} and {rb.size}")
        if ra.size < 1:
            raise ValueError(f"seed {s}: need at least one paired item (n >= 1), got 0")
        diffs.append(ra - rb)
    return diffs


MAX_LEVELS = 16  # at most this many distinct differences: resample item counts, not items


def _hierarchical_distribution(diffs: list[np.ndarray], *, resamples: int,
                               rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """(bootstrap distribution, point estimate) of the mean over seeds of mean differences.

    Seeds are drawn with replacement (``rng.integers(0, S, (B, S))``), then items within each
    drawn seed. When the differences take few values (0/1 scores give at most three), the
    items of a drawn seed s are resampled as counts, ``rng.multinomial(n_s, p_s)`` over those
    values — the same distribution as drawing n_s items, at O(B·S) instead of O(B·S·n) cost.
    Otherwise item indices are drawn in chunks (``rng.integers(0, n_s, …)``).
    """
    S = len(diffs)
    lengths = np.array([d.size for d in diffs])
    point = float(np.mean([d.mean() for d in diffs]))
    seeds_all = rng.integers(0, S, size=(resamples, S))                          # (B, S)
    levels = np.unique(np.concatenate(diffs))
    if levels.size <= MAX_LEVELS:
        slot_means = np.empty((resamples, S))
        for s, d in enumerate(diffs):
            drawn = seeds_all == s                                               # (B, S)
            p = np.array([np.count_nonzero(d == v) for v in levels]) / d.size
            counts = rng.multinomial(d.size, p, size=int(drawn.sum()))           # (m, levels)
            slot_means[drawn] = counts @ levels / d.size
        return slot_means.mean(axis=1), point

    width = int(lengths.max())
    padded = np.zeros((S, width))
    for s, d in enumerate(diffs):
        padded[s, :d.size] = d
    rows = max(1, CHUNK_ELEMENTS // (S * width))
    boot = np.empty(resamples)
    for start in range(0, resamples, rows):
        seeds = seeds_all[start:start + rows]                                    # (r, S)
        r = seeds.shape[0]
        n_s = lengths[seeds]                                                     # (r, S)
        items = rng.integers(0, n_s[..., None], size=(r, S, width))              # (r, S, width)
        valid = np.arange(width) < n_s[..., None]                                # (r, S, width)
        vals = np.where(valid, padded[seeds[..., None], items], 0.0)
        boot[start:start + r] = (vals.sum(axis=2) / n_s).mean(axis=1)
    return boot, point


def stratified_bootstrap(strata, *, resamples: int, rng: np.random.Generator,
                         alpha: float = 0.05) -> Estimate:
    """Mean over strata (e.g. benchmarks) of each stratum's paired mean difference.

    ``strata``: a sequence of ``(a, b)``; each ``a``/``b`` is a 1-D array of paired item
    scores, or per-seed rows as accepted by :func:`hierarchical_bootstrap`. Each stratum is
    resampled on its own (strata in order, from the same ``rng``: one-seed strata as
    :func:`paired_bootstrap`, several seeds as :func:`hierarchical_bootstrap`), and the
    statistic averages the strata with equal weight, as the study averaged benchmarks.
    ``mde`` is (z_{1-alpha/2} + z_power) x the bootstrap SE of the statistic.
    """
    if len(strata) < 1:
        raise ValueError("need at least one stratum, got 0")
    _check_common(resamples, alpha, rng)
    boots, points, pooled, n_seeds = [], [], [], 1
    for a, b in strata:
        one_seed = isinstance(a, np.ndarray) and a.ndim == 1
        diffs = _seed_diffs([a], [b]) if one_seed else _seed_diffs(a, b)
        if len(diffs) == 1:
            boot, point = bootstrap_distribution(diffs[0], resamples=resamples, rng=rng), float(diffs[0].mean())
        else:
            boot, point = _hierarchical_distribution(diffs, resamples=resamples, rng=rng)
        boots.append(boot)
        points.append(point)
        pooled += diffs
        n_seeds = max(n_seeds, len(diffs))
    boot = np.mean(boots, axis=0)
    pooled_d = np.concatenate(pooled)
    return _estimate(boot, float(np.mean(points)), n=pooled_d.size, n_seeds=n_seeds, sd_diff=_sd(pooled_d),
                     mde_value=mde(_se(boot), 1, alpha=alpha), resamples=resamples, alpha=alpha)


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


def mde(sd_diff: float, n: int, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """Minimum detectable paired mean difference: (z_{1-alpha/2} + z_power) sd / sqrt(n)."""
    if not (0.0 < alpha < 1.0):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not (0.0 < power < 1.0):
        raise ValueError(f"power must be in (0, 1), got {power!r}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if sd_diff < 0:
        raise ValueError(f"sd_diff must be >= 0, got {sd_diff}")
    z = NormalDist()
    return float((z.inv_cdf(1 - alpha / 2) + z.inv_cdf(power)) * sd_diff / np.sqrt(n))
