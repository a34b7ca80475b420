"""`loraplace plan`'s CPU estimate: per-token costs times the plan's tokens, probed or FLOP-based."""
from __future__ import annotations

import pytest

from loraplace.tracks.paper import plan as paper_plan
from loraplace.tracks.paper.estimate import Probe, estimate_cpu_hours, probe_model

# smoke, by hand from its profile: 4 steps x (2 x 2) x 256 trained tokens; evaluation 6 items a
# benchmark (4 HumanEval), prompts capped at 160 tokens, generations at 24
SMOKE_TRAIN = 4 * 2 * 2 * 256
SMOKE_PREFILL = 6 * 160 + 6 * 4 * 120 + 6 * 4 * 60 + 6 * 4 * 100 + 4 * 150
SMOKE_DECODE = 6 * 24 + 4 * 24


def test_the_smoke_plans_tokens_are_counted_with_its_caps():
    runs = paper_plan.plan(paper_plan.profile("smoke"))
    tokens = {paper_plan.run_tokens(r) for r in runs}
    assert tokens == {(0, SMOKE_PREFILL, SMOKE_DECODE), (SMOKE_TRAIN, SMOKE_PREFILL, SMOKE_DECODE)}


def test_a_probed_estimate_is_tokens_times_measured_seconds():
    runs = paper_plan.plan(paper_plan.profile("smoke"))
    models = {r.model for r in runs}
    probe = Probe(train_s_per_token=2e-3, prefill_s_per_token=5e-4, decode_s_per_token=1e-2, threads=1)
    est = estimate_cpu_hours(runs, {m: 1 for m in models}, 1e9, measured={m: probe for m in models})
    fine_tunes, bases = sum(not r.is_base for r in runs), sum(r.is_base for r in runs)
    per_eval = SMOKE_PREFILL * 5e-4 + SMOKE_DECODE * 1e-2
    expected = (fine_tunes * (SMOKE_TRAIN * 2e-3 + per_eval) + bases * per_eval) / 3600
    assert est["method"] == "probed" and est["cpu_hours"] == pytest.approx(expected, abs=1e-3)


def test_without_a_probe_the_estimate_is_flop_based_and_says_so():
    runs = paper_plan.plan(paper_plan.profile("smoke"))
    n = {r.model: 1_000_000 for r in runs}
    est = estimate_cpu_hours(runs, n, 10e9)
    fine_tunes, bases = sum(not r.is_base for r in runs), sum(r.is_base for r in runs)
    flops = fine_tunes * (8 * 1e6 * SMOKE_TRAIN) + len(runs) * 2 * 1e6 * (SMOKE_PREFILL + SMOKE_DECODE)
    assert est["method"] == "flops"
    assert est["cpu_hours"] == pytest.approx(flops / (10e9 * est["assumptions"]["utilisation"]) / 3600, abs=1e-3)
    assert bases == 2


def test_a_probe_times_a_real_model():
    from loraplace.models.zoo import build_tiny_model

    pr = probe_model(build_tiny_model("falcon_h1_0_5b_base"), batch=2, seq_len=16, decode_tokens=2)
    assert min(pr.train_s_per_token, pr.prefill_s_per_token, pr.decode_s_per_token) > 0
