"""The study's models as specs, and model building from a config (never from the hub).

`build_meta_model("qwen3_5_0_8b_base")` gives the real-size architecture with no memory (meta
device) -- enough for exact parameter accounting. `build_tiny_model(...)` gives a real CPU model
with the same architecture and tiny dimensions (model organisms for tests and the tiny track).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, PretrainedConfig


@dataclass(frozen=True)
class ModelSpec:
    key: str  # the study's model_key
    hf_id: str
    topology: str  # sequential | parallel
    config_file: str  # shipped in loraplace/data/
    description: str


MODELS: dict[str, ModelSpec] = {
    s.key: s for s in (
        ModelSpec("qwen3_5_0_8b_base", "Qwen/Qwen3.5-0.8B-Base", "sequential",
                  "qwen3_5_0_8b_base.config.json", "Gated DeltaNet layers with every 4th layer softmax attention"),
        ModelSpec("falcon_h1_0_5b_base", "tiiuae/Falcon-H1-0.5B-Base", "parallel",
                  "falcon_h1_0_5b_base.config.json", "Mamba-2 mixer and attention side by side in every layer"),
    )
}

# Overrides shrinking a config to a CPU-sized model of the same architecture.
_TINY_COMMON = dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2,
                    head_dim=16, vocab_size=256, max_position_embeddings=512)
_TINY: dict[str, dict] = {
    "qwen3_5_text": dict(num_hidden_layers=4, layer_types=["linear_attention"] * 3 + ["full_attention"],
                         linear_num_key_heads=2, linear_num_value_heads=4, linear_key_head_dim=16,
                         linear_value_head_dim=16),
    "falcon_h1": dict(num_hidden_layers=2, mamba_d_ssm=64, mamba_n_heads=4, mamba_d_head=16, mamba_d_state=16,
                      mamba_n_groups=1, mamba_chunk_size=16, mamba_expand=1),
}


def model_spec(key: str) -> ModelSpec:
    try:
        return MODELS[key]
    except KeyError:
        raise KeyError(f"Unknown model {key!r}. Available: {', '.join(sorted(MODELS))}") from None


def config_dict(key_or_path: str | Path) -> dict:
    """The raw config JSON of a shipped model key or of a config file path."""
    path = Path(key_or_path)
    if path.suffix == ".json" or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"No config file at {path}")
        return _decode_floats(json.loads(path.read_text()))
    spec = model_spec(str(key_or_path))
    return json.loads(resources.files("loraplace.data").joinpath(spec.config_file).read_text())


def _decode_floats(obj):
    """Undo transformers' JSON encoding of non-finite floats: {"__float__": "Infinity"} -> inf."""
    if isinstance(obj, dict):
        if set(obj) == {"__float__"}:
            return float(obj["__float__"])
        return {k: _decode_floats(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode_floats(v) for v in obj]
    return obj


def load_config(key_or_path: str | Path | PretrainedConfig, **overrides) -> PretrainedConfig:
    """A transformers config from a model key, a config JSON path, or a config object."""
    if isinstance(key_or_path, PretrainedConfig):
        raw = key_or_path.to_dict()
    else:
        raw = config_dict(key_or_path)
    raw = {k: v for k, v in raw.items() if not k.startswith("_") and k not in ("transformers_version",)}
    raw.update(overrides)
    model_type = raw.pop("model_type", None)
    if not model_type:
        raise ValueError(f"Config {key_or_path} has no 'model_type'")
    text = raw.get("text_config")
    if isinstance(text, dict) and "model_type" in text and "num_hidden_layers" not in raw:
        # a multimodal wrapper config: the causal LM lives in its text config
        return load_config(_from_dict(text), **overrides)
    return AutoConfig.for_model(model_type, **raw)


def _from_dict(raw: dict) -> PretrainedConfig:
    raw = dict(raw)
    return AutoConfig.for_model(raw.pop("model_type"), **raw)


def build_meta_model(key_or_path: str | Path | PretrainedConfig, **overrides) -> nn.Module:
    """The full-size architecture on the meta device: shapes, no memory, no weights."""
    config = load_config(key_or_path, **overrides)
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def tiny_config(key_or_path: str | Path | PretrainedConfig, **overrides) -> PretrainedConfig:
    """The same architecture shrunk to CPU size (known shrink rules for the study's families)."""
    base = load_config(key_or_path)
    shrink = dict(_TINY_COMMON)
    shrink.update(_TINY.get(base.model_type, {"num_hidden_layers": 2}))
    shrink.update(overrides)
    return load_config(base, **shrink)


def build_tiny_model(key_or_path: str | Path | PretrainedConfig, seed: int = 0, **overrides) -> nn.Module:
    """A real (CPU, float32) randomly initialised tiny model of the architecture."""
    config = tiny_config(key_or_path, **overrides)
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config)
    return model.eval()
