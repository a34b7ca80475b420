"""The verdict rule, public: how one comparison's interval and Holm p become a verdict.

* ``supported``    the 95 % CI excludes 0 in the claimed direction and Holm-adjusted p < ALPHA
* ``refuted``      the CI excludes 0 the other way and Holm-adjusted p < ALPHA
* ``inconclusive`` otherwise — always reported with n, effect, CI, Holm p and the MDE
* ``untestable``   the data cannot decide: the scorer fixes the outcome (``FIXED_BY_SCORER``)
                   or every paired difference is the same number (zero variance)
* ``unavailable``  no data.

A "floor" comparison (pass@1 at the floor) is supported iff its exact upper bound is below
FLOOR and refuted iff its lower bound is above it. The MDE is at Holm's strictest step,
alpha / m, at POWER (`stats.z_sum(ALPHA, POWER, m)` standard errors). Used by `loraplace.judging.evaluate` (C1–C6) and
`loraplace.judging.factorial` (C7).
"""
from __future__ import annotations

from loraplace.judging import stats

ALPHA = 0.05
FLOOR = 0.05  # "floor": pass@1 below 5 %
POWER = 0.8
# (evidence track, scorer, benchmark) whose outcome the scorer sets without looking at the output
# (the tiny track's as-published HumanEval scorer does execute the raw completion: testable)
FIXED_BY_SCORER = {("published", "as-published", "humaneval"): "the as-published scorer records pass@1 = 0 "
                                                               "for every completion without executing it"}


def decide(direction: str, lo: float, hi: float, p: float) -> str:
    """The verdict of one comparison: its interval [lo, hi] and Holm-adjusted p, claimed `direction`."""
    if direction == "floor":
        return "supported" if hi < FLOOR else "refuted" if lo > FLOOR else "inconclusive"
    if p >= ALPHA or lo <= 0 <= hi:
        return "inconclusive"
    claimed_up = direction == "positive"
    return "supported" if (lo > 0) == claimed_up else "refuted"


def strata_dicts(est: stats.Estimate) -> tuple[dict, ...]:
    """Per benchmark stratum of an estimate: n per side, weight, effect (pp) and variance share."""
    return tuple({"name": s.name, "n_a": s.n_a, "n_b": s.n_b, "n_paired": s.n_paired, "weight": s.weight,
                  "effect_pp": 100 * s.effect, "var_share": s.var_share} for s in est.strata)
