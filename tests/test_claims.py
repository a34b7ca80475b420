"""The claim registry and the verdict rule, on synthetic evidence whose truth we built in."""
import numpy as np
import pytest

from loraplace.claims import CLAIMS, FLOOR, _decide, evaluate, get_claim
from loraplace.evidence.records import Evidence, Record
from loraplace.study import MODELS

N = 400


def _evidence(effects: dict, base_rate=0.4, seed=0) -> Evidence:
    """Base and recurrent-only GSM8K runs; effects: topology -> true accuracy change."""
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
        for cond, domain, scores in (("base", "base", base), (model.condition("recurrent"), "gsm8k_train", tuned)):
            records += [Record(model.key, model.topology, cond, domain, 1, "gsm8k", f"gsm8k:{i}", float(s),
                               "as-published") for i, s in enumerate(scores)]
    return Evidence("published", records, models={m.topology: m.key for m in MODELS.values()},
                    roles={m.key: dict(m.conditions) for m in MODELS.values()})


def _c2(effects):
    return {v.topology: v for v in evaluate(get_claim("C2"), _evidence(effects), "as-published",
                                            resamples=2000, seed=1)}


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
        assert f"Holm p={v.p_holm:.3g}" in v.verdict_line and f"n={N}" in v.verdict_line


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
    assert _decide(direction, lo, hi, p) == want


def test_registry_states_the_study_conditions_per_role():
    qwen, falcon = MODELS["qwen3_5_0_8b_base"], MODELS["falcon_h1_0_5b_base"]
    assert [qwen.condition(r) for r in ("attention", "recurrent", "full")] == ["softmax_only", "gdn_only", "all_layers"]
    assert [falcon.condition(r) for r in ("attention", "recurrent", "full")] == ["attention_only", "ssm_only",
                                                                                  "all_eligible"]
    for claim in CLAIMS.values():
        assert claim.sentence and {p.topology for p in claim.parts} == {"sequential", "parallel"}
    with pytest.raises(KeyError, match="Available: C1, C2"):
        get_claim("C99")
