"""The paper track's profiles and plan: every fine-tuning run and base evaluation a profile needs.

    runs = plan(profile("study"))                     # 36 fine-tuning runs + 2 base evaluations
    estimate_gpu_hours(runs, models)                  # a rough FLOP-based estimate

The recipe is the study's (REPRODUCIBILITY.md): LoRA r=16, alpha=32, dropout 0.05, lr 2e-4 cosine,
3 epochs, effective batch 16 (4 x 4), sequence length 1024, 2,000 examples drawn per domain of
which 100 are held out for validation (1,900 trained; `protocol.TRAINING`), bf16, gradient
checkpointing, 8-bit Adam where bitsandbytes works (else AdamW, recorded), seed 3407.
Profiles differ in sizes only, never in the design:

  smoke   a handful of examples, items and steps: CPU-able, for tests and CI
  study   the study exactly, evaluated on its released subsets (`results/eval_indices`), so a
          study run pairs item by item with the published track
  full    full evaluation splits (GSM8K 1,319, MMLU 14,042, ARC-C 1,172, HellaSwag 10,042,
          HumanEval 164) and three seeds

The same `plan()` feeds the pytest session (which prints it before a cold build), the
`loraplace plan` command, and `loraplace fill` (`loraplace.scale`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from loraplace.study import BENCHMARKS, DOMAINS, MODELS, ROLES

PLAN_KEYS = ("model", "condition", "domain", "seed", "rank", "lora_alpha", "lora_dropout", "learning_rate",
             "epochs", "effective_batch_size", "seq_len", "drawn_examples", "train_examples", "validation_examples",
             "protocol")


@dataclass(frozen=True)
class PaperProfile:
    name: str
    seeds: tuple[int, ...]
    train_examples: int  # drawn per domain (the study: 2,000), then split into train + validation
    items: str | int  # "study" (the released subsets), "all" (full splits) or N first items
    epochs: float = 3.0
    max_steps: int = -1  # > 0 overrides epochs (smoke only)
    batch_size: int = 4
    grad_accum: int = 4
    seq_len: int = 1024
    learning_rate: float = 2e-4
    scheduler: str = "cosine"
    rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    bf16: bool = True  # where the device supports it (recorded per run)
    gradient_checkpointing: bool = True
    optimizer: str = "adamw_8bit"  # falls back to adamw_torch where bitsandbytes does not work
    eval_gen_tokens_cap: int | None = None  # smoke: fewer new tokens than the protocol's (a size, not a rule)
    eval_prompt_tokens_cap: int | None = None  # smoke: shorter few-shot prompts than the protocol's 896 tokens
    eval_batch: int = 32
    humaneval_items: int | None = None  # smoke: fewer HumanEval items than `items`
    splits: dict = field(default_factory=dict)  # benchmark -> split, where not the study's

    @property
    def effective_batch_size(self) -> int:
        return self.batch_size * self.grad_accum

    def to_dict(self) -> dict:
        return asdict(self)


PROFILES = {p.name: p for p in (
    PaperProfile(name="smoke", seeds=(3407,), train_examples=8, items=6, epochs=1.0, max_steps=4, batch_size=2,
                 grad_accum=2, seq_len=256, learning_rate=2e-2, eval_gen_tokens_cap=24, eval_prompt_tokens_cap=160,
                 eval_batch=16,
                 humaneval_items=4),
    PaperProfile(name="study", seeds=(3407,), train_examples=2000, items="study"),
    PaperProfile(name="full", seeds=(3407, 3408, 3409), train_examples=2000, items="all",
                 splits={"mmlu": "test", "arc_challenge": "test"}),
)}
ALIASES = {"default": "study"}  # `--profile default` (the tiny track's default) means `study` here


def profile(name: str) -> PaperProfile:
    name = ALIASES.get(name, name)
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"Unknown paper profile {name!r}. Available: {', '.join(PROFILES)}") from None


@dataclass(frozen=True)
class PlannedRun:
    """One cache entry the profile needs: a fine-tuning run (adapter + its evaluation) or a base
    evaluation (condition and domain "base")."""

    model: str
    topology: str
    condition: str
    role: str
    domain: str
    seed: int
    p: PaperProfile
    protocol: str = "study"

    @property
    def is_base(self) -> bool:
        return self.condition == "base"

    def to_dict(self) -> dict:
        out = {"model": self.model, "topology": self.topology, "condition": self.condition, "role": self.role,
               "domain": self.domain, "seed": self.seed, "kind": "base-eval" if self.is_base else "finetune+eval",
               "protocol": self.protocol}
        if not self.is_base:
            from loraplace.tracks.paper.protocol import TRAINING

            p = self.p
            held_out = p.train_examples - trained_examples(p)
            out.update(rank=p.rank, lora_alpha=p.lora_alpha, lora_dropout=p.lora_dropout,
                       learning_rate=p.learning_rate, epochs=p.epochs if p.max_steps <= 0 else None,
                       max_steps=p.max_steps if p.max_steps > 0 else None, scheduler=p.scheduler,
                       effective_batch_size=p.effective_batch_size, batch_size=p.batch_size,
                       grad_accum=p.grad_accum, seq_len=p.seq_len, drawn_examples=p.train_examples,
                       train_examples=p.train_examples - held_out, validation_examples=held_out,
                       data_seed=TRAINING.seed, trainer=TRAINING.trainer,
                       optimizer=p.optimizer, bf16=p.bf16, gradient_checkpointing=p.gradient_checkpointing)
        return out


def plan(p: PaperProfile, models: dict[str, tuple[str, dict]] | None = None,
         protocol: str = "study") -> list[PlannedRun]:
    """Every run of profile `p`: per model a base evaluation, then role x domain x seed.

    `models`: {topology: (model key, {role: condition name})}; default: the study's two models
    with its own condition names."""
    if models is None:
        models = {m.topology: (m.key, dict(m.conditions)) for m in MODELS.values()}
    runs = []
    for topology, (key, roles) in models.items():
        runs.append(PlannedRun(key, topology, "base", "base", "base", p.seeds[0], p, protocol))
        runs += [PlannedRun(key, topology, roles[role], role, domain, seed, p, protocol)
                 for role in ROLES for domain in DOMAINS for seed in p.seeds]
    return runs


# ---- a rough cost estimate -------------------------------------------------------------------

# Assumed mean tokens per evaluated item: (requests, prompt tokens each, generated tokens), the
# profile's caps applied (smoke's shorter prompts and generations). Rough
# figures for the study's prompts; generation is memory-bound, so DECODE_MFU is far below MFU.
EVAL_TOKENS = {"gsm8k": (1, 900, 256), "mmlu": (4, 120, 0), "arc_challenge": (4, 60, 0),
               "hellaswag": (4, 100, 0), "humaneval": (1, 150, 512)}  # (requests, prompt tokens, new tokens)
FULL_ITEMS = {"gsm8k": 1319, "mmlu": 14042, "arc_challenge": 1172, "hellaswag": 10042, "humaneval": 164}
STUDY_ITEMS = {"gsm8k": 362, "mmlu": 512, "arc_challenge": 299, "hellaswag": 512, "humaneval": 164}


def trained_examples(p: PaperProfile) -> int:
    """The examples a run trains on: those drawn less the study's validation hold-out (2,000 -> 1,900)."""
    from loraplace.tracks.paper.protocol import TRAINING

    return p.train_examples - TRAINING.validation_size(p.train_examples)


def eval_items(p: PaperProfile) -> dict[str, int]:
    if p.items == "study":
        return dict(STUDY_ITEMS)
    if p.items == "all":
        return dict(FULL_ITEMS)
    return {b: (p.humaneval_items or p.items) if b == "humaneval" else int(p.items) for b in BENCHMARKS}


def run_tokens(run: PlannedRun) -> tuple[int, int, int]:
    """(trained, prefilled, decoded) tokens of one planned run: examples x epochs x seq_len (an upper
    bound: shorter examples cost less) or max_steps x batch x seq_len; evaluation by `EVAL_TOKENS`."""
    p = run.p
    train = 0 if run.is_base else (p.max_steps * p.effective_batch_size * p.seq_len if p.max_steps > 0
                                   else trained_examples(p) * p.epochs * p.seq_len)
    items = eval_items(p)
    prompt_cap, gen_cap = p.eval_prompt_tokens_cap or 10 ** 9, p.eval_gen_tokens_cap or 10 ** 9
    prefill = sum(items[b] * EVAL_TOKENS[b][0] * min(EVAL_TOKENS[b][1], prompt_cap) for b in items)
    return train, prefill, sum(items[b] * min(EVAL_TOKENS[b][2], gen_cap) for b in items)


def estimate_gpu_hours(runs: list[PlannedRun], n_params: dict[str, int], *, peak_tflops: float = 989.0,
                       mfu: float = 0.25, decode_mfu: float = 0.02) -> dict:
    """GPU-hours of a plan on one GPU of `peak_tflops` (bf16 dense; H100 SXM: 989) at the assumed
    utilisation: training 8·N FLOPs a token (forward, backward, checkpoint recompute) over
    examples x epochs x seq_len tokens (an upper bound: examples shorter than seq_len cost less),
    evaluation 2·N a token over `EVAL_TOKENS`. Rough by design; measured throughput belongs in
    benchmarks/RESULTS.md."""
    per_run, total = [], 0.0
    for run in runs:
        n = n_params[run.model]
        train_tokens, prefill, decode = run_tokens(run)
        seconds = (8 * n * train_tokens / (peak_tflops * 1e12 * mfu) + 2 * n * prefill / (peak_tflops * 1e12 * mfu)
                   + 2 * n * decode / (peak_tflops * 1e12 * decode_mfu))
        per_run.append(seconds / 3600)
        total += seconds / 3600
    return {"gpu_hours": round(total, 2), "per_run_minutes_max": round(60 * max(per_run, default=0), 1),
            "assumptions": {"peak_tflops": peak_tflops, "mfu": mfu, "decode_mfu": decode_mfu,
                            "train_flops_per_token": "8N", "eval_flops_per_token": "2N"}}
