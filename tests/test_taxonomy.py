"""Component taxonomy across hybrid architectures of the installed transformers."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn
from transformers import AutoModelForCausalLM
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from loraplace.models import zoo
from loraplace.models.taxonomy import ATTENTION, EMBEDDING_HEAD, MLP, RECURRENT, classify_model
from loraplace.tracks.published.fetch import resolve_published_dir

REPO = Path(__file__).resolve().parents[1]

PUBLISHED = resolve_published_dir()

# (id, model_type, config overrides, topology, mixer kinds) -- built on the meta device
CASES = [
    ("qwen3_next", "qwen3_next", dict(num_hidden_layers=4), "sequential", ("gated-deltanet",)),
    ("bamba", "bamba", dict(num_hidden_layers=4, attn_layer_indices=[2]), "sequential", ("mamba2",)),
    ("nemotron_h", "nemotron_h", {}, "sequential", ("mamba2",)),
    ("jamba", "jamba", dict(num_hidden_layers=8), "sequential", ("mamba",)),
    ("granitemoehybrid", "granitemoehybrid",
     dict(num_hidden_layers=4, layer_types=["mamba", "mamba", "attention", "mamba"]), "sequential", ("mamba2",)),
    ("lfm2", "lfm2", dict(num_hidden_layers=4, layer_types=["conv", "conv", "full_attention", "conv"]),
     "sequential", ("short-conv",)),
    ("olmo_hybrid", "olmo_hybrid", dict(num_hidden_layers=4), "sequential", ("gated-deltanet",)),
    ("minimax", "minimax", dict(num_hidden_layers=4), "sequential", ("lightning-attention",)),
    ("recurrent_gemma", "recurrent_gemma", dict(num_hidden_layers=3), "sequential", ("rg-lru",)),
    ("llama-control", "llama", dict(num_hidden_layers=2), "pure-attention", ()),
    ("mamba2-control", "mamba2", dict(num_hidden_layers=2), "pure-recurrent", ("mamba2",)),
    ("mamba-control", "mamba", dict(num_hidden_layers=2), "pure-recurrent", ("mamba",)),
]


def meta_model(model_type: str, **overrides) -> nn.Module:
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(CONFIG_MAPPING[model_type](**overrides))


@pytest.fixture(scope="module")
def tiny_models():
    return {key: zoo.build_tiny_model(key) for key in zoo.MODELS}


def assert_complete(model: nn.Module, tx) -> None:
    """No Linear/conv dropped, every parameter counted once."""
    linears = {n for n, m in model.named_modules() if isinstance(m, nn.Linear) and any(True for _ in m.parameters())}
    assert {m.name for m in tx.linears(eligible=None)} == linears
    convs = {n for n, m in model.named_modules() if isinstance(m, (nn.Conv1d, nn.Conv2d))}
    assert {m.name for m in tx.modules if m.kind == "conv"} == convs
    assert sum(tx.param_counts().values()) == sum(p.numel() for p in model.parameters())
    assert all(not m.lora_eligible for m in tx.modules if m.kind != "linear")


@pytest.mark.parametrize("case_id,model_type,overrides,topology,kinds", CASES, ids=[c[0] for c in CASES])
def test_architectures(case_id, model_type, overrides, topology, kinds):
    model = meta_model(model_type, **overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none of these has an unclassifiable module
        tx = classify_model(model)
    assert tx.topology == topology
    assert tx.mixer_kinds == kinds
    assert_complete(model, tx)
    if topology != "pure-recurrent":
        assert tx.linears(ATTENTION) and all(m.owner_class.endswith(("Attention", "Attn")) for m in tx.linears(ATTENTION))
    if topology != "pure-attention":
        assert tx.linears(RECURRENT)
    assert tx.linears(EMBEDDING_HEAD) and tx.linears(EMBEDDING_HEAD)[0].short_name == "lm_head"


@pytest.mark.parametrize("key,topology,kind", [
    ("qwen3_5_0_8b_base", "sequential", "gated-deltanet"), ("falcon_h1_0_5b_base", "parallel", "mamba2")])
def test_study_models_tiny_cpu(tiny_models, key, topology, kind):
    model = tiny_models[key]
    tx = classify_model(model)
    assert (tx.topology, tx.mixer_kinds) == (topology, (kind,))
    assert tx.topology == zoo.model_spec(key).topology
    assert_complete(model, tx)
    assert not tx.unclassified


def test_qwen_layer_pattern_and_gdn_linears(tiny_models):
    tx = classify_model(tiny_models["qwen3_5_0_8b_base"])
    assert tx.layer_kinds == ("recurrent:gated-deltanet",) * 3 + ("attention",)
    gdn = {m.short_name for m in tx.linears(RECURRENT)}
    assert gdn == {"in_proj_qkv", "in_proj_z", "in_proj_a", "in_proj_b", "out_proj"}  # all eligible
    conv = [m for m in tx.modules if m.kind == "conv"]
    assert conv and all(m.component == RECURRENT and not m.lora_eligible for m in conv)


def test_falcon_out_proj_bypassed_by_fused_kernel(tiny_models):
    tx = classify_model(tiny_models["falcon_h1_0_5b_base"])
    out = tx.get("model.layers.0.mamba.out_proj")
    assert out.component == RECURRENT and not out.lora_eligible
    assert "fused kernel" in out.exclude_reason and "out_proj.weight" in out.exclude_reason
    assert tx.get("model.layers.0.mamba.in_proj").lora_eligible
    assert tx.layer_kinds == ("attention+recurrent:mamba2",) * 2
    assert {m.short_name for m in tx.linears(MLP)} == {"gate_proj", "up_proj", "down_proj"}


def test_mamba1_kernel_bypass_found_by_source():
    tx = classify_model(meta_model("mamba", num_hidden_layers=1))
    bypassed = {m.short_name for m in tx.linears(RECURRENT, eligible=False)}
    assert bypassed == {"x_proj", "dt_proj", "out_proj"}
    assert {m.short_name for m in tx.linears(RECURRENT)} == {"in_proj"}


def test_unclassifiable_module_is_named_not_dropped():
    model = meta_model("zamba2")  # its hybrid layers hold a bare Linear between the shared block and mamba
    with pytest.warns(UserWarning, match=r"model\.layers\.\d+\.linear \(Linear\)"):
        tx = classify_model(model)
    assert tx.unclassified and all(".linear (Linear)" in u for u in tx.unclassified)
    assert all(tx.get(u.split(" ")[0]).component == "other" for u in tx.unclassified)
    assert tx.topology == "sequential"  # attention and mamba sit in nested sub-layers, not side by side
    with pytest.raises(ValueError, match="no component rule matches"):
        classify_model(model, strict=True)


@pytest.mark.parametrize("key", list(zoo.MODELS))
def test_real_size_matches_published_manifest(key):
    manifest_path = PUBLISHED / "results" / "discovery" / f"{key}__manifest.json"
    if not manifest_path.is_file():
        pytest.skip(f"published data absent: {manifest_path} (set LORAPLACE_PUBLISHED_DIR)")
    records = [r for r in json.loads(manifest_path.read_text())["records"] if r["class_name"] == "Linear"]
    study_component = {"softmax_attn": ATTENTION, "attention": ATTENTION, "gdn": RECURRENT, "ssm": RECURRENT,
                       "mlp": MLP, "lm_head": EMBEDDING_HEAD}
    model = zoo.build_meta_model(key)
    tx = classify_model(model)
    assert len(tx.linears(eligible=None)) == len(records)
    for r in records:
        info = tx.get(r["full_name"])
        assert info.component == study_component[r["component"]], r["full_name"]
        assert info.lora_eligible == r["lora_eligible"], r["full_name"]
        assert [info.out_features, info.in_features] == r["direct_param_shapes"]["weight"]


def test_zoo_registry_errors_list_choices():
    with pytest.raises(KeyError, match=r"Unknown model 'gpt5'\. Available: falcon_h1_0_5b_base, qwen3_5_0_8b_base"):
        zoo.model_spec("gpt5")
    with pytest.raises(FileNotFoundError):
        zoo.load_config("/nonexistent/config.json")


def test_meta_build_from_shipped_config_is_full_size():
    model = zoo.build_meta_model("falcon_h1_0_5b_base")
    assert next(model.parameters()).is_meta
    assert model.config.num_hidden_layers == 36 and model.config.hidden_size == 1024
