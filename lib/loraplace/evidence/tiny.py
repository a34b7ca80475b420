"""The tiny evidence track: the study's design re-run on two CPU model organisms, cached.

    evidence = build_tiny("smoke", cache=Cache(root))

For each organism (sequential `tiny_qwen3_5`, parallel `tiny_falcon_h1`, parameters matched
within 10 %): pretrain on the synthetic mixture (cached), evaluate the base model, then for every
harmonized placement condition x fine-tuning domain x seed: LoRA-fine-tune (cached adapter) and
evaluate (cached records, JSONL). Every cache spec holds what determines its output (organism,
base-checkpoint sha256, condition, domain, hyper-parameters, seed, eval sizes); the cache adds
its code salt and library versions. Profiles differ in sizes only, never in the design.
"""
from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from loraplace.evidence import tiny_eval
from loraplace.evidence.records import BASE, Evidence, read_jsonl, sha256_file, write_jsonl
from loraplace.models import organisms as org
from loraplace.train import lora, synthetic

# Bump when the synthetic world / training / evaluation semantics change (part of every cache spec).
WORLD_VERSION = "tiny-world-2"  # 2: graded GSM8K and HumanEval analogues (see synthetic.py)
TRAIN_VERSION = "tiny-train-2"  # 2: fused AdamW, foreach clipping, MaskDropout
EVAL_VERSION = "tiny-eval-1"
ROLE_OF = {"attention_only": "attention", "recurrent_only": "recurrent", "mlp_only": "mlp",
           "attention_plus_mlp": "attention+mlp", "recurrent_plus_mlp": "recurrent+mlp", "full": "full"}


@dataclass(frozen=True)
class Profile:
    name: str
    hidden_size: int  # organism width (layers fixed: 4 sequential / 3 parallel)
    pretrain_steps: int
    pretrain_batch: int
    pretrain_lr: float
    seq_len: int
    finetune_steps: int
    finetune_batch: int
    finetune_lr: float
    rank: int
    seeds: tuple[int, ...]
    items: tuple[tuple[str, int], ...]  # (benchmark, held-out items evaluated)
    max_new_tokens: int  # gsm8k generation cap (characters)
    code_tokens: int  # humaneval generation cap (characters)
    mc_batch: int = 256
    gen_batch: int = 128

    @property
    def n_items(self) -> dict[str, int]:
        return dict(self.items)


def _items(gsm8k, humaneval, mc):
    return (("gsm8k", gsm8k), ("humaneval", humaneval), ("mmlu", mc), ("arc_challenge", mc), ("hellaswag", mc))


PROFILES = {p.name: p for p in (
    Profile("smoke", 64, 1200, 16, 4e-3, 160, 12, 8, 3e-3, 4, (0, 1), _items(40, 16, 40), 20, 24),
    Profile("default", 64, 1200, 16, 4e-3, 160, 40, 8, 3e-3, 4, (0, 1, 2), _items(500, 100, 600), 40, 24),
    Profile("full", 96, 3000, 16, 3e-3, 160, 150, 8, 2e-3, 8, (0, 1, 2, 3, 4),
            _items(1000, 200, 1000), 128, 32),
)}


def profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"Unknown profile {name!r}. Available: {', '.join(PROFILES)}") from None


class _Timer:
    def __init__(self):
        self.spent: dict[str, float] = {}

    def add(self, key: str, t0: float) -> None:
        self.spent[key] = self.spent.get(key, 0.0) + time.perf_counter() - t0


def base_spec(spec: org.OrganismSpec, p: Profile) -> dict:
    return {"organism": spec.to_dict(), "world": WORLD_VERSION, "train": TRAIN_VERSION, "source": "pretrain",
            "seed": 0, "steps": p.pretrain_steps, "batch": p.pretrain_batch, "lr": p.pretrain_lr, "seq_len": p.seq_len}


def build_tiny(profile_name: str, *, cache=None, progress: bool = True) -> Evidence:
    """Run (or load from `cache`) the whole tiny track of a profile -> Evidence("tiny", …).
    With cache=None everything runs in a temporary cache that is deleted afterwards."""
    if cache is None:
        from loraplace.train.cache import Cache

        with tempfile.TemporaryDirectory(prefix="loraplace-tiny-") as tmp:
            return build_tiny(profile_name, cache=Cache(Path(tmp)), progress=progress)
    p = profile(profile_name)
    timer, t_start = _Timer(), time.perf_counter()
    specs = org.organisms(p.hidden_size)
    records, inputs, bases = [], [], {}
    counts = org.param_counts(p.hidden_size)
    runs = [(topo, c, d, s) for topo in specs for c in ROLE_OF for d in synthetic.DOMAINS for s in p.seeds]
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(runs) + len(specs), desc=f"tiny[{p.name}]", unit="run")
    for topo, spec in specs.items():
        t0 = time.perf_counter()

        def create_base(d: Path, spec=spec) -> None:
            model, tok = lora.pretrain(spec, "pretrain", p.pretrain_steps, 0, batch=p.pretrain_batch,
                                       seq_len=p.seq_len, lr=p.pretrain_lr, progress=progress)
            lora.save_base(model, tok, spec, d)

        base_dir = cache.get_or_create("tiny-base", base_spec(spec, p), create_base)
        model, tok = lora.load_base(base_dir)
        base_sha = sha256_file(base_dir / "model.safetensors")
        bases[spec.key] = {"path": str(base_dir), "sha256": base_sha}
        timer.add("pretrain", t0)
        recs, path = _evaluate_cached(cache, p, model, tok, tiny_eval.Run(spec.key, topo, BASE, BASE, 0),
                                      base_sha, None, timer)
        records += recs
        inputs.append({"path": str(path), "sha256": sha256_file(path)})
        if bar:
            bar.update(1)
        for t, cond, domain, seed in runs:
            if t != topo:
                continue
            t0 = time.perf_counter()
            ft = {"organism": spec.key, "base_sha256": base_sha, "condition": cond, "domain": domain,
                  "seed": seed, "steps": p.finetune_steps, "lr": p.finetune_lr, "rank": p.rank,
                  "batch": p.finetune_batch, "seq_len": p.seq_len, "world": WORLD_VERSION,
                  "train": TRAIN_VERSION}

            def create_adapter(d: Path, cond=cond, domain=domain, seed=seed) -> None:
                losses: list[float] = []
                state = lora.finetune(model, cond, domain, seed=seed, steps=p.finetune_steps, lr=p.finetune_lr,
                                      rank=p.rank, batch=p.finetune_batch, seq_len=p.seq_len, tokenizer=tok,
                                      losses=losses)
                lora.save_adapter(state, model, cond, p.rank, d, losses)

            adapter_dir = cache.get_or_create("tiny-adapter", ft, create_adapter)
            timer.add("finetune", t0)
            adapter_sha = sha256_file(adapter_dir / "adapter.safetensors")
            run = tiny_eval.Run(spec.key, topo, cond, domain, seed)
            recs, path = _evaluate_cached(cache, p, model, tok, run, base_sha,
                                          (adapter_dir, cond, adapter_sha), timer)
            records += recs
            inputs.append({"path": str(path), "sha256": sha256_file(path)})
            if bar:
                bar.update(1)
    if bar:
        bar.close()
    timer.spent["total"] = time.perf_counter() - t_start
    return Evidence(
        "tiny", records, inputs=inputs,
        source={"profile": asdict(p), "organisms": {s.key: s.to_dict() for s in specs.values()},
                "param_counts": counts, "bases": bases, "world": WORLD_VERSION, "train": TRAIN_VERSION,
                "eval": EVAL_VERSION,
                "timings_s": {k: round(v, 2) for k, v in timer.spent.items()},
                "torch_threads": torch.get_num_threads()},
        models={topo: spec.key for topo, spec in specs.items()},
        roles={spec.key: {role: cond for cond, role in ROLE_OF.items()} for spec in specs.values()},
    )


def _evaluate_cached(cache, p: Profile, model, tok, run: tiny_eval.Run, base_sha: str, adapter, timer):
    spec = {"run": asdict(run), "base_sha256": base_sha, "adapter_sha256": adapter[2] if adapter else None,
            "items": p.n_items, "max_new_tokens": p.max_new_tokens, "code_tokens": p.code_tokens,
            "rank": p.rank, "world": WORLD_VERSION, "eval": EVAL_VERSION}

    def create(d: Path) -> None:
        t0 = time.perf_counter()
        evaluated = model
        if adapter is not None:
            state, _ = lora.load_adapter(adapter[0])
            evaluated = lora.adapted(model, adapter[1], state, p.rank)
        recs = tiny_eval.evaluate(evaluated, tok, run, p.n_items, mc_batch=p.mc_batch, gen_batch=p.gen_batch,
                                  max_new_tokens=p.max_new_tokens, code_tokens=p.code_tokens)
        write_jsonl(recs, d / "records.jsonl")
        (d / "summary.json").write_text(json.dumps(
            {s: tiny_eval.accuracy(recs, s) for s in ("as-published", "corrected")}, sort_keys=True))
        timer.add("eval_inner", t0)

    t0 = time.perf_counter()
    entry = cache.get_or_create("tiny-records", spec, create)
    timer.add("eval", t0)
    path = entry / "records.jsonl"
    return list(read_jsonl(path)), path
