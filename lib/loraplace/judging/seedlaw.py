"""The law of a crossed estimate's error with three or more seeds: items normal, seeds t(S − 1).

With S training runs per side crossed with n questions, the mean difference's error is the sum of
an *item part* (which questions were drawn, shared by every seed and by a shared base; estimated
from n − 1 degrees of freedom, so known well) and a *seed part* (which training runs were drawn:
the mean of S per-seed effects, its variance estimated from S − 1 degrees of freedom). Its law is
taken as

    X = sqrt(item_var) · Z + sqrt(seed_var) · T,     Z ~ N(0, 1),  T ~ t(S − 1),  independent,

the generalized pivotal (fiducial) law of the mean in the two-way crossed random-effects layout:
the seed part's variance is never subtracted down to 0 (its estimate is the per-seed effects'
variance, which always includes their item noise), and its S − 1 degrees of freedom stay with it
instead of being averaged away as a Satterthwaite df would (which is anti-conservative at the
small Holm levels the suite tests at; see benchmarks/seed_calibration.py). Two-sided tail
probabilities: a fixed-grid quadrature over the smoother of the two parts; quantiles by root finding (relative accuracy of a tail probability
above 1e-4: better than 1e-3, checked against a 16,001-point grid and Monte Carlo).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

__all__ = ["SeedLaw"]

_Z_POINTS = 801    # over Z the integrand varies on a scale >= 1: 801 points agree with 4,001 to 1e-15
_T_POINTS = 4001   # over theta it can be steep when the seed part is small (see the accuracy note above)


def _normalised(nodes: np.ndarray, density: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = density.copy()
    w[[0, -1]] /= 2  # trapezoid
    return nodes, w / w.sum()


_Z_GRID = _normalised(np.linspace(-12.0, 12.0, _Z_POINTS), np.exp(-0.5 * np.linspace(-12.0, 12.0, _Z_POINTS) ** 2))


@functools.lru_cache(maxsize=64)
def _t_grid(df: int) -> tuple[np.ndarray, np.ndarray]:
    """T ~ t(df) as sqrt(df) tan(theta): theta has density proportional to cos(theta)^(df - 1)."""
    theta = np.linspace(-np.pi / 2, np.pi / 2, _T_POINTS)[1:-1]
    return _normalised(math.sqrt(df) * np.tan(theta), np.cos(theta) ** (df - 1))


@dataclass(frozen=True)
class SeedLaw:
    item_var: float  # variance of the item part (normal)
    seed_var: float  # squared scale of the seed part (the per-seed effects' variance / S)
    df: int          # the seed part's degrees of freedom, S − 1

    def __post_init__(self):
        if not (self.item_var >= 0 and self.seed_var >= 0 and math.isfinite(self.item_var + self.seed_var)):
            raise ValueError(f"variances must be finite and >= 0, got item {self.item_var!r}, seed {self.seed_var!r}")
        if self.df < 1:
            raise ValueError(f"the seed part needs df >= 1 (two or more seeds), got {self.df}")

    @property
    def se(self) -> float:
        """Standard error of the estimate (the t part counted at its scale, as a plug-in)."""
        return math.sqrt(self.item_var + self.seed_var)

    def two_sided(self, x: float) -> float:
        """P(|X| >= x) for x >= 0 (trapezoid quadrature on a fixed grid, vectorised)."""
        x = abs(float(x))
        s, c = math.sqrt(self.item_var), math.sqrt(self.seed_var)
        if c == 0.0:
            return 1.0 if s == 0.0 and x == 0.0 else (0.0 if s == 0.0 else float(2 * special.ndtr(-x / s)))
        if s == 0.0:
            return float(min(1.0, 2 * special.stdtr(self.df, -x / c)))
        if c >= s:  # over Z: the t part varies on a scale c / s >= 1 in z
            z, w = _Z_GRID
            tail = special.stdtr(self.df, (s * z - x) / c) + special.stdtr(self.df, (-x - s * z) / c)
        else:       # over T = sqrt(df) tan(theta): a bounded, smooth integrand on (-pi/2, pi/2)
            t, w = _t_grid(self.df)
            tail = special.ndtr((c * t - x) / s) + special.ndtr((-x - c * t) / s)
        return float(min(1.0, max(0.0, np.dot(w, tail))))

    def quantile(self, u: float) -> float:
        """The x >= 0 with P(X > x) = 1 − u (u in [0.5, 1)): the symmetric law's u-quantile."""
        if not 0.5 <= u < 1:
            raise ValueError(f"u must be in [0.5, 1), got {u!r}")
        target = 2 * (1 - u)
        if target >= 1.0 or self.se == 0.0:
            return 0.0
        half = 1 - (1 - u) / 2  # P(|sZ| > a) + P(|cT| > b) = target bounds P(|X| > a + b)
        hi = math.sqrt(self.item_var) * special.ndtri(half) + math.sqrt(self.seed_var) * special.stdtrit(self.df, half)
        return float(optimize.brentq(lambda x: self.two_sided(x) - target, 0.0, hi, xtol=1e-14, rtol=1e-12))
