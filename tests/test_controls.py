"""C1's parameter-budget controls: every control trains attention-only's budget (at the study's
rank 16), the random placement stays within it and depends on its draw, and the tiny track runs
them only where its design says so."""
import pytest

from loraplace.models import controls
from loraplace.models import organisms as org
from loraplace.models.taxonomy import ATTENTION, classify_model
from loraplace.tracks.tiny import design as tiny_design
from loraplace.tracks.tiny import track as tiny
from loraplace.train import lora

RANK = 16


@pytest.fixture(scope="module", params=["sequential", "parallel"])
def model(request):
    return org.build(org.organisms(32)[request.param])


def _attention_budget(model) -> int:
    """Attention-only's LoRA parameters at rank 16, counted from the Linears themselves."""
    tx = classify_model(model)
    return sum(RANK * (m.in_features + m.out_features) for m in tx.linears(ATTENTION))


def test_budget_is_attention_only_at_rank_16(model):
    assert controls.budget(classify_model(model)) == _attention_budget(model)


@pytest.mark.parametrize("name", [c for c in controls.CONTROLS if c != controls.RANDOM])
def test_budget_matched_conditions_reach_the_budget_within_integer_rank(model, name):
    cond = lora.conditions_for(model, 4, name)  # the track's rank 4 is not the control's
    budget = _attention_budget(model)
    tx = classify_model(model)
    per_rank = sum(tx.get(m).in_features + tx.get(m).out_features for m in cond.modules)
    assert cond.trainable == cond.rank * per_rank
    # the closest integer rank: one step either way is no closer to the budget
    assert all(abs(cond.trainable - budget) <= abs(r * per_rank - budget) for r in (cond.rank - 1, cond.rank + 1) if r >= 1)
    assert cond.budget == budget and cond.name == name


def test_random_placement_fits_the_budget_and_follows_its_draw(model):
    budget = _attention_budget(model)
    draws = [lora.conditions_for(model, 4, controls.RANDOM, seed=s) for s in range(4)]
    assert all(d.trainable <= budget and d.rank == RANK for d in draws)
    assert draws[0] == lora.conditions_for(model, 4, controls.RANDOM, seed=0)  # a pure function of the draw
    assert len({d.modules for d in draws}) > 1


def test_unknown_condition_lists_the_controls():
    with pytest.raises(ValueError, match="budget_full"):
        lora.conditions_for(org.build(org.organisms(32)["parallel"]), 4, "budget_everything")


def test_runs_of_profile_design():
    smoke, default = tiny.profile("smoke"), tiny.profile("default")
    study, added = tiny.specs(default)["tiny_qwen3_5"], tiny.specs(default)["tiny_bamba"]
    assert not any(c in controls.CONTROLS for c, _, _ in tiny.runs_of(smoke, study))
    with_controls = {c for c, _, _ in tiny.runs_of(default, study)}
    assert set(controls.CONTROLS) <= with_controls and "attention_only" in with_controls
    assert {(c, d) for c, d, _ in tiny.runs_of(default, added)} == set(tiny_design.FACTORIAL_RUNS)
    # the controls run after the profile's control domains only, on every seed, never on the added cells
    full = tiny.profile("full")
    for p in (default, full):
        ran = {(c, d, s) for c, d, s in tiny.runs_of(p, study) if c in controls.CONTROLS}
        assert ran == {(c, d, s) for c in controls.CONTROLS for d in p.control_domains for s in p.seeds}
    assert default.control_domains == ("gsm8k_train",) and set(full.control_domains) == set(tiny_design.DOMAINS)
    assert tiny.items_of(default, "budget_full", "gsm8k_train") == {"gsm8k": 500}
    assert tiny.items_of(default, "full", "gsm8k_train") == default.n_items


def test_a_control_run_trains_its_own_modules_and_is_evaluated_on_target(tmp_path):
    """One budget-matched and one random run end to end (a micro profile): the adapter holds the
    control's modules and rank, and its records cover only the domain's target benchmarks."""
    import dataclasses
    import json

    from loraplace.train.cache import Cache

    micro = dataclasses.replace(
        tiny.PROFILES["default"], name="micro-controls", hidden_size=32, pretrain_steps=3, pretrain_batch=2,
        pretrain_seq_len=63, seq_len=47, finetune_steps=2, finetune_batch=2, seeds=(0,),
        items=tiny.item_counts(3, 2, 3), max_new_tokens=4, code_tokens=4)
    assert micro.controls
    cache = Cache(tmp_path)
    base = tiny.ensure_base(cache, micro, "parallel")
    for name, domain in (("budget_full", "ultrachat"), (controls.RANDOM, "gsm8k_train")):
        adapter = tiny.ensure_adapter(cache, micro, base, name, domain, 0)
        saved = json.loads((adapter / "condition.json").read_text())
        expected = controls.control_condition(classify_model(base.model), name, seed=0)
        assert (saved["name"], saved["rank"], saved["modules"]) == (name, expected.rank, list(expected.modules))
        records, _ = tiny.ensure_run(cache, micro, base, name, domain, 0)
        assert {r.benchmark for r in records} == set(tiny_design.TARGETS[domain])
