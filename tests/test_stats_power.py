"""Exact floor bounds, the p dual to the percentile interval, MDE / items at Holm's level, `loraplace power`."""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from loraplace.cli import main
from loraplace.judging import stats
from loraplace.judging.stats import items_needed, mde, percentile_p, proportion_ci

FAST = settings(max_examples=60, deadline=None)


# ─────────────────────────────────────────────────── Clopper–Pearson

def test_the_issue_example():
    lo, hi = proportion_ci(4, 164, alpha=0.05)
    assert hi == pytest.approx(0.0613, abs=5e-5)
    assert (lo, hi) == pytest.approx((scipy.stats.beta.ppf(0.025, 4, 161), scipy.stats.beta.ppf(0.975, 5, 160)),
                                     abs=1e-9)


@FAST
@given(st.integers(1, 600).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
       st.sampled_from([0.01, 0.05, 0.1, 0.2]))
def test_matches_the_beta_quantiles(kn, alpha):
    k, n = kn
    lo, hi = proportion_ci(k, n, alpha)
    want_lo = 0.0 if k == 0 else scipy.stats.beta.ppf(alpha / 2, k, n - k + 1)
    want_hi = 1.0 if k == n else scipy.stats.beta.ppf(1 - alpha / 2, k + 1, n - k)
    assert lo == pytest.approx(want_lo, abs=1e-9) and hi == pytest.approx(want_hi, abs=1e-9)
    assert lo <= k / n <= hi


@pytest.mark.parametrize("true_p", [0.01, 0.03, 0.05, 0.1, 0.3])
def test_exact_coverage_at_least_nominal(true_p):
    """Coverage summed exactly over the binomial law (no simulation noise), n = 164."""
    n = 164
    k = np.arange(n + 1)
    covered = np.array([lo <= true_p <= hi for lo, hi in (proportion_ci(int(x), n) for x in k)])
    assert scipy.stats.binom.pmf(k, n, true_p)[covered].sum() >= 0.95


def test_floor_false_support_rate_at_the_boundary():
    """P(upper bound < 5 % | true pass@1 = 5 %), n = 164: at most 2.5 % with the exact bound.

    The percentile bootstrap of one proportion (the old floor rule) says "below 5 %" at 4/164
    (upper 4.88 %), i.e. about 8 % of the time at the boundary: its rate is shown for contrast.
    """
    n, k = 164, np.arange(165)
    pmf = scipy.stats.binom.pmf(k, n, 0.05)
    exact = pmf[[proportion_ci(int(x), n)[1] < 0.05 for x in k]].sum()
    boot_upper = [np.quantile(np.random.default_rng(3407).binomial(n, x / n, 10_000) / n, 0.975) for x in range(9)]
    percentile = pmf[:9][[u < 0.05 for u in boot_upper]].sum()
    assert exact <= 0.025 < percentile


@pytest.mark.parametrize("k, n", [(-1, 5), (6, 5), (0, 0), (1.5, 4), (True, 4)])
def test_invalid_counts(k, n):
    with pytest.raises(ValueError, match="k"):
        proportion_ci(k, n)


# ─────────────────────────────────────────── p dual to the percentile CI

@FAST
@given(st.lists(st.integers(-3, 3), min_size=1, max_size=60), st.sampled_from([0.01, 0.05, 0.1, 0.3]))
def test_percentile_p_is_dual_to_the_interval(values, alpha):
    boot = np.array(values, float) / 3
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    assert (lo > 0 or hi < 0) == (percentile_p(boot) < alpha)


def test_percentile_p_is_about_twice_the_smaller_tail():
    boot = np.random.default_rng(1).normal(0.3, 0.15, 200_000)
    assert percentile_p(boot) == pytest.approx(2 * scipy.stats.norm.cdf(-2.0), abs=0.002)
    assert percentile_p(np.zeros(10)) == 1.0 and percentile_p(np.ones(10)) == 0.0


# ──────────────────────────────────────────────── power at Holm's level

@pytest.mark.parametrize("sd, effect, alpha, power, family", [(0.45, 0.05, 0.05, 0.8, 1), (0.45, 0.05, 0.05, 0.8, 6),
                                                             (0.3, 0.02, 0.01, 0.9, 30)])
def test_items_needed_closed_form(sd, effect, alpha, power, family):
    z = scipy.stats.norm.ppf(1 - alpha / (2 * family)) + scipy.stats.norm.ppf(power)
    n = items_needed(sd, effect, alpha=alpha, power=power, family=family)
    assert n == int(np.ceil((z * sd / effect) ** 2))
    assert mde(sd, n, alpha=alpha, power=power, family=family) <= effect < mde(sd, n - 1, alpha=alpha, power=power,
                                                                                  family=family)


def test_mde_at_holm_level_gives_80_percent_power_in_a_family_of_six():
    """Six comparisons, one with a true effect equal to its Holm-level MDE, five nulls: Holm at 0.05
    rejects the real one about 80 % of the time (simulated z statistics, 4,000 families)."""
    rng = np.random.default_rng(12)
    effect_z = stats.z_sum(0.05, 0.8, 6)              # MDE in SE units
    z = rng.normal(0, 1, (4000, 6))
    z[:, 0] += effect_z
    p = 2 * scipy.stats.norm.sf(np.abs(z))
    rejected = np.array([stats.holm(row)[0] < 0.05 for row in p])
    assert rejected.mean() == pytest.approx(0.8, abs=0.03)
    single = stats.z_sum(0.05, 0.8, 1)                 # the single-test MDE is weaker in a family
    z1 = rng.normal(0, 1, (4000, 6))
    z1[:, 0] += single
    p1 = 2 * scipy.stats.norm.sf(np.abs(z1))
    assert np.mean([stats.holm(row)[0] < 0.05 for row in p1]) < 0.65


# ─────────────────────────────────────────────────────── the command

def test_power_command_json(capsys):
    assert main(["power", "--sd-diff", "0.45", "--effect-pp", "5", "--family", "6", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    z = scipy.stats.norm.ppf(1 - 0.05 / 12) + scipy.stats.norm.ppf(0.8)
    assert out["items_needed"] == int(np.ceil((z * 0.45 / 0.05) ** 2)) and out["test_level"] == pytest.approx(0.05 / 6)
    assert main(["power", "--sd-diff", "0.45", "--items", "256", "--family", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mde_pp"] == pytest.approx(100 * 2.8016 * 0.45 / 16, rel=1e-3)


def test_power_command_needs_one_target(capsys):
    assert main(["power", "--sd-diff", "0.45"]) == 2
    assert "exactly one of --effect-pp" in capsys.readouterr().err


def test_power_command_defaults_to_the_largest_family_and_says_so(capsys):
    from loraplace.study import DOMAINS, ROLES
    # C1's controls: per topology and domain, attention@budget vs each other placement, and vs random
    largest = 2 * len(DOMAINS) * ((len(ROLES) - 1) + 1)
    assert main(["power", "--sd-diff", "0.45", "--effect-pp", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["family"] == largest == 36 and "largest Holm family (C1 controls)" in out["family_source"]
    z = scipy.stats.norm.ppf(1 - 0.05 / (2 * largest)) + scipy.stats.norm.ppf(0.8)
    assert out["items_needed"] == int(np.ceil((z * 0.45 / 0.05) ** 2))


def test_power_command_with_seeds_asks_for_more_items_or_says_none_suffice(capsys):
    def items(*extra):
        assert main(["power", "--sd-diff", "0.45", "--effect-pp", "10", "--family", "6", *extra, "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    without = items()
    small = items("--seeds", "3", "--seed-sd-pp", "0.5")
    assert small["items_needed"] > without["items_needed"]
    big = items("--seeds", "3", "--seed-sd-pp", "2")
    assert big["items_needed"] is None and big["seeds_needed"] > 3 and big["items_at_seeds_needed"] >= 1
    # independent check of "none suffices": the seed part alone, t(2) at alpha/12 and 80 %, exceeds 10 pp
    c = 2 / np.sqrt(3)
    assert c * (scipy.stats.t.ppf(1 - 0.05 / 12, 2) + scipy.stats.t.ppf(0.8, 2)) > 10
    assert main(["power", "--sd-diff", "0.45", "--effect-pp", "10", "--family", "6", "--seeds", "3",
                 "--seed-sd-pp", "2"]) == 0
    assert "no number of items reaches the power with 3 seeds" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--sd-diff", "1.5", "--effect-pp", "5"], "--sd-diff must be in (0, 1]"),
    (["--sd-diff", "0.4", "--effect-pp", "0"], "--effect-pp must be in (0, 100]"),
    (["--sd-diff", "0.4", "--effect-pp", "-3"], "--effect-pp must be in (0, 100]"),
    (["--sd-diff", "0.4", "--effect-pp", "5", "--seeds", "2", "--seed-sd-pp", "1"], "needs --seeds >= 3"),
    (["--sd-diff", "0.4", "--effect-pp", "5", "--family", "0"], "--family must be >= 1"),
])
def test_power_command_refuses_impossible_inputs_with_the_valid_range(capsys, argv, message):
    assert main(["power", *argv]) == 2
    assert message in capsys.readouterr().err


def test_law_mde_is_the_t_formula_when_the_seed_part_is_everything():
    c2 = 0.02 ** 2 / 3
    want = np.sqrt(c2) * (scipy.stats.t.ppf(1 - 0.05 / 12, 2) + scipy.stats.t.ppf(0.8, 2))
    assert stats.law_mde(0.0, c2, 3, family=6) == pytest.approx(want, rel=1e-9)
    # and the z formula with fewer than 3 seeds (no seed term)
    assert stats.law_mde(0.01 ** 2, 0.0, 1, family=6) == pytest.approx(0.01 * stats.z_sum(0.05, 0.8, 6), rel=1e-12)
    # items and seeds together: larger than either part alone
    assert stats.law_mde(0.01 ** 2, c2, 3, family=6) > max(want, 0.01 * stats.z_sum(0.05, 0.8, 6))
