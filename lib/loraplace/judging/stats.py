"""The suite's statistics, one public name space: estimates, exact bounds, Holm, power.

Each concept lives in its own module; this one re-exports them (the names every caller uses,
`stats.crossed_bootstrap` and `stats.stratified_bootstrap` among them) and holds Holm:

* `loraplace.judging.bootstrap`  the paired bootstrap of one run, `Estimate`, the dual p
* `loraplace.judging.crossed`    seeds × items crossed, stratified by benchmark
* `loraplace.judging.seedlaw`    the error law with 3 or more seeds (items normal, seeds t(S − 1))
* `loraplace.judging.floor`      exact bounds of a pass rate (Clopper–Pearson; layered over seeds)
* `loraplace.judging.power`      MDE, items and seeds needed
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from loraplace.judging.bootstrap import (
    CHUNK_ELEMENTS,
    MIN_SEEDS_FOR_SPREAD,
    Estimate,
    Stratum,
    bootstrap_distribution,
    paired_bootstrap,
    percentile_p,
    resample_indices,
)
from loraplace.judging.crossed import crossed_bootstrap, stratified_bootstrap
from loraplace.judging.floor import layered_ci, proportion_ci
from loraplace.judging.power import estimate_mde, items_needed, law_mde, mde, plan, variance_parts, z_sum
from loraplace.judging.seedlaw import SeedLaw

__all__ = ["Estimate", "Stratum", "paired_bootstrap", "crossed_bootstrap", "stratified_bootstrap",
           "bootstrap_distribution", "resample_indices", "percentile_p", "proportion_ci", "layered_ci", "holm",
           "mde", "law_mde", "plan", "variance_parts", "estimate_mde", "items_needed", "z_sum", "SeedLaw", "CHUNK_ELEMENTS", "MIN_SEEDS_FOR_SPREAD"]


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
