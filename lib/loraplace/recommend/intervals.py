"""Simultaneous intervals for racing placements, the between-seed spread pooled over them.

    gains = simultaneous(runs, base, benchmarks, level)            # {name: Gain}: each vs the base
    gap = difference(runs, base, benchmarks, "a", "b", level)      # Gain of a - b, paired

An interval at the two-sided Bonferroni level ``alpha / (intervals x looks)`` for each of a family
of comparisons covers every true value of the family at every look with probability >= 1 - alpha,
so decisions read off them are right together, whatever the data made one pick (the leader is the
best-looking of many: a test of the leader against each other one, Holm over those, leaves the
selection out of its family and drops equal placements far more often than alpha; a simulation
with eleven equal placements did so in a quarter of the races).

Two families: each placement's change against the base (retention: is it below the tolerance?),
and the paired difference between two placements (target: does one beat the other?). The paired
difference cancels the base and the questions' shared difficulty, so it is much sharper than two
intervals against the base; its family is every pair, K (K - 1) / 2 of them.

The error law is the suite's `judging.seedlaw.SeedLaw` (items normal + seeds t(df)) with the parts
of `judging.crossed` -- the item part w_k^2 max(0, var_q(col_k) - MS_res,k / S) / n_k, the seed
part var_s(theta_s) / S -- except that the seeds' variance is **pooled over the placements** (sum
over placements of sum_s (theta_s - mean)^2 over the sum of (S_i - 1) degrees of freedom): two
seeds each of eleven placements give eleven degrees of freedom, where one placement alone gives
one. That assumes the spread between training seeds is alike across placements (the same recipe,
model and data). With one seed each the spread is not estimable: `pooled_df` is 0 and the caller
decides nothing. Pure: arrays in, intervals out.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from loraplace.judging.crossed import stratum_parts
from loraplace.judging.seedlaw import SeedLaw


@dataclass(frozen=True)
class Gain:
    effect: float
    low: float
    high: float
    seeds: int
    pooled_df: int  # degrees of freedom of the pooled seed variance (0: not estimable yet)


@dataclass(frozen=True)
class Parts:
    theta: np.ndarray  # (S,) per-seed effects vs the base, benchmarks averaged
    cols: tuple        # per benchmark: (n,) each question's seed-averaged difference vs the base
    residual: tuple    # per benchmark: the seed x item residual mean square / S (0 with one seed)


def parts(runs: list[dict], base: dict, benchmarks: tuple[str, ...]) -> Parts:
    """One placement's runs against the base, split as `judging.crossed` splits them."""
    w = 1.0 / len(benchmarks)
    theta, cols, resid = 0.0, [], []
    for b in benchmarks:
        a = np.stack([np.asarray(r[b], float) for r in runs])
        c, rows, ms_res = stratum_parts(a, np.asarray(base[b], float))
        theta = theta + w * rows
        cols.append(c)
        resid.append(ms_res / rows.size if rows.size > 1 else 0.0)
    return Parts(np.atleast_1d(theta), tuple(cols), tuple(resid))


def _item_var(cols, resid) -> float:
    w = 1.0 / len(cols)
    return sum(w ** 2 * max(0.0, float(np.var(c, ddof=1)) - r) / c.size for c, r in zip(cols, resid) if c.size > 1)


def pooled(got: dict[str, Parts]) -> tuple[float, int]:
    """(the seeds' variance pooled over the placements, its degrees of freedom)."""
    df = sum(p.theta.size - 1 for p in got.values())
    ss = sum(float(np.sum((p.theta - p.theta.mean()) ** 2)) for p in got.values())
    return (ss / df if df else 0.0), df


def _gain(effect: float, item_var: float, seed_var: float, df: int, level: float, seeds: int) -> Gain:
    if df:
        law = SeedLaw(item_var, seed_var, df)
        half = law.quantile(1 - level / 2) if law.se > 0 else 0.0
    else:  # one seed each: the item part alone (normal), about these runs
        half = float(norm.ppf(1 - level / 2)) * float(np.sqrt(item_var))
    return Gain(effect, effect - half, effect + half, seeds, df)


def simultaneous(runs: dict[str, list[dict]], base: dict, benchmarks: tuple[str, ...], level: float) -> dict[str, Gain]:
    """{placement: Gain vs the base} at two-sided `level` each, seeds' variance pooled."""
    got = {name: parts(rs, base, benchmarks) for name, rs in runs.items() if rs}
    var, df = pooled(got)
    return {name: _gain(float(p.theta.mean()), _item_var(p.cols, p.residual), var / p.theta.size, df, level,
                        p.theta.size) for name, p in got.items()}


def difference(runs: dict[str, list[dict]], base: dict, benchmarks: tuple[str, ...], a: str, b: str,
               level: float, got: dict[str, Parts] | None = None) -> Gain:
    """Gain of placement `a` minus placement `b`, paired by question, at two-sided `level`."""
    got = got or {name: parts(rs, base, benchmarks) for name, rs in runs.items() if rs}
    var, df = pooled(got)
    pa, pb = got[a], got[b]
    cols = tuple(ca - cb for ca, cb in zip(pa.cols, pb.cols))
    resid = tuple(ra + rb for ra, rb in zip(pa.residual, pb.residual))
    seed_var = var * (1 / pa.theta.size + 1 / pb.theta.size)
    return _gain(float(pa.theta.mean() - pb.theta.mean()), _item_var(cols, resid), seed_var, df, level,
                 min(pa.theta.size, pb.theta.size))
