"""The claim registry and the verdict rule, on synthetic evidence whose truth we built in."""
import numpy as np
import pytest
import scipy.stats

from loraplace.claims.registry import CLAIMS, get_claim
from loraplace.evidence.records import Evidence, Record
from loraplace.judging.evaluate import evaluate
from loraplace.judging.rule import FLOOR, decide
from loraplace.study import MODELS

N = 400


def _evidence(effects: dict, base_rate=0.4, seed=0, churn=20, seeds=(1,), base_seeds=(1,)) -> Evidence:
    """Base and recurrent-only GSM8K runs; effects: topology -> true accuracy change.

    `churn` items flip up and as many down on top of the net change (so no run equals the base)."""
    rng = np.random.default_rng(seed)
    records = []
    for model in MODELS.values():
        base = rng.random(N) < base_rate
        # flip a fraction of items so that the paired difference has the requested mean
        change = effects[model.topology]
        tuned = base.copy()
        k = int(abs(change) * N)
        pool = np.flatnonzero(~base if change > 0 else base)
        tuned[rng.choice(pool, size=k, replace=False)] = change > 0
        ups, downs = np.flatnonzero(~tuned & ~base), np.flatnonzero(tuned & base)
        tuned[rng.choice(ups, size=churn, replace=False)] = True
        tuned[rng.choice(downs, size=churn, replace=False)] = False
        runs = [("base", "base", base, s) for s in base_seeds]
        runs += [(model.condition("recurrent"), "gsm8k_train", np.roll(tuned, 3 * j) if j else tuned, s)
                 for j, s in enumerate(seeds)]
        for cond, domain, scores, s_ in runs:
            records += [Record(model.key, model.topology, cond, domain, s_, "gsm8k", f"gsm8k:{i}", float(s),
                               "as-published") for i, s in enumerate(scores)]
    return Evidence("published", records, models={m.topology: m.key for m in MODELS.values()},
                    roles={m.key: dict(m.conditions) for m in MODELS.values()})


def _c2(effects, **kw):
    """The study parts' verdicts by topology (the factorial-cell parts have no data here)."""
    return {v.topology: v for v in evaluate(get_claim("C2"), _evidence(effects, **kw), "as-published",
                                            resamples=2000, seed=1) if v.family == "study"}


def test_c2_supported_when_the_data_says_so():
    v = _c2({"sequential": -0.15, "parallel": 0.10})
    assert v["sequential"].verdict == "supported" and v["parallel"].verdict == "supported"
    assert v["sequential"].effect_pp == pytest.approx(-15.0) and v["parallel"].effect_pp == pytest.approx(10.0)
    assert v["sequential"].n == N and v["sequential"].ci_high_pp < 0


def test_c2_refuted_when_the_data_goes_the_other_way():
    v = _c2({"sequential": 0.15, "parallel": -0.10})
    assert v["sequential"].verdict == "refuted" and v["parallel"].verdict == "refuted"
    assert "REFUTED" in v["sequential"].verdict_line


def test_c2_inconclusive_without_an_effect():
    v = _c2({"sequential": 0.0, "parallel": 0.005})
    assert {x.verdict for x in v.values()} == {"inconclusive"}
    assert all(x.ci_low_pp <= 0 <= x.ci_high_pp for x in v.values())


def test_parts_without_data_are_unavailable_with_the_reason():
    verdicts = evaluate(get_claim("C1"), _evidence({"sequential": 0, "parallel": 0}), "as-published",
                        resamples=100, seed=1)
    assert {v.verdict for v in verdicts} == {"unavailable"}
    assert "No published records" in verdicts[0].note


def test_holm_p_is_at_least_the_raw_p_and_part_of_every_line():
    for v in _c2({"sequential": -0.15, "parallel": 0.10}).values():
        assert v.p_holm >= v.p_value
        assert f"Holm p{v.p_text} " in v.verdict_line and f"n={N}" in v.verdict_line


def test_a_p_below_the_bootstraps_resolution_is_never_printed_as_zero():
    """Every bootstrap replicate on one side: p = 0 is "< 1/B", the resolution of B resamples."""
    for v in _c2({"sequential": -0.3, "parallel": 0.3}).values():
        assert v.p_holm == 0 and "Holm p<1/" in v.verdict_line and "Holm p=0 " not in v.verdict_line


def test_the_paper_tracks_protocol_is_in_every_verdict_line():
    ev = _evidence({"sequential": -0.15, "parallel": 0.10})
    ev.source["protocol"] = {"name": "harness"}
    for v in evaluate(get_claim("C2"), ev, "as-published", resamples=200, seed=0):
        assert v.protocol == "harness"
        assert v.verdict_line.startswith(f"{v.part_id} [published/as-published; harness protocol]")


@pytest.mark.parametrize("direction, lo, hi, p, want", [
    ("positive", 0.01, 0.2, 0.01, "supported"),
    ("positive", -0.2, -0.01, 0.01, "refuted"),
    ("negative", -0.2, -0.01, 0.01, "supported"),
    ("positive", -0.01, 0.2, 0.01, "inconclusive"),
    ("positive", 0.01, 0.2, 0.2, "inconclusive"),  # CI excludes 0 but not after Holm
    ("floor", 0.0, FLOOR / 2, 1.0, "supported"),
    ("floor", FLOOR * 2, FLOOR * 4, 1.0, "refuted"),
    ("floor", 0.0, FLOOR * 2, 1.0, "inconclusive"),
])
def test_decision_rule(direction, lo, hi, p, want):
    assert decide(direction, lo, hi, p) == want


def test_registry_states_the_study_conditions_per_role():
    qwen, falcon = MODELS["qwen3_5_0_8b_base"], MODELS["falcon_h1_0_5b_base"]
    assert [qwen.condition(r) for r in ("attention", "recurrent", "full")] == ["softmax_only", "gdn_only", "all_layers"]
    assert [falcon.condition(r) for r in ("attention", "recurrent", "full")] == ["attention_only", "ssm_only",
                                                                                  "all_eligible"]
    for claim in CLAIMS.values():  # every claim speaks about both topologies (C7: contrasts between them)
        topologies = {p.topology for p in claim.parts}
        assert claim.sentence and topologies == ({"both"} if claim.judged_on == "factorial" else {"sequential", "parallel"})
    with pytest.raises(KeyError, match="Available: C1, C2"):
        get_claim("C99")


# ─────────────────────────────────────── testability, floors, seeds, dropped items (issue 13)

def test_zero_variance_is_untestable_and_out_of_holms_family():
    v = _c2({"sequential": 0.0, "parallel": 0.10}, churn=0)   # sequential: tuned == base on every item
    assert v["sequential"].verdict == "untestable" and "zero variance" in v["sequential"].verdict_line
    assert v["parallel"].family_size == 1                        # only the testable comparison
    assert v["parallel"].p_holm == v["parallel"].p_value         # m = 1: no adjustment


def test_lines_say_one_training_run_and_questions_separately():
    v = _c2({"sequential": -0.15, "parallel": 0.10}, seeds=(3407,), base_seeds=(3407,))
    assert "n=400 questions, one training run (seed 3407)" in v["sequential"].verdict_line
    assert v["sequential"].n_a == v["sequential"].n_b == N and not v["sequential"].dropped


def test_two_seeds_say_the_spread_is_not_estimable_three_estimate_it():
    two = _c2({"sequential": -0.15, "parallel": 0.10}, seeds=(1, 2))
    assert two["sequential"].n == N and two["sequential"].n_seeds == 2
    assert "SUPPORTED (about these runs; between-seed spread not estimable)" in two["sequential"].verdict_line
    assert two["sequential"].seed_sd_pp is None and two["sequential"].about_these_runs
    three = _c2({"sequential": -0.15, "parallel": 0.10}, seeds=(1, 2, 3))
    assert "3 training runs (SD of the per-seed effects" in three["sequential"].verdict_line
    assert "about these runs" not in three["sequential"].verdict_line
    assert three["sequential"].seed_sd_pp is not None and three["sequential"].interval == "items normal + seeds t(2)"


def test_a_base_with_several_runs_is_an_error_not_a_silent_choice():
    # a data error, not missing data: it fails the test with its message instead of becoming a skip
    with pytest.raises(ValueError, match=r"base model has runs for seeds \[1, 2\]"):
        _c2({"sequential": -0.15, "parallel": 0.10}, base_seeds=(1, 2))


def _floor_evidence(passes: int, n: int = 164, scorer: str = "corrected", track: str = "published") -> Evidence:
    records = []
    for model in MODELS.values():
        for role, cond in model.conditions.items():
            if role == "base":
                continue
            records += [Record(model.key, model.topology, cond, "codealpaca", 3407, "humaneval", f"humaneval:{i}",
                               float(i < passes), scorer) for i in range(n)]
    return Evidence(track, records, models={m.topology: m.key for m in MODELS.values()},
                    roles={m.key: dict(m.conditions) for m in MODELS.values()})


@pytest.mark.parametrize("passes", [0, 1, 4, 12, 20])
def test_floor_uses_the_exact_clopper_pearson_bound(passes):
    lo, hi = scipy.stats.beta.ppf(0.025, passes, 165 - passes), scipy.stats.beta.ppf(0.975, passes + 1, 164 - passes)
    lo = 0.0 if passes == 0 else lo
    m = len([r for r in MODELS["qwen3_5_0_8b_base"].conditions if r != "base"])
    lo_bonf = scipy.stats.beta.ppf(0.025 / m, passes, 165 - passes) if passes else 0.0
    want = "supported" if hi < FLOOR else "refuted" if lo_bonf > FLOOR else "inconclusive"
    v = evaluate(get_claim("C6"), _floor_evidence(passes), "corrected", resamples=100, seed=1)[0]
    assert v.verdict == want
    assert v.ci_high_pp == pytest.approx(100 * hi, abs=1e-6) and v.ci_low_pp == pytest.approx(100 * lo, abs=1e-6)
    assert "exact 95 %" in v.verdict_line


def test_a_floor_over_several_training_runs_treats_questions_as_clusters():
    # the tiny default profile: three runs per condition solving the same 3 questions; pooled as 492
    # independent answers the upper bound would be 2.6 %, but the runs add no new questions: each
    # layer P(K >= j) is 3/164, bounded exactly at alpha/3 (Bonferroni over the 3 layers)
    one = _floor_evidence(3, track="tiny")
    runs = [Record(r.model, r.topology, r.condition, r.domain, seed, r.benchmark, r.item_key, r.score, r.scorer)
            for seed in (0, 1, 2) for r in one.records]
    v = evaluate(get_claim("C6"), Evidence("tiny", runs, models=one.models, roles=one.roles), "corrected",
                 resamples=100, seed=1)[0]
    assert v.n_seeds == 3 and v.seed_sd_pp is None and v.n == 164
    assert "3 training runs, the 164 questions as clusters" in v.verdict_line
    assert v.ci_high_pp == pytest.approx(100 * scipy.stats.beta.ppf(1 - 0.05 / 6, 4, 161), abs=1e-6)
    assert v.verdict == "inconclusive"


def test_a_scorer_that_fixes_the_outcome_is_untestable(monkeypatch):
    from loraplace.judging import rule

    monkeypatch.setitem(rule.FIXED_BY_SCORER, ("published", "as-published", "humaneval"),
                        "a scorer that records 0 without executing anything")
    v = evaluate(get_claim("C6"), _floor_evidence(0, scorer="as-published"), "as-published", resamples=100, seed=1)
    assert {x.verdict for x in v} == {"untestable"} and "without executing" in v[0].verdict_line
    assert all(x.family_size == 0 for x in v)


def test_every_scorer_executes_humaneval_so_every_track_can_test_the_floor():
    """One meaning per scorer name: as-published executes the raw completion on the published
    track as on the others, so nothing is fixed by a scorer any more."""
    from loraplace.judging import rule

    assert rule.FIXED_BY_SCORER == {}
    for track in ("published", "tiny"):
        v = evaluate(get_claim("C6"), _floor_evidence(0, scorer="as-published", track=track), "as-published",
                     resamples=100, seed=1)
        assert {x.verdict for x in v} == {"supported"}          # 0/164: exact upper bound 2.2 % < 5 %


def test_inconclusive_parts_get_a_power_plan():
    v = _c2({"sequential": -0.01, "parallel": 0.005})["sequential"]
    assert v.verdict == "inconclusive" and v.power_target == "claimed" and v.power_target_pp == pytest.approx(-14.8)
    # independent: n = (z_{1-0.05/(2m)} + z_0.8)^2 sd^2 / effect^2 with the observed paired SD
    z = scipy.stats.norm.ppf(1 - 0.05 / (2 * v.family_size)) + scipy.stats.norm.ppf(0.8)
    sd = (v.ci_high_pp - v.ci_low_pp) / 100 / (2 * 1.96) * np.sqrt(N)    # ≈ the paired SD
    assert v.items_needed == pytest.approx((z * sd / 0.148) ** 2, rel=0.15)


def test_c5_is_in_the_registry_with_its_own_direction_and_is_not_judged_by_evaluate():
    c5 = get_claim("C5")
    assert c5.judged_on == "architecture"
    assert {p.direction for p in c5.parts} == {"range"}
    assert {(p.topology, p.condition_set) for p in c5.parts} == {
        (t, cs) for t in ("sequential", "parallel") for cs in ("study", "harmonized")}
    with pytest.raises(ValueError, match="judged on the architecture: loraplace.judging.efficiency.verdict"):
        evaluate(c5, _evidence({"sequential": 0.0, "parallel": 0.0}), "as-published", resamples=10, seed=0)


# ───────────────────── a constant difference, a question missing in one seed, magnitude, primary scorer

def _two_runs(seq_a, seq_b, seeds=(1,), drop: dict | None = None) -> Evidence:
    """Sequential model: base `seq_b` and recurrent-only `seq_a` per seed (0/1 vectors); parallel: random.
    `drop`: {seed: number of questions the recurrent-only run of that seed is missing}."""
    rng = np.random.default_rng(0)
    records = []
    for model in MODELS.values():
        a, b = (seq_a, seq_b) if model.topology == "sequential" else (rng.random(N) < 0.5, rng.random(N) < 0.5)
        records += [Record(model.key, model.topology, "base", "base", 1, "gsm8k", f"gsm8k:{i}", float(x),
                           "corrected") for i, x in enumerate(b)]
        for s in seeds:
            kept = N - (drop or {}).get(s, 0)
            records += [Record(model.key, model.topology, model.condition("recurrent"), "gsm8k_train", s, "gsm8k",
                               f"gsm8k:{i}", float(x), "corrected") for i, x in enumerate(a[:kept])]
    return Evidence("tiny", records, models={m.topology: m.key for m in MODELS.values()},
                    roles={m.key: dict(m.conditions) for m in MODELS.values()})


def _seq(evidence, scorer="corrected"):
    return next(v for v in evaluate(get_claim("C2"), evidence, scorer, resamples=500, seed=1)
                if v.part_id == "C2-seq")


def test_a_constant_nonzero_difference_decides_and_stays_in_the_family():
    v = _seq(_two_runs(np.zeros(N), np.ones(N)))           # every question: recurrent-only 0, base 1
    assert v.verdict == "supported" and v.p_value == 0.0 and v.family_size == 2
    assert v.effect_pp == v.ci_low_pp == v.ci_high_pp == -100.0


def test_a_question_missing_in_one_seed_is_flagged():
    rng = np.random.default_rng(3)
    v = _seq(_two_runs(rng.random(N) < 0.3, rng.random(N) < 0.5, seeds=(1, 2, 3), drop={2: 10}))
    assert (v.n, v.n_a, v.n_b) == (N - 10, N, N) and v.dropped
    assert f"gsm8k {N - 10} of {N}/{N}" in v.verdict_line


def test_the_claimed_magnitude_is_excluded_beside_the_verdict():
    rng = np.random.default_rng(4)
    base = rng.random(N) < 0.5
    near_zero = _seq(_two_runs(np.where(rng.random(N) < 0.2, ~base, base), base))
    assert near_zero.verdict == "inconclusive" and near_zero.claimed_pp == -14.8
    assert near_zero.ci_low_pp > -14.8 and near_zero.magnitude == "excluded"
    assert "INCONCLUSIVE (about these runs; between-seed spread not estimable); THE CLAIMED MAGNITUDE IS " \
           "EXCLUDED (claimed -14.8 pp)" in near_zero.verdict_line
    as_claimed = _c2({"sequential": -0.15, "parallel": 0.10})["sequential"]
    assert as_claimed.ci_low_pp <= -14.8 <= as_claimed.ci_high_pp and as_claimed.magnitude == "compatible"
    assert "MAGNITUDE" not in as_claimed.verdict_line


def test_one_pre_registered_primary_scorer_the_other_is_a_sensitivity_analysis():
    assert {p.primary_scorer for c in CLAIMS.values() for p in c.parts} == {"corrected"}
    rng = np.random.default_rng(5)
    ev = _two_runs(rng.random(N) < 0.3, rng.random(N) < 0.5)
    assert _seq(ev).primary and "sensitivity" not in _seq(ev).verdict_line
    sensitivity = _c2({"sequential": -0.15, "parallel": 0.10})["sequential"]   # the as-published scorer
    assert not sensitivity.primary and "[published/as-published] (sensitivity) SUPPORTED" in sensitivity.verdict_line
