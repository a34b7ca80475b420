"""Exact LoRA parameter accounting: a Linear(in, out) adapted at rank r trains r * (in + out).

Counts come from the taxonomy of a meta-built real-size model, so they are exact at paper scale
without loading weights (r=16: Qwen3.5-0.8B all_layers 10,822,656; Falcon-H1-0.5B all_eligible
11,466,496 -- the study's released numbers).
"""
from __future__ import annotations

from collections.abc import Iterable

from loraplace.models.taxonomy import Taxonomy


def lora_params(in_features: int, out_features: int, rank: int) -> int:
    """Trainable parameters of one LoRA adapter (A: r x in, B: out x r; no bias)."""
    if rank < 1:
        raise ValueError(f"LoRA rank must be >= 1, got {rank}")
    return rank * (in_features + out_features)


def rank_cost(taxonomy: Taxonomy, modules: Iterable[str]) -> int:
    """Trainable parameters per unit of rank: sum of (in + out) over the targeted Linears."""
    total = 0
    for name in modules:
        info = taxonomy.get(name)
        if info.kind != "linear":
            raise ValueError(f"{name} is a {info.module_class}, not a Linear: no LoRA parameter count")
        total += info.in_features + info.out_features
    return total


def count_trainable(taxonomy: Taxonomy, modules: Iterable[str], rank: int) -> int:
    if rank < 1:
        raise ValueError(f"LoRA rank must be >= 1, got {rank}")
    return rank * rank_cost(taxonomy, modules)


def base_params(taxonomy: Taxonomy) -> int:
    """All base-model parameters (tied tensors once)."""
    return sum(taxonomy.param_counts().values())
