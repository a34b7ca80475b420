"""Pretraining and LoRA fine-tuning of the tiny organisms: one plain fused-AdamW loop, seeded end to end.

    model, tok = pretrain(spec, "pretrain", steps=300, seed=0)
    state = finetune(model, "attention_only", "gsm8k_train", seed=1, steps=20, lr=2e-3, rank=4, batch=8)

Determinism: the data order is a pure function of (source, seed) (`synthetic.chunks`), the
initialisation and LoRA dropout (`loraplace.train.dropout.MaskDropout`, the peft dropout with a
cheaper mask draw) draw from `torch.manual_seed(seed)` inside a forked RNG, and
`torch.use_deterministic_algorithms(True)` is on while training -- so on CPU at a fixed thread
count the same seed gives bitwise-identical weights. The thread count is the caller's
(`torch.set_num_threads`); nothing here changes it.

Storage: base checkpoints with `save_pretrained(safe_serialization=True)` (+ the tokenizer and
the organism spec); adapters as `adapter.safetensors` (the peft LoRA state dict) +
`adapter_config.json` (the `LoraConfig`) + `condition.json`.
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
from pathlib import Path

import torch
from torch import nn

from loraplace.models import organisms as org
from loraplace.train import synthetic
from loraplace.train.tokenizer import BOS_ID, build_tokenizer

DEFAULT_SEQ_LEN = 160


@contextlib.contextmanager
def deterministic(seed: int):
    """Seeded torch RNG (restored afterwards) with deterministic algorithms switched on."""
    was = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(was)


def encode_windows(tokenizer, texts: list[str]) -> torch.Tensor:
    """[batch, 1 + seq_len] ids: BOS + the characters of each (equal-length) window."""
    ids = [[BOS_ID] + tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    if len({len(i) for i in ids}) != 1:
        raise ValueError("training windows must have equal length")
    return torch.tensor(ids, dtype=torch.long)


def _lr_at(step: int, steps: int, lr: float, warmup: float = 0.05, floor: float = 0.1) -> float:
    w = max(1, int(steps * warmup))
    if step < w:
        return lr * (step + 1) / w
    t = (step - w) / max(1, steps - w)
    return lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t)))


def make_optimizer(model: nn.Module, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters, fused (one kernel for all tensors, also on CPU)."""
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)


def train_step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor) -> torch.Tensor:
    """One step on a batch of windows: mean next-token CE, backward, clip to norm 1, AdamW."""
    loss = model(input_ids=x, labels=x).loss  # [B, T] -> mean next-token CE
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], 1.0, foreach=True)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss.detach()


def train_loop(model: nn.Module, batches: list[torch.Tensor], lr: float, *, weight_decay: float = 0.0,
               desc: str = "train", progress: bool = False) -> list[float]:
    """`train_step` over the batches with warmup + cosine; returns the loss per step."""
    opt = make_optimizer(model, lr, weight_decay)
    model.train()
    losses = []
    steps = len(batches)
    from loraplace.progress import events as _progress
    with _progress.phase(desc, steps, unit="step", minor=True, enabled=progress) as bar:
        for step in range(steps):
            for group in opt.param_groups:
                group["lr"] = _lr_at(step, steps, lr)
            losses.append(float(train_step(model, opt, batches[step])))
            bar.advance()
    model.eval()
    return losses


def make_batches(source: str, seed: int, steps: int, batch: int, seq_len: int, tokenizer) -> list[torch.Tensor]:
    texts = synthetic.chunks(source, seed, seq_len, steps * batch)
    return [encode_windows(tokenizer, texts[i * batch:(i + 1) * batch]) for i in range(steps)]


def pretrain(organism: org.OrganismSpec, world: str = "pretrain", steps: int = 300, seed: int = 0, *,
             batch: int = 16, seq_len: int = DEFAULT_SEQ_LEN, lr: float = 3e-3, progress: bool = False):
    """Pretrain an organism from scratch on the synthetic mixture -> (model, tokenizer)."""
    tokenizer = build_tokenizer()
    batches = make_batches(world, seed, steps, batch, seq_len, tokenizer)
    with deterministic(seed):
        model = org.build(organism, seed)
        model.pretrain_losses = train_loop(model, batches, lr, weight_decay=0.01,
                                           desc=f"pretrain {organism.key}", progress=progress)
    return model, tokenizer


def conditions_for(model: nn.Module, rank: int, condition: str | None = None, seed: int = 0):
    """The harmonized placement conditions on the model's own taxonomy (all, or the one named);
    a budget control (`loraplace.models.controls`: its own ranks, not `rank`) by its name, `seed`
    being the random placement's draw."""
    from loraplace.models.controls import CONTROLS, control_condition
    from loraplace.models.placement import build_conditions
    from loraplace.models.taxonomy import classify_model

    taxonomy = classify_model(model)
    if condition in CONTROLS:
        return control_condition(taxonomy, condition, seed)
    conds = build_conditions(taxonomy, "harmonized", rank)
    if condition is None:
        return conds
    if condition not in conds:
        raise ValueError(f"Unknown condition {condition!r}. Available: {', '.join((*conds, *CONTROLS))}")
    return conds[condition]


def trainable_copy(base_model: nn.Module, condition: str, rank: int, seed: int = 0) -> nn.Module:
    """A peft LoRA model on a copy of `base_model` under a harmonized condition, as fine-tuning
    trains it: targets verified by `apply_lora`, peft's dropout swapped for `MaskDropout`."""
    from loraplace.models.placement import apply_lora
    from loraplace.train.dropout import use_mask_dropout

    peft_model = apply_lora(copy.deepcopy(base_model), conditions_for(base_model, rank, condition, seed))
    use_mask_dropout(peft_model)
    return peft_model


def finetune(base_model: nn.Module, condition: str, domain: str, *, seed: int, steps: int, lr: float,
             rank: int, batch: int, seq_len: int = DEFAULT_SEQ_LEN, tokenizer=None,
             progress: bool = False, losses: list | None = None) -> dict[str, torch.Tensor]:
    """LoRA-fine-tune a copy of `base_model` under a harmonized condition on a domain; the base
    model is untouched. Returns the adapter's state dict (peft names, no adapter name); the
    per-step losses are appended to `losses` when given."""
    from peft import get_peft_model_state_dict

    tokenizer = tokenizer or build_tokenizer()
    batches = make_batches(domain, seed, steps, batch, seq_len, tokenizer)
    with deterministic(seed):
        peft_model = trainable_copy(base_model, condition, rank, seed)
        run_losses = train_loop(peft_model, batches, lr, desc=f"{condition}/{domain}", progress=progress)
        state = get_peft_model_state_dict(peft_model)
    if losses is not None:
        losses.extend(run_losses)
    return {k: v.detach().clone().contiguous() for k, v in state.items()}


def adapted(base_model: nn.Module, condition: str, state: dict[str, torch.Tensor], rank: int,
            seed: int = 0) -> nn.Module:
    """A merged copy of the base model with the adapter applied (for evaluation)."""
    from peft import set_peft_model_state_dict

    from loraplace.models.placement import apply_lora

    peft_model = apply_lora(copy.deepcopy(base_model), conditions_for(base_model, rank, condition, seed))
    result = set_peft_model_state_dict(peft_model, state)
    if getattr(result, "unexpected_keys", None):
        raise ValueError(f"adapter keys not in the model: {result.unexpected_keys[:5]}")
    return peft_model.merge_and_unload().eval()


# ---- save / load ------------------------------------------------------------------------------

def save_base(model: nn.Module, tokenizer, organism: org.OrganismSpec, directory: Path) -> None:
    directory = Path(directory)
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    (directory / "organism.json").write_text(json.dumps(organism.to_dict(), sort_keys=True, indent=1))
    losses = getattr(model, "pretrain_losses", None)
    if losses is not None:
        (directory / "losses.json").write_text(json.dumps(losses))


def load_base(directory: Path):
    """(model, tokenizer) of a saved base checkpoint."""
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    org.register_classes()  # the composed organism classes, for AutoModelForCausalLM
    directory = Path(directory)
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32).eval()
    tokenizer = PreTrainedTokenizerFast.from_pretrained(directory)
    return model, tokenizer


def save_adapter(state: dict[str, torch.Tensor], base_model: nn.Module, condition: str, rank: int,
                 directory: Path, losses: list[float] | None = None, seed: int = 0) -> None:
    from safetensors.torch import save_file

    from loraplace.models.placement import canonical_adapter_config, lora_config

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cond = conditions_for(base_model, rank, condition, seed)
    save_file(state, str(directory / "adapter.safetensors"))
    lora_config(cond).save_pretrained(str(directory))  # adapter_config.json
    canonical_adapter_config(directory)
    (directory / "condition.json").write_text(json.dumps(
        {"name": cond.name, "role": cond.role, "rank": cond.rank, "modules": list(cond.modules),
         "trainable": cond.trainable, "losses": losses}, indent=1))


def load_adapter(directory: Path) -> tuple[dict[str, torch.Tensor], dict]:
    from safetensors.torch import load_file

    directory = Path(directory)
    return load_file(str(directory / "adapter.safetensors")), json.loads((directory / "condition.json").read_text())
