"""Unit and property tests of loraplace.judging.stats (bootstrap, Holm, MDE)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from loraplace.judging import stats
from loraplace.judging.stats import (
    Estimate,
    bootstrap_distribution,
    crossed_bootstrap,
    holm,
    mde,
    paired_bootstrap,
    resample_indices,
)

FAST = settings(max_examples=30, deadline=None)


def rng(seed=0):
    return np.random.default_rng(seed)


@st.composite
def paired_binary(draw, min_n=5, max_n=60):
    """Paired 0/1 scores (a, b) of equal length."""
    n = draw(st.integers(min_n, max_n))
    bits = st.lists(st.integers(0, 1), min_size=n, max_size=n)
    return np.array(draw(bits), float), np.array(draw(bits), float)


# ─────────────────────────────────────────────────────────── paired bootstrap

@FAST
@given(paired_binary(), st.integers(0, 2**32 - 1))
def test_ci_brackets_point_estimate(ab, seed):
    est = paired_bootstrap(*ab, resamples=200, rng=rng(seed))
    assert est.ci_low <= est.effect + 1e-12 and est.effect <= est.ci_high + 1e-12
    assert 0 <= est.p_value <= 1
    assert (est.ci_low > 0 or est.ci_high < 0) == (est.p_value < est.alpha)   # dual


@FAST
@given(paired_binary(min_n=10), st.integers(0, 2**32 - 1))
def test_ci_narrows_with_more_items(ab, seed):
    a, b = ab
    small = paired_bootstrap(a, b, resamples=400, rng=rng(seed))
    large = paired_bootstrap(np.tile(a, 4), np.tile(b, 4), resamples=400, rng=rng(seed))
    assert large.effect == pytest.approx(small.effect, abs=1e-12)
    if small.ci_high - small.ci_low > 0:   # about half as wide: 1/sqrt(4)
        assert large.ci_high - large.ci_low < small.ci_high - small.ci_low


@FAST
@given(paired_binary(), st.integers(0, 2**32 - 1))
def test_same_seed_same_result(ab, seed):
    assert paired_bootstrap(*ab, resamples=200, rng=rng(seed)) == \
        paired_bootstrap(*ab, resamples=200, rng=rng(seed))


@FAST
@given(paired_binary(min_n=20), st.integers(0, 2**31))
def test_different_seeds_different_resamples(ab, seed):
    d = ab[0] - ab[1]
    if np.all(d == d[0]):   # a constant difference has a degenerate bootstrap
        return
    first = bootstrap_distribution(d, resamples=200, rng=rng(seed))
    second = bootstrap_distribution(d, resamples=200, rng=rng(seed + 1))
    assert not np.array_equal(first, second)


def test_different_seeds_give_different_cis_in_general():
    a = rng(1).integers(0, 2, 200)
    b = rng(2).integers(0, 2, 200)
    cis = {(e.ci_low, e.ci_high) for e in
           (paired_bootstrap(a, b, resamples=500, rng=rng(s)) for s in range(8))}
    assert len(cis) > 1


@FAST
@given(st.lists(st.integers(0, 1), min_size=1, max_size=80), st.integers(0, 2**32 - 1))
def test_identical_arms_give_zero_effect_and_p_one(scores, seed):
    a = np.array(scores, float)
    est = paired_bootstrap(a, a.copy(), resamples=200, rng=rng(seed))
    assert (est.effect, est.ci_low, est.ci_high, est.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_deterministic_difference_has_zero_width_and_p_zero():
    est = paired_bootstrap(np.ones(50), np.zeros(50), resamples=999, rng=rng())
    assert (est.effect, est.ci_low, est.ci_high) == (1.0, 1.0, 1.0)
    assert est.p_value == 0.0   # every replicate above 0: every interval excludes 0
    assert est.sd_diff == 0.0 and est.mde == 0.0


def test_estimate_fields():
    a, b = rng(3).integers(0, 2, 128), rng(4).integers(0, 2, 128)
    est = paired_bootstrap(a, b, resamples=300, rng=rng(), alpha=0.1)
    assert isinstance(est, Estimate)
    assert (est.n, est.n_seeds, est.resamples, est.alpha) == (128, 1, 300, 0.1)
    assert est.sd_diff == pytest.approx(np.std(a - b, ddof=1))
    assert est.mde == pytest.approx(mde(est.sd_diff, 128, alpha=0.1))


def test_p_value_is_twice_the_smaller_tail_of_the_distribution():
    d = rng(5).normal(0.1, 1, 80)
    est = paired_bootstrap(d, np.zeros(80), resamples=2000, rng=rng(6))
    boot = bootstrap_distribution(d, resamples=2000, rng=rng(6))
    tails = 2 * min(np.mean(boot <= 0), np.mean(boot >= 0))   # continuous data: no ties at 0
    assert est.p_value == pytest.approx(tails, abs=1 / 2000)   # up to one interpolation step


def test_percentile_ci_is_linear_quantile_of_the_distribution():
    d = rng(7).integers(-1, 2, 300).astype(float)
    est = paired_bootstrap(d, np.zeros(300), resamples=3000, rng=rng(8))
    boot = bootstrap_distribution(d, resamples=3000, rng=rng(8))
    assert (est.ci_low, est.ci_high) == tuple(np.percentile(boot, [2.5, 97.5]))


@pytest.mark.parametrize("seed", [0, 1])
def test_agrees_with_scipy_bootstrap(seed):
    r = rng(seed)
    a = r.binomial(1, 0.55, 300)
    b = np.where(r.random(300) < 0.6, a, r.binomial(1, 0.45, 300))   # correlated arms
    ours = paired_bootstrap(a, b, resamples=20_000, rng=rng(seed + 10))
    ref = scipy.stats.bootstrap((a, b), lambda x, y: np.mean(x - y), paired=True, vectorized=False,
                                method="percentile", n_resamples=20_000, rng=rng(seed + 20)).confidence_interval
    assert ours.ci_low == pytest.approx(ref.low, abs=0.01)
    assert ours.ci_high == pytest.approx(ref.high, abs=0.01)


@pytest.mark.slow
def test_coverage_of_true_effect():
    """95 % CI coverage over simulated paired binary data with a known effect.

    Joint cell probabilities (a, b): (1,1)=.35 (1,0)=.20 (0,1)=.10 (0,0)=.35, so
    p_a=.55, p_b=.45, true effect .10, positively correlated arms. 2,000 replications
    give a Monte Carlo SE of 0.49 pp on the coverage, so 93-97 % is a +-4 SE band.
    """
    r = rng(2024)
    cells = np.array([[1, 1], [1, 0], [0, 1], [0, 0]], float)
    hits = 0
    reps, n = 2000, 200
    for _ in range(reps):
        ab = cells[r.choice(4, size=n, p=[0.35, 0.20, 0.10, 0.35])]
        est = paired_bootstrap(ab[:, 0], ab[:, 1], resamples=1000, rng=r)
        hits += est.ci_low <= 0.10 <= est.ci_high
    assert 0.93 <= hits / reps <= 0.97


# ─────────────────────────────────────────────── stream and chunk invariance

@pytest.mark.parametrize("n", [1, 2, 3, 7, 128, 299, 512])
@pytest.mark.parametrize("chunk_rows", [None, 1, 3, 7])
def test_resample_indices_equal_one_integers_call(n, chunk_rows):
    ref_rng, our_rng = rng(n), rng(n)
    ref = ref_rng.integers(0, n, size=(37, n))
    ours = np.concatenate(list(resample_indices(our_rng, n, 37, chunk_rows=chunk_rows)))
    assert np.array_equal(ours, ref)
    assert our_rng.bit_generator.state == ref_rng.bit_generator.state


def test_chunk_size_does_not_change_results(monkeypatch):
    a, b = rng(1).integers(0, 2, 299), rng(2).integers(0, 2, 299)
    A, B = rng(3).integers(0, 2, (3, 101)), rng(4).integers(0, 2, (3, 101))
    before = (paired_bootstrap(a, b, resamples=500, rng=rng(9)),
              crossed_bootstrap(A, B, resamples=500, rng=rng(9)))
    monkeypatch.setattr(stats, "CHUNK_ELEMENTS", 1000)
    after = (paired_bootstrap(a, b, resamples=500, rng=rng(9)),
             crossed_bootstrap(A, B, resamples=500, rng=rng(9)))
    assert before == after


def test_study_scheme_is_one_matrix_of_integers():
    d = rng(11).integers(-1, 2, 256).astype(float)
    gen = np.random.default_rng(3407)
    boot = d[gen.integers(0, d.size, size=(10_000, d.size))].mean(axis=1)
    est = paired_bootstrap(d, np.zeros_like(d), resamples=10_000, rng=np.random.default_rng(3407))
    assert (est.ci_low, est.ci_high) == tuple(np.percentile(boot, [2.5, 97.5]))


# ─────────────────────────────────────────────────────────────────── Holm

def test_holm_hand_computed():
    # sorted: .005*4=.02, .01*3=.03, .03*2=.06, .04*1=.04 -> running max .06
    # back in input order [.01, .04, .03, .005] -> [.03, .06, .06, .02]
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # .01*4=.04, .02*3=.06, .03*2=.06, .04*1=.04 -> .06
    assert holm([0.01, 0.02, 0.03, 0.04]) == pytest.approx([0.04, 0.06, 0.06, 0.06])
    assert holm([0.6, 0.9]) == pytest.approx([1.0, 1.0])       # 0.6*2 capped
    assert holm([0.03]) == pytest.approx([0.03])
    assert holm([]).shape == (0,)


def _holm_rejections(p, alpha):
    """Holm's step-down procedure itself: reject while p_(k) <= alpha / (m - k)."""
    rejected = np.zeros(len(p), bool)
    for k, i in enumerate(sorted(range(len(p)), key=lambda j: p[j])):
        if p[i] > alpha / (len(p) - k):
            break
        rejected[i] = True
    return rejected


@FAST
@given(st.lists(st.floats(0, 1), min_size=1, max_size=12))
def test_holm_adjusted_p_is_smallest_rejecting_alpha(p):
    """adjusted_i <= alpha  <=>  Holm at level alpha rejects H_i (checked between levels)."""
    adj = holm(p)
    levels = np.unique(np.concatenate([[0.0, 1.0], adj]))
    gaps = [(lo + hi) / 2 for lo, hi in zip(levels[:-1], levels[1:]) if hi - lo > 1e-9]
    for alpha in gaps:
        assert np.array_equal(adj <= alpha, _holm_rejections(p, alpha))


@FAST
@given(st.lists(st.floats(0, 1), min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_holm_invariants(p, random):
    adj = holm(p)
    p = np.array(p)
    assert np.all(adj >= p) and np.all(adj <= 1.0)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(adj[order]) >= 0)                    # monotone in raw p
    perm = list(range(len(p)))
    random.shuffle(perm)
    assert holm(p[perm]) == pytest.approx(adj[perm])             # order preserved


# ──────────────────────────────────────────────────────────────────── MDE

@pytest.mark.parametrize("sd, n, alpha, power", [(0.5, 256, 0.05, 0.8), (0.7, 128, 0.05, 0.8),
                                                 (1.0, 10, 0.01, 0.9), (0.3, 512, 0.1, 0.5)])
def test_mde_closed_form(sd, n, alpha, power):
    expected = (scipy.stats.norm.ppf(1 - alpha / 2) + scipy.stats.norm.ppf(power)) * sd / np.sqrt(n)
    assert mde(sd, n, alpha=alpha, power=power) == pytest.approx(expected, rel=1e-12)


def test_mde_gives_80_percent_power_in_simulation():
    sd, n, reps = 0.6, 100, 4000
    effect = mde(sd, n)
    d = rng(12).normal(effect, sd, (reps, n))
    z = d.mean(axis=1) / (sd / np.sqrt(n))
    power = np.mean(np.abs(z) > scipy.stats.norm.ppf(0.975))
    assert power == pytest.approx(0.8, abs=0.025)   # MC SE 0.6 pp


# ──────────────────────────────────────────────────────────── validation

def _paired(**kw):
    args = dict(a=[1, 0, 1], b=[0, 0, 1], resamples=10, rng=rng(), alpha=0.05) | kw
    a, b = args.pop("a"), args.pop("b")
    return paired_bootstrap(a, b, **args)


def _hier(**kw):
    args = dict(a=[[1, 0], [1, 1]], b=[[0, 0], [1, 0]], resamples=10, rng=rng(), alpha=0.05) | kw
    a, b = args.pop("a"), args.pop("b")
    return crossed_bootstrap(a, b, **args)


CASES = [
    ("unequal lengths", lambda: _paired(b=[0, 1]), ValueError, "equal lengths"),
    ("empty", lambda: _paired(a=[], b=[]), ValueError, "n >= 1"),
    ("2-D to paired", lambda: _paired(a=[[1, 0]], b=[[1, 0]]), ValueError, "1-D"),
    ("NaN score", lambda: _paired(a=[1, np.nan, 0]), ValueError, "NaN"),
    ("zero resamples", lambda: _paired(resamples=0), ValueError, "resamples"),
    ("fractional resamples", lambda: _paired(resamples=2.5), ValueError, "resamples"),
    ("alpha zero", lambda: _paired(alpha=0.0), ValueError, "alpha"),
    ("alpha one", lambda: _paired(alpha=1.0), ValueError, "alpha"),
    ("legacy RandomState", lambda: _paired(rng=np.random.RandomState(0)), TypeError, "Generator"),
    ("int seed as rng", lambda: _paired(rng=3407), TypeError, "Generator"),
    ("seed count mismatch", lambda: _hier(a=[[1, 0], [1, 1], [0, 0]]), ValueError, "number of seeds"),
    ("item count mismatch", lambda: _hier(b=[[0, 0, 1], [1, 0, 1]]), ValueError, "number of seeds or items"),
    ("ragged seeds", lambda: _hier(a=[[1, 0], [1]]), ValueError, "same items"),
    ("no items", lambda: _hier(a=np.zeros((2, 0)), b=np.zeros((2, 0))), ValueError, "n >= 1"),
    ("no seeds", lambda: _hier(a=np.zeros((0, 2)), b=np.zeros(2)), ValueError, "at least one seed"),
    ("3-D to crossed", lambda: _hier(a=np.zeros((1, 2, 2)), b=np.zeros((1, 2, 2))),
     ValueError, "2-D"),
    ("hier alpha", lambda: _hier(alpha=1.5), ValueError, "alpha"),
    ("holm p above 1", lambda: holm([0.5, 1.2]), ValueError, r"\[0, 1\]"),
    ("holm NaN", lambda: holm([np.nan]), ValueError, r"\[0, 1\]"),
    ("mde n=0", lambda: mde(0.5, 0), ValueError, "n must"),
    ("mde negative sd", lambda: mde(-1.0, 10), ValueError, "sd_diff"),
    ("mde power", lambda: mde(0.5, 10, power=1.0), ValueError, "power"),
]


@pytest.mark.parametrize("call, error, match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_input_is_rejected(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---- stratified bootstrap (several benchmarks averaged with equal weight) ----------------------

def test_stratified_with_one_stratum_equals_paired():
    rng_data = np.random.default_rng(5)
    a, b = (rng_data.random(150) < 0.6).astype(float), (rng_data.random(150) < 0.5).astype(float)
    one = stats.stratified_bootstrap([(a, b)], resamples=2000, rng=np.random.default_rng(9))
    ref = stats.paired_bootstrap(a, b, resamples=2000, rng=np.random.default_rng(9))
    assert (one.effect, one.ci_low, one.ci_high, one.p_value) == (ref.effect, ref.ci_low, ref.ci_high, ref.p_value)


def test_stratified_point_is_the_mean_of_stratum_means():
    rng_data = np.random.default_rng(6)
    strata = [((rng_data.random(n) < p).astype(float), (rng_data.random(n) < 0.5).astype(float))
              for n, p in ((100, 0.7), (300, 0.5), (50, 0.4))]
    est = stats.stratified_bootstrap(strata, resamples=1000, rng=np.random.default_rng(1))
    want = np.mean([np.mean(a - b) for a, b in strata])  # equal weight per stratum, not per item
    assert est.effect == pytest.approx(want)
    assert est.n == 450 and est.ci_low <= est.effect <= est.ci_high


def test_stratified_strata_share_the_seeds():
    rng_data = np.random.default_rng(7)
    seeds_a, seeds_b = rng_data.random((3, 80)).round(), rng_data.random(80).round()   # shared base
    more_a, more_b = rng_data.random((3, 40)).round(), rng_data.random((3, 40)).round()
    est = stats.stratified_bootstrap([(seeds_a, seeds_b), (more_a, more_b)], resamples=500,
                                     rng=np.random.default_rng(2))
    want = (np.mean(seeds_a - seeds_b) + np.mean(more_a - more_b)) / 2
    assert est.effect == pytest.approx(want) and est.n_seeds == 3 and est.n == 120   # questions, not runs
    assert [s.n_paired for s in est.strata] == [80, 40] and [s.weight for s in est.strata] == [0.5, 0.5]
    assert sum(s.var_share for s in est.strata) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same seeds"):
        stats.stratified_bootstrap([(seeds_a, seeds_b), (more_a[0], more_b[0])], resamples=10, rng=rng())


# ───────────────────────────────────────── CI / p duality at the boundary (issue 24)

def test_dual_p_lets_the_interval_decide_at_the_boundary():
    from loraplace.judging.bootstrap import dual_p
    assert dual_p(0.049999, 0.0, 0.3, 0.05) == 0.05          # touches 0: not excluded, so p is not < alpha
    assert dual_p(0.05, 1e-18, 0.3, 0.05) < 0.05             # excludes 0 by a hair: p just below alpha
    assert dual_p(0.2, -0.1, 0.3, 0.05) == 0.2 and dual_p(0.001, 0.01, 0.3, 0.05) == 0.001


@settings(max_examples=40, deadline=None)
@given(st.integers(3, 6), st.integers(2, 30), st.integers(0, 2**32 - 1), st.sampled_from([0.05, 0.05 / 6, 0.05 / 36]))
def test_crossed_interval_and_p_are_dual_at_every_level(S, n, seed, alpha):
    r = np.random.default_rng(seed)
    a, b = r.integers(0, 2, (S, n)).astype(float), r.integers(0, 2, (S, n)).astype(float)
    est = stats.crossed_bootstrap(a, b, resamples=10, rng=r, alpha=alpha)
    assert (est.ci_low > 0 or est.ci_high < 0) == (est.p_value < alpha)
    assert est.ci_low <= est.effect <= est.ci_high
