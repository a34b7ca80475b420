"""LoRA fine-tuning of a real checkpoint with TRL's `SFTTrainer` (the paper track).

    peft_model, info = train_lora(model, tokenizer, condition, texts, recipe, seed=3407, progress=True)
    save_adapter(peft_model, directory, info)

LoRA only through peft (`loraplace.models.placement.apply_lora`, which verifies the adapted
modules and the trainable count); training only through TRL's `SFTTrainer`, as the study
(notebook cell 15): EOS appended to every text that lacks it, causal-LM loss on every token
including that EOS (also when pad = EOS: TRL's collator masks padding by position, never by
token id), truncated to the recipe's sequence length, batches padded dynamically. `seed` and `data_seed` are both set. The optimizer is the recipe's 8-bit Adam
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


def _dataset(texts: list):
    """A `datasets.Dataset` SFTTrainer takes: a "text" column, or (token-id lists, e.g. for
    throughput benchmarks on random ids) a pre-tokenized "input_ids" column SFTTrainer only truncates."""
    import datasets

    if texts and isinstance(texts[0], (list, tuple)):
        return datasets.Dataset.from_dict({"input_ids": [list(t) for t in texts]})
    return datasets.Dataset.from_dict({"text": list(texts)})


def sft_config(recipe, out: str, *, seed: int, eos_token: str | None, on_gpu: bool, optim: str, bf16: bool,
               progress: bool):
    """TRL's `SFTConfig` of the recipe: the study's semantics (text field "text", no packing, EOS
    appended where a text lacks it, loss on every token, right padding masked by position)."""
    from trl import SFTConfig

    return SFTConfig(
        output_dir=out, per_device_train_batch_size=recipe.batch_size,
        gradient_accumulation_steps=recipe.grad_accum, num_train_epochs=recipe.epochs,
        max_steps=recipe.max_steps, learning_rate=recipe.learning_rate, lr_scheduler_type=recipe.scheduler,
        optim=optim, bf16=bf16, fp16=False, gradient_checkpointing=recipe.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if recipe.gradient_checkpointing else None,
        seed=seed, data_seed=seed, full_determinism=full_determinism(), logging_steps=1, save_strategy="no",
        eval_strategy="no", report_to="none", disable_tqdm=not progress, use_cpu=not on_gpu,
        dataloader_num_workers=0, remove_unused_columns=False, max_length=recipe.seq_len,
        dataset_text_field="text", packing=False, eos_token=eos_token, dataset_num_proc=None)


def make_trainer(peft_model, tokenizer, texts: list, recipe, out: str, *, seed: int, optim: str = "adamw_torch",
                 bf16: bool = False, progress: bool = False):
    """The `SFTTrainer` of a run (its dataset prepared: EOS appended, tokenized, truncated)."""
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTTrainer

    if tokenizer.pad_token is None:  # SFTTrainer pads with pad, else EOS; padding is masked by position
        tokenizer.pad_token = tokenizer.eos_token
    logging.getLogger("trl").setLevel(logging.WARNING)
    if not progress:
        import datasets

        datasets.disable_progress_bars()  # SFTTrainer's dataset preparation bars, one set per run
    on_gpu = next(peft_model.parameters()).is_cuda
    args = sft_config(recipe, out, seed=seed, eos_token=tokenizer.eos_token, on_gpu=on_gpu, optim=optim,
                      bf16=bf16, progress=progress)
    trainer = SFTTrainer(model=peft_model, args=args, train_dataset=_dataset(texts), processing_class=tokenizer)
    if not progress:  # without the bar, Trainer prints every logged loss instead
        trainer.remove_callback(PrinterCallback)
    return trainer


def train_lora(model: nn.Module, tokenizer, condition, texts: list, recipe, *, seed: int,
               progress: bool = False) -> tuple[nn.Module, dict]:
    """Wrap `model` with LoRA on `condition` (a `placement.Condition`), train on `texts` with the
    recipe (`paper_plan.PaperProfile`) through TRL's `SFTTrainer` -> (peft model in eval mode,
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
                        "train_loss": result.training_loss, "examples": len(texts), "trainer": "trl.SFTTrainer"}


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
