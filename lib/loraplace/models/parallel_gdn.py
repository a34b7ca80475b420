"""A parallel hybrid with a Gated DeltaNet mixer: Falcon-H1's layer, Qwen3.5's recurrent module.

The one model in the suite that transformers does not ship, composed from transformers' own
modules so that it differs from its neighbours in the 2×2 factorial (mixer × topology, claim C7)
in exactly one factor:

    FalconH1GDNForCausalLM  = FalconH1ForCausalLM (embeddings, µP multipliers, final norm, head,
                              forward, generation) over
    FalconH1GDNDecoderLayer = FalconH1DecoderLayer (input norm → recurrent mixer ‖ attention,
                              outputs summed → residual → norm → MLP → residual: Falcon's forward,
                              unchanged) whose recurrent slot holds
    Qwen3_5GatedDeltaNet    (Qwen3.5's Gated DeltaNet, its own code and initialisation) instead of
                              FalconH1Mixer (Mamba-2).

The recurrent module keeps Falcon's attribute name `mamba` (Falcon's forward calls
`self.mamba(hidden_states=…, cache=…, attention_mask=…)`, the signature the Gated DeltaNet has
too); the suite's taxonomy decides components by class, so it is classified as a
`recurrent:gated-deltanet` mixer beside an attention in every layer, i.e. `parallel`. Falcon's
"hybrid" cache layers hold both a KV cache and a conv + recurrent state, which is what the
Gated DeltaNet reads and writes, so cached generation works unchanged. The config is Falcon-H1's
plus Qwen3.5's `linear_*` fields. Importing this module registers the model type
`falcon_h1_gdn` with transformers' Auto classes, so saved checkpoints load with
`AutoModelForCausalLM.from_pretrained`.
"""
from __future__ import annotations

import torch
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, FalconH1Config, PreTrainedModel
from transformers.models.falcon_h1 import modeling_falcon_h1 as falcon
from transformers.models.qwen3_5.modeling_qwen3_5 import Qwen3_5GatedDeltaNet

MODEL_TYPE = "falcon_h1_gdn"


@strict
class FalconH1GDNConfig(FalconH1Config):
    """Falcon-H1's config plus the Gated DeltaNet's (names and defaults of Qwen3.5's text config)."""

    model_type = MODEL_TYPE
    linear_conv_kernel_dim: int = 4
    linear_key_head_dim: int = 128
    linear_value_head_dim: int = 128
    linear_num_key_heads: int = 16
    linear_num_value_heads: int = 32


class FalconH1GDNDecoderLayer(falcon.FalconH1DecoderLayer):
    """Falcon-H1's parallel layer with a Gated DeltaNet in the recurrent slot."""

    def __init__(self, config: FalconH1GDNConfig, layer_idx: int):
        nn.Module.__init__(self)
        self.feed_forward = falcon.FalconH1MLP(config)
        self.mamba = Qwen3_5GatedDeltaNet(config, layer_idx)  # Falcon's slot name; the class decides
        self.self_attn = falcon.FalconH1Attention(config, layer_idx)
        self.attention_in_multiplier = config.attention_in_multiplier
        self.ssm_out_multiplier = config.ssm_out_multiplier
        self.attn_out_multiplier = config.attention_out_multiplier
        self.input_layernorm = falcon.FalconH1RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.pre_ff_layernorm = falcon.FalconH1RMSNorm(config.hidden_size, eps=config.rms_norm_eps)


class FalconH1GDNPreTrainedModel(falcon.FalconH1PreTrainedModel):
    config_class = FalconH1GDNConfig
    config: FalconH1GDNConfig
    _no_split_modules = ["FalconH1GDNDecoderLayer"]

    def _init_weights(self, module):
        if isinstance(module, falcon.FalconH1Model):  # Falcon's µP vector belongs to its Mamba-2 mixer
            PreTrainedModel._init_weights(self, module)
        elif isinstance(module, Qwen3_5GatedDeltaNet):  # Qwen3.5's initialisation of the module
            PreTrainedModel._init_weights(self, module)
            with torch.no_grad():
                module.dt_bias.fill_(1.0)
                module.A_log.copy_(torch.empty_like(module.A_log).uniform_(0.01, 16).log_())
        else:
            super()._init_weights(module)


class FalconH1GDNModel(FalconH1GDNPreTrainedModel, falcon.FalconH1Model):
    def __init__(self, config: FalconH1GDNConfig):
        falcon.FalconH1PreTrainedModel.__init__(self, config)
        self.padding_idx = config.pad_token_id
        self.vocab_size = config.vocab_size
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, self.padding_idx)
        self.layers = nn.ModuleList(FalconH1GDNDecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self._attn_implementation = config._attn_implementation
        self.final_layernorm = falcon.FalconH1RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.rotary_emb = falcon.FalconH1RotaryEmbedding(config=config)
        self.embedding_multiplier = config.embedding_multiplier
        self.lm_head_multiplier = config.lm_head_multiplier
        self.gradient_checkpointing = False
        self.post_init()


class FalconH1GDNForCausalLM(FalconH1GDNPreTrainedModel, falcon.FalconH1ForCausalLM):
    def __init__(self, config: FalconH1GDNConfig):
        falcon.FalconH1PreTrainedModel.__init__(self, config)
        self.model = FalconH1GDNModel(config)
        self.vocab_size = config.vocab_size
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()


def register() -> None:
    """Make `falcon_h1_gdn` known to AutoConfig / AutoModelForCausalLM (idempotent)."""
    try:
        AutoConfig.register(MODEL_TYPE, FalconH1GDNConfig)
    except ValueError:  # already registered
        pass
    try:
        AutoModelForCausalLM.register(FalconH1GDNConfig, FalconH1GDNForCausalLM)
    except ValueError:
        pass


register()
