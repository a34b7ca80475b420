"""Seeds × items crossed estimates, stratified by benchmark: the multi-seed comparison.

Every seed answers the same questions and a base run, if any, is shared by every seed: items are
crossed with seeds, never nested in them. Pure functions, explicit ``rng``.

* One or two seeds: the item bootstrap of `loraplace.judging.bootstrap` on each question's
  seed-averaged difference (one index draw per replicate, applied to every seed and to the shared
  base alike). The between-seed spread is not estimable (one degree of freedom at most), so the
  interval is about these training runs: ``seed_spread_estimable`` False, ``seed_sd`` None.
* Three or more seeds: seeds are a random effect. The estimate's error law is
  `loraplace.judging.seedlaw.SeedLaw`: an item part, w_k² · max(0, var_q(col_k) − MS_res,k / S) / n_k
  summed over strata (the questions' variance of their seed-averaged differences, less the
  seed × item residual it contains), plus a seed part, var_s(theta_s) / S with theta_s the
  seed's own stratified effect, scaled by t(S − 1). The seed part is never subtracted down: a
  run's effect varies by its training seed *and* by its item noise, and both are in the spread
  of the S per-seed effects. The interval is effect ∓ the law's 1 − alpha/2 quantile and p is the
  law's two-sided tail at |effect| (exactly dual). Calibrated by simulation at alpha, alpha/6 and
  alpha/36 (tests/test_stats_crossed.py, benchmarks/seed_calibration.py): with a per-seed base
  (trained vs trained) the rejection rate is within 1.2× nominal at 3, 5 and 10 seeds; with a
  shared base the interval is conservative at 3 seeds (the seed part's t(2) tail is kept
  whole). ``rng`` and ``resamples`` are not used (``resamples`` = 0 in the estimate).
"""
from __future__ import annotations

import math

import numpy as np

from loraplace.judging.bootstrap import (
    MIN_SEEDS_FOR_SPREAD,
    Estimate,
    Stratum,
    bootstrap_distribution,
    check_common,
    crossed_diffs,
    dual_p,
    estimate_from_boot,
    paired_diffs,
    sample_sd,
)
from loraplace.judging.seedlaw import SeedLaw

__all__ = ["crossed_bootstrap", "stratified_bootstrap", "stratum_parts"]


def crossed_bootstrap(a, b, *, resamples: int, rng: np.random.Generator,
                      alpha: float = 0.05) -> Estimate:
    """Seeds × items crossed: ``a`` (n_seeds, n_items), ``b`` the same or one shared (n_items,) run.

    The mean over seeds and items of a - b: one stratum of :func:`stratified_bootstrap` (the method).
    """
    return stratified_bootstrap([(a, b)], resamples=resamples, rng=rng, alpha=alpha)


def stratum_parts(a, b) -> tuple[np.ndarray, np.ndarray, float]:
    """(per-question mean over seeds (n,), per-seed mean over questions (S,), residual mean square)."""
    try:
        one_run = np.ndim(a) == 1
    except ValueError:  # ragged rows: crossed_diffs says what is wrong
        one_run = False
    d = paired_diffs(a, b)[None] if one_run else crossed_diffs(a, b)
    S, n = d.shape
    cols, rows = d.mean(axis=0), d.mean(axis=1)
    if S < 2 or n < 2:
        return cols, rows, 0.0
    resid = d - rows[:, None] - cols[None, :] + d.mean()
    return cols, rows, float(np.sum(resid ** 2) / ((S - 1) * (n - 1)))


def _item_var(cols: np.ndarray, ms_res: float, S: int, w: float) -> float:
    """w² σ²_item / n: the question part of a stratum's variance, its seed × item residual taken out."""
    if cols.size < 2:
        return 0.0
    return w ** 2 * max(0.0, float(np.var(cols, ddof=1)) - ms_res / S) / cols.size


def _seed_estimate(parts, S: int, w: float, alpha: float) -> Estimate:
    """Three or more seeds: the interval and p of `SeedLaw` (items normal + seeds t(S − 1))."""
    theta_s = np.sum([w * rows for _, rows, _ in parts], axis=0)                    # (S,)
    effect = float(theta_s.mean())
    law = SeedLaw(sum(_item_var(cols, r, S, w) for cols, _, r in parts), float(np.var(theta_s, ddof=1)) / S, S - 1)
    if law.se == 0.0:  # every seed and question gives the same difference: exact
        lo = hi = effect
        p, mde = (0.0 if effect != 0 else 1.0), 0.0
    else:
        half = law.quantile(1 - alpha / 2)
        lo, hi, p = effect - half, effect + half, law.two_sided(effect)
        mde = half + law.quantile(0.8)
    pooled = np.concatenate([cols for cols, _, _ in parts])
    return Estimate(n=pooled.size, n_seeds=S, effect=effect, ci_low=float(lo), ci_high=float(hi),
                    p_value=dual_p(p, lo, hi, alpha), sd_diff=sample_sd(pooled), mde=float(mde), resamples=0,
                    alpha=float(alpha), se=law.se, seed_sd=math.sqrt(law.seed_var * S),
                    item_var=law.item_var, seed_var=law.seed_var)


def stratified_bootstrap(strata, *, resamples: int, rng: np.random.Generator,
                         alpha: float = 0.05) -> Estimate:
    """Mean over strata (benchmarks, equal weights) of each stratum's mean paired difference.

    ``strata``: a sequence of ``(a, b)``: 1-D paired item scores (one training run), or
    ``a`` of shape (n_seeds, n_items) with ``b`` of that shape or one shared (n_items,) run.
    Every stratum has the same seeds (the same trained models answer every benchmark).
    Method: the module docstring (item bootstrap below 3 seeds, `SeedLaw` from 3). With one seed
    and one stratum this is exactly :func:`loraplace.judging.bootstrap.paired_bootstrap`.

    ``se`` = sqrt(sum_k w_k² s_k² / n_k) below 3 seeds (s_k the SD of stratum k's seed-averaged
    question differences), the law's sqrt(item_var + seed_var) from 3; ``mde`` the single-test
    MDE at 80 % power (z below 3 seeds, the law's quantiles from 3).
    """
    if len(strata) < 1:
        raise ValueError("need at least one stratum, got 0")
    check_common(resamples, alpha, rng)
    parts = [stratum_parts(a, b) for a, b in strata]
    seeds = {rows.size for _, rows, _ in parts}
    if len(seeds) > 1:
        raise ValueError(f"every stratum must have the same seeds (the same trained runs), got seed counts {sorted(seeds)}")
    S, K = seeds.pop(), len(parts)
    w = 1.0 / K
    var_k = np.array([w ** 2 * sample_sd(cols) ** 2 / cols.size for cols, _, _ in parts])  # analytic item variance
    total = float(var_k.sum())
    out_strata = tuple(Stratum(cols.size, w, float(cols.mean()), math.sqrt(sample_sd(cols) ** 2 / cols.size),
                               float(v / total) if total > 0 else w)
                       for (cols, _, _), v in zip(parts, var_k))
    if S >= MIN_SEEDS_FOR_SPREAD:
        est = _seed_estimate(parts, S, w, alpha)
        return Estimate(**{**est.__dict__, "strata": out_strata})
    boots = [bootstrap_distribution(cols, resamples=resamples, rng=rng) for cols, _, _ in parts]
    boot = np.mean(boots, axis=0) if K > 1 else boots[0]
    effect = float(np.mean([cols.mean() for cols, _, _ in parts]))
    pooled = np.concatenate([cols for cols, _, _ in parts])
    return estimate_from_boot(boot, effect, n=pooled.size, n_seeds=S, sd_diff=sample_sd(pooled),
                              se=math.sqrt(total), resamples=resamples, alpha=alpha, strata=out_strata)
