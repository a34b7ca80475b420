"""Tiny model organisms of the study's two hybrid topologies (real transformers classes, CPU).

  tiny_qwen3_5    Qwen3_5ForCausalLM   sequential: 3 Gated DeltaNet layers then 1 softmax-attention
                                      layer (the 3:1 pattern of Qwen3.5), tied embeddings
  tiny_falcon_h1  FalconH1ForCausalLM  parallel: Mamba-2 ‖ attention in every layer, untied head

Both use the character tokenizer (`loraplace.train.tokenizer`, 100 ids) and its special ids.
Falcon-H1's µP multipliers of the 0.5B release are set to 1 (they are tuned for its width and
slow a 100k-parameter model down), and Qwen3.5's rotary embedding uses theta 1e4 on the whole
head (the release's 1e7 on a quarter of a 16-dim head leaves the one attention layer almost
position-blind at this size); every other architectural choice comes from the shipped
configs through `loraplace.models.zoo.tiny_config`. Parameter counts are matched within 10 %
(`param_counts`; checked by the tests) by the number of Falcon-H1 layers.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from loraplace.train.tokenizer import BOS_ID, EOS_ID, PAD_ID, VOCAB_SIZE

_FALCON_UNIT_MULTIPLIERS = dict(
    embedding_multiplier=1.0, lm_head_multiplier=1.0, attention_in_multiplier=1.0,
    attention_out_multiplier=1.0, key_multiplier=1.0, ssm_in_multiplier=1.0, ssm_out_multiplier=1.0,
    ssm_multipliers=[1.0] * 5, mlp_multipliers=[1.0, 1.0])


@dataclass(frozen=True)
class OrganismSpec:
    key: str  # the model key its records carry
    study_key: str  # loraplace.models.zoo / loraplace.study model it miniaturises
    model_class: str
    topology: str
    hidden_size: int
    layers: int
    intermediate_size: int

    def overrides(self) -> dict:
        h = self.hidden_size
        common = dict(hidden_size=h, intermediate_size=self.intermediate_size, num_hidden_layers=self.layers,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=h // 4, vocab_size=VOCAB_SIZE,
                      max_position_embeddings=1024, pad_token_id=PAD_ID, bos_token_id=BOS_ID,
                      eos_token_id=EOS_ID)
        if self.topology == "sequential":
            n_rec = self.layers - self.layers // 4
            common.update(layer_types=["linear_attention"] * n_rec + ["full_attention"] * (self.layers - n_rec),
                          linear_num_key_heads=2, linear_num_value_heads=4, linear_key_head_dim=h // 4,
                          linear_value_head_dim=h // 4,
                          rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 1.0})
        else:
            common.update(mamba_d_ssm=h, mamba_n_heads=4, mamba_d_head=h // 4, mamba_d_state=16,
                          mamba_n_groups=1, mamba_chunk_size=16, mamba_expand=1, **_FALCON_UNIT_MULTIPLIERS)
        return common

    def to_dict(self) -> dict:
        return asdict(self)


def organisms(hidden_size: int = 64) -> dict[str, OrganismSpec]:
    """The matched pair at a width: {topology: spec}. Layer counts give params within 10 %."""
    inter = 2 * hidden_size
    return {
        "sequential": OrganismSpec("tiny_qwen3_5", "qwen3_5_0_8b_base", "Qwen3_5ForCausalLM", "sequential",
                                   hidden_size, 4, inter),
        "parallel": OrganismSpec("tiny_falcon_h1", "falcon_h1_0_5b_base", "FalconH1ForCausalLM", "parallel",
                                 hidden_size, 3, inter),
    }


def config(spec: OrganismSpec):
    from loraplace.models.zoo import tiny_config

    return tiny_config(spec.study_key, **spec.overrides())


def build(spec: OrganismSpec, seed: int = 0) -> nn.Module:
    """A freshly initialised organism (float32, CPU), seeded without touching the global RNG."""
    from transformers import AutoModelForCausalLM

    cfg = config(spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(cfg)
    if type(model).__name__ != spec.model_class:
        raise TypeError(f"{spec.key}: built {type(model).__name__}, expected {spec.model_class}")
    return model


def param_count(model: nn.Module) -> int:
    """Parameters, tied tensors counted once."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def param_counts(hidden_size: int = 64) -> dict[str, int]:
    """{organism key: parameter count} of the matched pair (built on the meta device)."""
    from transformers import AutoModelForCausalLM

    out = {}
    for spec in organisms(hidden_size).values():
        with torch.device("meta"):
            out[spec.key] = param_count(AutoModelForCausalLM.from_config(config(spec)))
    return out
