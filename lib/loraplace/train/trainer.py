"""LoRA fine-tuning of a real checkpoint with transformers' `Trainer`, SFTTrainer's semantics (the paper track).

    peft_model, info = train_lora(model, tokenizer, condition, texts, recipe, seed=3407, progress=True)
    save_adapter(peft_model, directory, info)

LoRA only through peft (`loraplace.models.placement.apply_lora`, which verifies the adapted
modules and the trainable count); training through transformers' `Trainer` with the semantics of
TRL's `SFTTrainer`, which the study trains with (notebook cell 15): EOS appended to every text
that lacks it, tokenized with the tokenizer's defaults, truncated to the recipe's sequence
length, causal-LM loss on every token including that EOS (also when pad = EOS: TRL's own SFT
collator masks padding by position, never by token id), batches padded dynamically.
`SFTTrainer` itself (trl 1.16) is not used: it computes the loss from `lm_head.weight` directly
and so refuses an adapter on `lm_head`, which the study's all-layers conditions carry. `seed` and `data_seed` are both set. The optimizer is the recipe's 8-bit Adam
where bitsandbytes imports and a CUDA device is present, else AdamW (`optimizer_used` in the
returned info says which); bf16 where the GPU supports it, else float32 (also recorded).
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)
TRAINER = "transformers.Trainer + trl SFT collator"


def _bnb_works() -> bool:
    if not torch.cuda.is_available():
        return False
    try:
        import bitsandbytes  # noqa: F401
    except Exception:  # ImportError, or a broken CUDA binding (RuntimeError)
        return False
    return True


def full_determinism() -> bool:
    """`LORAPLACE_FULL_DETERMINISM=1`: transformers' `full_determinism` (deterministic CUDA
    kernels, CUBLAS workspace pinned), as the reproducibility check trains. Slower on GPU."""
    return os.environ.get("LORAPLACE_FULL_DETERMINISM", "") == "1"


def choose_optimizer(requested: str) -> str:
    """The transformers `optim` name actually used: 8-bit Adam needs bitsandbytes on a GPU."""
    if requested in ("adamw_8bit", "adamw_bnb_8bit"):
        if _bnb_works():
            return "adamw_bnb_8bit"
        log.warning("8-bit Adam needs bitsandbytes on a CUDA device: training with adamw_torch instead (recorded "
                    "in the adapter's train_info.json)")
        return "adamw_torch"
    return requested


class _Examples(torch.utils.data.Dataset):
    """SFTTrainer's preparation of a text dataset, for transformers' `Trainer`: EOS appended to a
    text that does not end with it, tokenized with the tokenizer's defaults, truncated to the
    first `seq_len` tokens (loss on every token). Token-id lists are taken as they are (truncated),
    e.g. for throughput benchmarks on random ids."""

    def __init__(self, tokenizer, texts: list, seq_len: int) -> None:
        eos = tokenizer.eos_token or ""
        self.items = [list(t[:seq_len]) if isinstance(t, (list, tuple)) else
                      tokenizer(t if t.endswith(eos) else t + eos)["input_ids"][:seq_len] for t in texts]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.items[i]}


def training_args(recipe, out: str, *, seed: int, on_gpu: bool, optim: str, bf16: bool, progress: bool):
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=out, per_device_train_batch_size=recipe.batch_size,
        gradient_accumulation_steps=recipe.grad_accum, num_train_epochs=recipe.epochs,
        max_steps=recipe.max_steps, learning_rate=recipe.learning_rate, lr_scheduler_type=recipe.scheduler,
        optim=optim, bf16=bf16, activation_checkpointing=recipe.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if recipe.gradient_checkpointing else None,
        seed=seed, data_seed=seed, full_determinism=full_determinism(), logging_steps=1, save_strategy="no",
        report_to="none", disable_tqdm=not progress, use_cpu=not on_gpu, dataloader_num_workers=0,
        remove_unused_columns=False)


def make_trainer(peft_model, tokenizer, texts: list, recipe, out: str, *, seed: int, optim: str = "adamw_torch",
                 bf16: bool = False, progress: bool = False):
    """The `Trainer` of a run: SFTTrainer's data semantics (`_Examples`) and TRL's SFT collator
    (right padding with the pad id, labels -100 on padding *positions*, so an EOS that is also the
    pad token is still trained)."""
    from transformers import Trainer
    from transformers.trainer_callback import PrinterCallback
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    if tokenizer.pad_token is None:  # pad with EOS, as SFTTrainer does; padding is masked by position
        tokenizer.pad_token = tokenizer.eos_token
    on_gpu = next(peft_model.parameters()).is_cuda
    args = training_args(recipe, out, seed=seed, on_gpu=on_gpu, optim=optim, bf16=bf16, progress=progress)
    trainer = Trainer(model=peft_model, args=args, train_dataset=_Examples(tokenizer, texts, recipe.seq_len),
                      data_collator=DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id))
    if not progress:  # without the bar, Trainer prints every logged loss instead
        trainer.remove_callback(PrinterCallback)
    return trainer


def train_lora(model: nn.Module, tokenizer, condition, texts: list, recipe, *, seed: int,
               progress: bool = False) -> tuple[nn.Module, dict]:
    """Wrap `model` with LoRA on `condition` (a `placement.Condition`), train on `texts` with the
    recipe (`paper_plan.PaperProfile`) through `make_trainer` -> (peft model in eval mode,
    info: losses, optimizer, dtype, steps)."""
    from transformers import set_seed

    from loraplace.models.placement import apply_lora

    set_seed(seed)  # LoRA init draws from torch's RNG
    peft_model = apply_lora(model, condition, alpha=recipe.lora_alpha, dropout=recipe.lora_dropout)
    on_gpu = next(model.parameters()).is_cuda
    bf16 = bool(recipe.bf16 and on_gpu and torch.cuda.is_bf16_supported())
    optim = choose_optimizer(recipe.optimizer)
    if recipe.gradient_checkpointing:
        peft_model.enable_input_require_grads()  # checkpointed blocks need a grad-carrying input
    with tempfile.TemporaryDirectory(prefix="loraplace-trainer-") as out:
        trainer = make_trainer(peft_model, tokenizer, texts, recipe, out, seed=seed, optim=optim, bf16=bf16,
                               progress=progress)
        result = trainer.train()
        losses = [row["loss"] for row in trainer.state.log_history if "loss" in row]
        runtime_s = result.metrics.get("train_runtime")
    peft_model.eval()
    return peft_model, {"losses": losses, "optimizer_used": optim, "bf16": bf16, "steps": result.global_step,
                        "full_determinism": full_determinism(), "train_runtime_s": runtime_s,
                        "train_loss": result.training_loss, "examples": len(texts), "trainer": TRAINER}


def save_adapter(peft_model: nn.Module, directory: Path, info: dict, condition) -> None:
    """peft's `save_pretrained` (adapter_model.safetensors + adapter_config.json, target_modules
    sorted so the same adapter gives the same bytes in every process) + train_info.json."""
    from loraplace.models.placement import canonical_adapter_config

    directory = Path(directory)
    peft_model.save_pretrained(str(directory), safe_serialization=True)
    # a local base-model path would make the bytes machine-specific
    canonical_adapter_config(directory, drop=("base_model_name_or_path",))
    readme = directory / "README.md"
    if readme.exists():  # peft's model card template: not part of the adapter
        readme.unlink()
    (directory / "train_info.json").write_text(json.dumps(
        dict(info, condition=condition.name, role=condition.role, modules=list(condition.modules),
             trainable=condition.trainable), indent=1, sort_keys=True))


def load_adapter(model: nn.Module, directory: Path) -> nn.Module:
    """`PeftModel.from_pretrained` on `model` (in eval mode, adapters active, not merged)."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(directory), is_trainable=False).eval()
