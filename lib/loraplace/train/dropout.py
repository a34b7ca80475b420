"""LoRA dropout at half the CPU cost: the same Bernoulli mask, drawn with `uniform_` instead of `bernoulli_`.

peft gives every LoRA module its own `nn.Dropout(p)` on the module's input. On CPU, torch draws
that mask with `bernoulli_`, about 3.7 ns an element, against about 1.9 ns for `uniform_`
(torch 2.13, the tiny organisms' batch `[8, 161, 64]`). With one dropout per adapted module,
that draw was most of what a LoRA training step cost above a bare forward+backward (see
`benchmarks/bench_tiny.py`). `MaskDropout` keeps an element when `u >= p` for `u ~ U[0, 1)` and
scales the kept ones by `1 / (1 - p)`. That is the distribution of `nn.Dropout(p)` up to the
float32 grid of `u`, since P(drop) = ceil(p * 2^24) / 2^24, within 6e-8 of p. It is identity in
eval mode, draws from the global torch generator (so `torch.manual_seed` fixes it) and swaps
into a peft model in place, after which the model stays a peft model in every other respect.

    n = use_mask_dropout(peft_model)  # number of peft dropout modules replaced
"""
from __future__ import annotations

import torch
from torch import nn


class MaskDropout(nn.Module):
    """`nn.Dropout(p)` with the mask drawn as `uniform_() >= p` (same distribution, cheaper on CPU)."""

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.empty_like(x).uniform_().ge_(self.p)
        return x * keep.mul_(1.0 / (1.0 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"


def use_mask_dropout(model: nn.Module) -> int:
    """Replace every `nn.Dropout` in the model's peft `lora_dropout` dicts by `MaskDropout` of the
    same p; returns how many were replaced. `nn.Identity` (dropout 0) entries are left alone."""
    replaced = 0
    for module in model.modules():
        table = getattr(module, "lora_dropout", None)
        if not isinstance(table, nn.ModuleDict):
            continue
        for name, layer in table.items():
            if isinstance(layer, nn.Dropout):
                table[name] = MaskDropout(layer.p)
                table[name].train(layer.training)
                replaced += 1
    return replaced
