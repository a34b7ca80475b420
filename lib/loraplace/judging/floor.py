"""Exact bounds for a pass rate at the floor: Clopper–Pearson for one run, layered over seeds.

One training run: the exact (Clopper–Pearson) interval of k / n. Several runs answering the same
questions: the answers are not S × n independent trials (a question one seed solves, the others
tend to solve too), so pooling them would overstate the evidence. With K_q the number of runs that
solved question q (0..S), the mean pass rate is p = (1/S) Σ_{j=1..S} P(K >= j) (the layer-cake
identity), and each layer P(K >= j) is a plain binomial proportion over the n questions. Each
layer gets its exact interval at alpha / S (Bonferroni over the S layers), and the bounds are
averaged: the interval covers p with probability >= 1 - alpha whatever the correlation between
runs on a question. With S = 1 it is exactly Clopper–Pearson.
"""
from __future__ import annotations

import math

import numpy as np

from loraplace.judging.bootstrap import check_alpha

__all__ = ["proportion_ci", "layered_ci"]


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
    check_alpha(alpha)
    lower = 0.0 if k == 0 else 1.0 - _bisect(lambda p: 1.0 - _binom_cdf(k - 1, n, 1.0 - p), alpha / 2)
    upper = 1.0 if k == n else _bisect(lambda p: _binom_cdf(k, n, p), alpha / 2)
    return lower, upper


def layered_ci(solved, runs: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact 1 - alpha interval of the mean pass rate over `runs` runs answering the same questions.

    ``solved``: per question, how many runs solved it (integers 0..runs), so n = len(solved)
    questions are the clusters. See the module docstring; ``runs == 1`` is :func:`proportion_ci`.
    """
    k = np.asarray(solved)
    if k.ndim != 1 or k.size < 1 or not np.all((k == np.round(k)) & (k >= 0) & (k <= runs)):
        raise ValueError(f"solved must be 1-D counts in 0..{runs} per question, got {k!r}")
    if isinstance(runs, bool) or int(runs) != runs or runs < 1:
        raise ValueError(f"runs must be a positive integer, got {runs!r}")
    check_alpha(alpha)
    bounds = [proportion_ci(int(np.sum(k >= j)), k.size, alpha / runs) for j in range(1, runs + 1)]
    return float(np.mean([lo for lo, _ in bounds])), float(np.mean([hi for _, hi in bounds]))
