"""Power: the minimum detectable effect and the items (or seeds) a comparison needs.

Consistent with the test a verdict uses (`loraplace.judging.crossed`): one or two training runs,
a normal approximation to the item bootstrap (z); three or more, the crossed law
`loraplace.judging.seedlaw.SeedLaw` (items normal, seeds t(S − 1)). The MDE of a two-sided test
at alpha / family (Holm's strictest step, whatever the family's other comparisons do) with the
given power is q(1 − alpha / (2 family)) + q(power), q the law's quantiles: with seeds, the t(S − 1)
seed part makes it larger than the z formula (at 3 seeds the z MDE has far less than 80 % power).

Planning model, per comparison with n questions and S seeds: var = item_var · n_now / n +
seed_var · S_now / S, the seed part's degrees of freedom S − 1 (its per-seed item noise is kept
with it, so more items never shrink it: conservative). When the seed part alone keeps the MDE
above the target no item count suffices, and the plan gives the seeds needed instead.
"""
from __future__ import annotations

import math
from statistics import NormalDist

from loraplace.judging.bootstrap import MIN_SEEDS_FOR_SPREAD, Estimate, check_alpha
from loraplace.judging.seedlaw import SeedLaw

__all__ = ["z_sum", "mde", "items_needed", "law_mde", "plan", "variance_parts", "estimate_mde", "MAX_ITEMS", "MAX_SEEDS"]

MAX_ITEMS = 10_000_000  # searched up to this many questions
MAX_SEEDS = 1_000


def z_sum(alpha: float = 0.05, power: float = 0.8, family: int = 1) -> float:
    """z_{1 - alpha/(2 family)} + z_power: two-sided test at Holm's strictest step alpha / family."""
    check_alpha(alpha)
    check_alpha(power, "power")
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
    return float(z_sum(alpha, power, family) * sd_diff / math.sqrt(n))


def items_needed(sd_diff: float, effect: float, *, alpha: float = 0.05, power: float = 0.8,
                 family: int = 1) -> int:
    """Fewest paired items n with mde(sd_diff, n, …) <= |effect|: ceil((z_sum sd / effect)^2)."""
    if sd_diff < 0 or not math.isfinite(sd_diff):
        raise ValueError(f"sd_diff must be finite and >= 0, got {sd_diff}")
    if effect == 0 or not math.isfinite(effect):
        raise ValueError(f"effect must be finite and non-zero, got {effect}")
    return max(1, math.ceil((z_sum(alpha, power, family) * sd_diff / abs(effect)) ** 2 - 1e-9))


def _check_family(family) -> int:
    if isinstance(family, bool) or int(family) != family or family < 1:
        raise ValueError(f"family must be a positive integer, got {family!r}")
    return int(family)


def law_mde(item_var: float, seed_var: float, n_seeds: int, *, alpha: float = 0.05, power: float = 0.8,
            family: int = 1) -> float:
    """MDE of an estimate with that item and seed variance: z (fewer than 3 seeds: no seed term,
    the item variance only) or the `SeedLaw` quantiles (3 or more)."""
    check_alpha(alpha)
    check_alpha(power, "power")
    family = _check_family(family)
    if n_seeds < MIN_SEEDS_FOR_SPREAD:
        return z_sum(alpha, power, family) * math.sqrt(item_var)
    law = SeedLaw(item_var, seed_var, n_seeds - 1)
    return law.quantile(1 - alpha / (2 * family)) + law.quantile(power) if law.se > 0 else 0.0


def _first(ok, lo: int, hi: int) -> int | None:
    """Smallest x in [lo, hi] with ok(x) (ok monotone), None if ok(hi) is false."""
    if not ok(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid + 1, hi)
    return lo


def plan(item_var: float, seed_var: float, n: int, n_seeds: int, target: float, *, alpha: float = 0.05,
         power: float = 0.8, family: int = 1) -> dict:
    """Items and seeds for `power` at alpha / family to detect |target| (see the module docstring).

    Returns ``items_needed`` (fewest questions at n_seeds seeds; None when no number suffices
    because the seed part dominates), ``seeds_needed`` (3 or more seeds: the fewest seeds with
    which some number of questions suffices), and ``items_at_seeds_needed``.
    """
    if not (math.isfinite(target) and target != 0):
        raise ValueError(f"target must be finite and non-zero, got {target!r}")
    goal = abs(target)

    def mde_at(items: float, seeds: int) -> float:
        scale_seed = seed_var * n_seeds / seeds if n_seeds >= MIN_SEEDS_FOR_SPREAD else 0.0
        return law_mde(item_var * n / items, scale_seed, seeds, alpha=alpha, power=power, family=family)

    out = {"items_needed": _first(lambda m: mde_at(m, n_seeds) <= goal, 1, MAX_ITEMS)}
    if n_seeds >= MIN_SEEDS_FOR_SPREAD:
        seeds = _first(lambda s: mde_at(math.inf, s) < goal, MIN_SEEDS_FOR_SPREAD, MAX_SEEDS)
        out["seeds_needed"] = seeds
        if seeds is not None and out["items_needed"] is None:
            out["items_at_seeds_needed"] = _first(lambda m: mde_at(m, seeds) <= goal, 1, MAX_ITEMS)
    return out


def variance_parts(est: Estimate) -> tuple[float, float]:
    """(item part, seed part) of an estimate's variance: with fewer than 3 seeds all of se² is the item part."""
    if est.n_seeds >= MIN_SEEDS_FOR_SPREAD and est.item_var is not None:
        return est.item_var, est.seed_var
    return est.se ** 2, 0.0


def estimate_mde(est: Estimate, alpha: float = 0.05, power: float = 0.8, family: int = 1) -> float:
    """The MDE a verdict states: :func:`law_mde` of the estimate's own variance parts at alpha / family."""
    if not math.isfinite(est.se):
        return float("nan")
    return law_mde(*variance_parts(est), est.n_seeds, alpha=alpha, power=power, family=family)
