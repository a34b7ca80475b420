"""Placement conditions: the study's lists and counts, harmonized partition, budgets, peft."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from peft import LoraConfig, get_peft_model

from loraplace.models import zoo
from loraplace.models.accounting import count_trainable, lora_params, rank_cost
from loraplace.models.placement import (
    Condition,
    adapted_modules,
    apply_lora,
    budget_matched,
    budget_rank,
    build_conditions,
    check_targets,
    custom_condition,
    model_taxonomy,
    parameter_ratio,
    random_placement,
    verify_adapters,
)
from loraplace.models.taxonomy import classify_model
from loraplace.tracks.published.fetch import resolve_published_dir

REPO = Path(__file__).resolve().parents[1]

PUBLISHED = resolve_published_dir()
MODELS = list(zoo.MODELS)
SINGLES = ("attention_only", "recurrent_only", "mlp_only")


def published(relpath: str) -> Path:
    path = PUBLISHED / relpath
    if not path.is_file():
        pytest.skip(f"published data absent: {path} (set LORAPLACE_PUBLISHED_DIR)")
    return path


def rows(relpath: str, model: str) -> dict[str, dict]:
    with published(relpath).open() as f:
        return {r["condition"]: r for r in csv.DictReader(f) if r["model_key"] == model}


# ---- study: the study's module lists and trainable counts, exactly --------------------

@pytest.mark.parametrize("model", MODELS)
def test_as_published_module_lists(model):
    specs = json.loads(published(f"results/discovery/{model}__condition_specs.json").read_text())
    conditions = build_conditions(model_taxonomy(model), "study", rank=16)
    assert set(conditions) == set(specs)
    for name, spec in specs.items():
        assert list(conditions[name].modules) == sorted(spec["target_modules"]), name


@pytest.mark.parametrize("model", MODELS)
def test_as_published_trainable_counts(model):
    verification = rows(f"tables/{model}__verification_summary.csv", model)
    coverage = rows(f"tables/{model}__condition_param_summary.csv", model)
    conditions = build_conditions(model_taxonomy(model), "study", rank=16)
    assert set(verification) == set(conditions)
    for name, cond in conditions.items():
        assert cond.trainable == int(verification[name]["trainable_params"]), name
        assert len(cond.modules) == int(coverage[name]["num_target_modules"]), name
    efficiency = rows("tables/efficiency_table.csv", model)  # the same numbers, as used in the paper
    for name, row in efficiency.items():
        assert float(row["rank"]) == 16 and conditions[name].trainable == int(float(row["trainable_params"]))


# ---- harmonized ------------------------------------------------------------------------------

@pytest.mark.parametrize("model", MODELS)
def test_harmonized_singles_partition_full(model):
    tx = model_taxonomy(model)
    c = build_conditions(tx, "harmonized", rank=16)
    parts = [set(c[s].modules) for s in SINGLES]
    assert all(parts) and sum(map(len, parts)) == len(set().union(*parts))  # disjoint, non-empty
    assert set().union(*parts) == set(c["full"].modules)
    assert sum(c[s].trainable for s in SINGLES) == c["full"].trainable
    assert set(c["attention_plus_mlp"].modules) == parts[0] | parts[2]
    assert set(c["recurrent_plus_mlp"].modules) == parts[1] | parts[2]
    assert not any(m.endswith("lm_head") for m in c["full"].modules)
    assert any(tx.get(m).is_attention_output for m in c["attention_only"].modules)  # o_proj included
    assert set(c["full"].modules) == {m.name for m in tx.linears() if m.component in ("attention", "recurrent", "mlp")}


def test_harmonized_vs_published_differences():
    falcon = build_conditions(model_taxonomy("falcon_h1_0_5b_base"), "harmonized", 16)
    published_falcon = build_conditions(model_taxonomy("falcon_h1_0_5b_base"), "study", 16)
    extra = set(falcon["attention_only"].modules) - set(published_falcon["attention_only"].modules)
    assert extra and all(m.endswith("self_attn.o_proj") for m in extra) and len(extra) == 36
    assert falcon["recurrent_only"].modules == published_falcon["ssm_only"].modules  # in_proj only
    assert set(published_falcon["all_eligible"].modules) - set(falcon["full"].modules) == {"lm_head"}
    qwen = build_conditions(model_taxonomy("qwen3_5_0_8b_base"), "harmonized", 16)
    qwen_pub = build_conditions(model_taxonomy("qwen3_5_0_8b_base"), "study", 16)
    assert [c.modules for c in qwen.values()] == [c.modules for c in qwen_pub.values()]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("condition_set", ["study", "harmonized"])
def test_parameter_ratio(model, condition_set):
    r = parameter_ratio(model, condition_set)
    conditions = {c.role: c for c in build_conditions(model_taxonomy(model), condition_set, 16).values()}
    assert r["attention_only"] == conditions["attention_only"].trainable
    assert r["full"] == conditions["full"].trainable
    assert r["ratio"] == pytest.approx(r["full"] / r["attention_only"])
    assert r["ratio"] > 3  # the paper: "5-10x fewer"; harmonized Falcon-H1 gives 3.5x (o_proj, no lm_head)


def test_lora_params_formula():
    assert lora_params(1024, 4096, 16) == 16 * 5120
    with pytest.raises(ValueError):
        lora_params(8, 8, 0)


# ---- budget matching and random control ------------------------------------------------------

def test_budget_rank_is_closest_integer():
    for cost, budget in [(100, 1649), (100, 1651), (7, 3), (333, 10_000), (5120, 1_081_344)]:
        r = budget_rank(cost, budget)
        assert r >= 1 and all(abs(r * cost - budget) <= abs(k * cost - budget) for k in range(1, budget // cost + 3))


@pytest.mark.parametrize("model", MODELS)
def test_budget_matched(model):
    tx = model_taxonomy(model)
    matched = budget_matched(tx, "harmonized", reference="attention_only")
    budget = build_conditions(tx, "harmonized", 16)["attention_only"].trainable
    for c in matched.values():
        cost = rank_cost(tx, c.modules)
        assert c.budget == budget and c.trainable == c.rank * cost
        assert abs(c.trainable - budget) <= cost / 2 or c.rank == 1
    assert matched["attention_only"].rank == 16


def test_random_placement_seeded():
    tx = model_taxonomy("qwen3_5_0_8b_base")
    budget = build_conditions(tx, "harmonized", 16)["attention_only"].trainable
    a, b = random_placement(tx, budget, rng=7), random_placement(tx, budget, rng=np.random.default_rng(7))
    assert a.modules == b.modules and a.trainable == b.trainable <= budget
    assert random_placement(tx, budget, rng=8).modules != a.modules
    left = budget - a.trainable
    unchosen = set(build_conditions(tx, "harmonized", 16)["full"].modules) - set(a.modules)
    assert all(count_trainable(tx, [m], 16) > left for m in unchosen)  # nothing else would still fit
    check_targets(tx, a.modules)


# ---- errors ----------------------------------------------------------------------------------

def test_ineligible_targets_are_clear_errors():
    tx = model_taxonomy("falcon_h1_0_5b_base")
    with pytest.raises(ValueError, match=r"mamba\.out_proj.*not LoRA-eligible.*fused kernel.*Allowed in "
                                         r"model\.layers\.0\.mamba: in_proj"):
        custom_condition(tx, ["model.layers.0.mamba.out_proj"])
    with pytest.raises(ValueError, match=r"conv1d.*not LoRA-eligible.*convolution"):
        custom_condition(tx, ["model.layers.0.mamba.conv1d"])
    with pytest.raises(ValueError, match="matches no module"):
        custom_condition(tx, ["model.layers.0.mamba.x_proj"])


def test_condition_matching_nothing_is_an_error():
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    with torch.device("meta"):
        llama = AutoModelForCausalLM.from_config(LlamaConfig(num_hidden_layers=1))
    with pytest.raises(ValueError, match=r"'recurrent_only' matches no module in LlamaForCausalLM"):
        build_conditions(classify_model(llama), "harmonized")
    with pytest.raises(KeyError, match=r"No study conditions for model type 'llama'\. Available:"):
        build_conditions(classify_model(llama), "study")
    with pytest.raises(KeyError, match=r"Unknown condition set 'x'\. Available: study, harmonized"):
        build_conditions(classify_model(llama), "x")


# ---- peft on tiny real models ------------------------------------------------------------------

TINY_CASES = [(m, cs) for m in MODELS for cs in ("study", "harmonized")]


@pytest.mark.parametrize("model,condition_set", TINY_CASES, ids=[f"{m}-{cs}" for m, cs in TINY_CASES])
def test_peft_adapters_exactly_on_targets(model, condition_set):
    tx = classify_model(zoo.build_tiny_model(model))
    for cond in build_conditions(tx, condition_set, rank=4).values():
        peft_model = apply_lora(zoo.build_tiny_model(model), cond)  # verifies modules and counts itself
        assert adapted_modules(peft_model) == cond.modules
        assert sum(p.numel() for p in peft_model.parameters() if p.requires_grad) == cond.trainable


@pytest.mark.parametrize("model", MODELS)
def test_peft_budget_and_random_controls(model):
    tx = classify_model(zoo.build_tiny_model(model))
    budget = build_conditions(tx, "harmonized", 4)["attention_only"].trainable
    for cond in [*budget_matched(tx, budget=budget).values(), random_placement(tx, budget, rank=4, rng=1)]:
        assert adapted_modules(apply_lora(zoo.build_tiny_model(model), cond)) == cond.modules


def test_peft_refuses_mamba_out_proj_and_we_say_why_first():
    with pytest.raises(ValueError, match="incompatible with Mamba"):  # peft's own refusal
        get_peft_model(zoo.build_tiny_model("falcon_h1_0_5b_base"), LoraConfig(r=4, target_modules=["out_proj"]))
    bad = Condition("bad", "custom", "custom", 4, ("model.layers.0.mamba.out_proj",), 0)
    with pytest.raises(ValueError, match="fused kernel"):
        apply_lora(zoo.build_tiny_model("falcon_h1_0_5b_base"), bad)


def test_verify_catches_silently_ignored_targets():
    tx = classify_model(zoo.build_tiny_model("qwen3_5_0_8b_base"))
    cond = build_conditions(tx, "harmonized", 4)["attention_only"]
    peft_model = get_peft_model(zoo.build_tiny_model("qwen3_5_0_8b_base"),
                                LoraConfig(r=4, target_modules=list(cond.modules) + ["model.layers.9.nope"]))
    verify_adapters(peft_model, cond, tx)  # the bogus name was silently ignored by peft ...
    wider = Condition("x", "x", "custom", 4, cond.modules + ("model.layers.0.mlp.up_proj",), 0)
    with pytest.raises(ValueError, match=r"missing \['model\.layers\.0\.mlp\.up_proj'\]"):
        verify_adapters(peft_model, wider)  # ... and a target without adapter is caught
