"""The verdict rule, public: how one comparison's interval and Holm p become a verdict.

* ``supported``    the 95 % CI excludes 0 in the claimed direction and Holm-adjusted p < ALPHA
* ``refuted``      the CI excludes 0 the other way and Holm-adjusted p < ALPHA
* ``inconclusive`` otherwise — always reported with n, effect, CI, Holm p and the MDE
* ``untestable``   the data cannot decide: the scorer fixes the outcome (``FIXED_BY_SCORER``)
                   or every paired difference is the same number (zero variance)
* ``unavailable``  no data.

Beside the verdict, a part whose claim states a number (C2: −14.8 pp, +8.6 pp) gets a second
outcome: **the claimed magnitude is excluded** when that number lies outside the 95 % CI,
whatever the sign of the estimate (`magnitude`); otherwise the number is compatible with the
data. Two scorers do not give two chances: each part has one pre-registered primary scorer
(`loraplace.claims.registry.PRIMARY_SCORER`, "corrected": the scorer that measures whether the
model's answer is right); the other scorers' verdicts are reported as sensitivity analyses, and
the report's "Which claims hold" reads the primary scorer only.

With fewer than 3 seeds (every published run, and any one- or two-seed profile) a verdict is
about these training runs: the between-seed spread is not estimable, and the verdict says so.

A "floor" comparison (pass@1 at the floor) is supported iff its exact upper bound is below
FLOOR and refuted iff its lower bound is above it; with several runs the bounds treat questions as
clusters (`stats.layered_ci`), and the verdict line says so. The MDE is at Holm's strictest step,
alpha / m, at POWER (`stats.z_sum(ALPHA, POWER, m)` standard errors). Used by `loraplace.judging.evaluate` (C1–C6) and
`loraplace.judging.factorial` (C7).
"""
from __future__ import annotations

from loraplace.judging import stats

ALPHA = 0.05
FLOOR = 0.05  # "floor": pass@1 below 5 %
POWER = 0.8
# (evidence track, scorer, benchmark) whose outcome the scorer sets without looking at the output:
# none since every scorer executes HumanEval completions in every track (`scoring.gsm8k.MEANINGS`)
FIXED_BY_SCORER: dict[tuple[str, str, str], str] = {}


def decide(direction: str, lo: float, hi: float, p: float) -> str:
    """The verdict of one comparison: its interval [lo, hi] and Holm-adjusted p, claimed `direction`."""
    if direction == "floor":
        return "supported" if hi < FLOOR else "refuted" if lo > FLOOR else "inconclusive"
    if p >= ALPHA or lo <= 0 <= hi:
        return "inconclusive"
    claimed_up = direction == "positive"
    return "supported" if (lo > 0) == claimed_up else "refuted"


def magnitude(claimed_pp: float | None, lo_pp: float | None, hi_pp: float | None) -> str:
    """"excluded" when the claimed number lies outside [lo, hi], "compatible" inside, "" without one."""
    if claimed_pp is None or lo_pp is None or hi_pp is None:
        return ""
    return "compatible" if lo_pp <= claimed_pp <= hi_pp else "excluded"


def strata_dicts(est: stats.Estimate) -> tuple[dict, ...]:
    """Per benchmark stratum of an estimate: n per side, weight, effect (pp) and variance share."""
    return tuple({"name": s.name, "n_a": s.n_a, "n_b": s.n_b, "n_paired": s.n_paired, "weight": s.weight,
                  "effect_pp": 100 * s.effect, "var_share": s.var_share} for s in est.strata)
