"""The resample-index memo (`loraplace.judging.index_memo`): memoised draws give bit-identical
estimates to fresh ones, leave the generator where a fresh draw would, and never let a
generator that has already drawn reuse a fresh generator's matrix."""
from __future__ import annotations

import numpy as np
import pytest

from loraplace.judging import stats
from loraplace.judging.index_memo import MEMO, IndexMemo

SEED = 3407


def _data(seed=0):
    g = np.random.default_rng(seed)
    one = (g.integers(0, 2, 57).astype(float), g.integers(0, 2, 57).astype(float))
    crossed = [(g.integers(0, 2, (2, n)).astype(float), g.integers(0, 2, n).astype(float)) for n in (40, 23, 40)]
    return one, crossed


CASES = [
    ("paired, one run", lambda d, rng: stats.paired_bootstrap(*d[0], resamples=2000, rng=rng)),
    ("three strata, two seeds (the item bootstrap; from three seeds the interval is analytic)",
     lambda d, rng: stats.stratified_bootstrap(d[1], resamples=2000, rng=rng)),
]


@pytest.fixture(autouse=True)
def _fresh_memo():
    MEMO.clear()
    yield
    MEMO.clear()


@pytest.mark.parametrize("name,run", CASES, ids=[c[0] for c in CASES])
def test_memoised_estimates_equal_fresh_ones_bit_for_bit(name, run):
    data = _data()
    with MEMO.disabled():
        fresh = run(data, np.random.default_rng(SEED))
    first = run(data, np.random.default_rng(SEED))  # fills the memo
    hits = MEMO.hits
    again = run(data, np.random.default_rng(SEED))  # served from it
    assert MEMO.hits > hits
    assert fresh == first == again  # every field, floats compared exactly


def test_a_hit_leaves_the_generator_where_a_fresh_draw_would():
    d = np.arange(31, dtype=float)
    with MEMO.disabled():
        rng = np.random.default_rng(SEED)
        stats.bootstrap_distribution(d, resamples=500, rng=rng)
        after_fresh = rng.integers(0, 1 << 30, 5)
    stats.bootstrap_distribution(d, resamples=500, rng=np.random.default_rng(SEED))
    rng = np.random.default_rng(SEED)
    stats.bootstrap_distribution(d, resamples=500, rng=rng)
    assert MEMO.hits == 1
    assert np.array_equal(rng.integers(0, 1 << 30, 5), after_fresh)


def test_a_generator_that_has_drawn_does_not_reuse_a_fresh_ones_matrix():
    d = np.arange(31, dtype=float)
    stats.bootstrap_distribution(d, resamples=500, rng=np.random.default_rng(SEED))
    used = np.random.default_rng(SEED)
    used.integers(0, 10, 3)
    got = stats.bootstrap_distribution(d, resamples=500, rng=used)
    with MEMO.disabled():
        used2 = np.random.default_rng(SEED)
        used2.integers(0, 10, 3)
        want = stats.bootstrap_distribution(d, resamples=500, rng=used2)
    assert MEMO.hits == 0
    assert np.array_equal(got, want)


def test_memory_is_bounded_and_evicted_entries_are_redrawn_identically():
    memo = IndexMemo(max_bytes=2 * 100 * 50)  # room for two (100, 50) uint8 matrices
    draws = {}
    for seed in range(4):
        rng = np.random.default_rng(seed)
        chunks = list(memo.draw(rng, 50, 100, lambda rng=rng: stats.resample_indices(rng, 50, 100)))
        draws[seed] = np.concatenate(chunks)
    assert len(memo._entries) == 2 and memo._bytes <= memo.max_bytes
    rng = np.random.default_rng(0)  # evicted: drawn again, the same values
    again = np.concatenate(list(memo.draw(rng, 50, 100, lambda: stats.resample_indices(rng, 50, 100))))
    assert memo.hits == 0 and np.array_equal(again, draws[0])
    rng = np.random.default_rng(3)  # kept: served, the same values in a smaller dtype
    served = np.concatenate(list(memo.draw(rng, 50, 100, lambda: stats.resample_indices(rng, 50, 100))))
    assert memo.hits == 1 and served.dtype == np.uint8 and np.array_equal(served, draws[3])
