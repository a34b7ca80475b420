"""Paper-track throughput at real size, without downloads: random-initialised Qwen3.5-0.8B and
Falcon-H1-0.5B built from the shipped configs, trained and evaluated by the track's own code.

    python benchmarks/device/bench_paper.py --out OUT [--budget 420] [--size real|tiny]

Per model and placement condition (the study's as-published set): LoRA training tokens/s of
`train/trainer.train_lora` (transformers Trainer, the study recipe: bf16, gradient checkpointing,
8-bit Adam where bitsandbytes works, batch 4 x accumulation 4, 1,024 tokens) over a few steps of
random token ids, and its peak GPU memory; the `full` condition once more with the recurrent
kernels forced onto transformers' torch reference (fused vs fallback). Then evaluation
throughput through `evidence/lmeval.py` (lm-eval HFLM): log-likelihood requests/s and greedy
generated tokens/s. Writes OUT/paper.json and OUT/paper.md; each measurement that cannot run is
listed under "skipped" with its reason. `--size tiny` runs the same path on the tiny organisms
on CPU (a smoke test of this script).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import time
from dataclasses import replace
from pathlib import Path

import torch

MODELS = {"sequential": "qwen3_5_0_8b_base", "parallel": "falcon_h1_0_5b_base"}


def build(topology: str, size: str, device: str):
    from transformers import AutoModelForCausalLM

    from loraplace.models import organisms as org
    from loraplace.models import zoo

    torch.manual_seed(0)
    if size == "tiny":
        return org.build(org.organisms(64)[topology]).to(device)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.device(device):
        return AutoModelForCausalLM.from_config(zoo.load_config(MODELS[topology]), dtype=dtype)


def conditions(model):
    from loraplace.models.placement import build_conditions
    from loraplace.models.taxonomy import classify_model

    return build_conditions(classify_model(model), "as-published", 16)


def train_row(topology, size, device, cond_name, steps, impl="fused") -> dict:
    from loraplace.models import dispatch
    from loraplace.tracks.paper.plan import profile
    from loraplace.train.tokenizer import build_tokenizer
    from loraplace.train.trainer import train_lora

    p = profile("study")
    if size == "tiny":
        p = replace(p, seq_len=128, batch_size=2, grad_accum=2)
    p = replace(p, max_steps=steps)
    model = build(topology, size, device)
    cond = conditions(model)[cond_name]
    n = p.max_steps * p.effective_batch_size
    ids = torch.randint(0, 100, (n, p.seq_len), generator=torch.Generator().manual_seed(0)).tolist()
    arch = "qwen3_5" if topology == "sequential" else "falcon_h1"
    ctx = dispatch.reference_path(arch) if impl == "reference" else contextlib.nullcontext()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with ctx:
        _, info = train_lora(model, build_tokenizer(), cond, ids, p, seed=3407)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    tokens = n * p.seq_len
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return {"model": MODELS[topology], "condition": cond_name, "impl": impl, "trainable": cond.trainable,
            "steps": steps, "tokens": tokens, "seconds": round(info["train_runtime_s"], 2),
            "tokens_per_s": round(tokens / info["train_runtime_s"], 1), "optimizer": info["optimizer_used"],
            "bf16": info["bf16"], "peak_gib": round(peak, 2) if peak is not None else None,
            "minutes_per_study_run_train": round(2000 * 3 * 1024 / (tokens / info["train_runtime_s"]) / 60, 1)}


def eval_row(topology, size, device, items: int, gen_tokens: int) -> dict:
    from loraplace.tracks.paper import toy as paper_toy
    from loraplace.tracks.paper.lmeval import build_tasks, run_lm_eval
    from loraplace.tracks.paper.plan import profile
    from loraplace.tracks.paper.protocol import protocol
    from loraplace.train.tokenizer import build_tokenizer

    p = replace(profile("smoke"), eval_gen_tokens_cap=gen_tokens, eval_batch=32)
    rows = {b: [dict(r, _index=i) for i, r in enumerate(paper_toy.rows(b, items))] for b in ("mmlu", "gsm8k")}
    tasks = build_tasks(rows, p, protocol("harness"),
                        fewshot_rows=[dict(r, _index=i) for i, r in enumerate(paper_toy.rows("gsm8k_train", 4))])
    model = build(topology, size, device).eval()
    out = {"model": MODELS[topology], "items": items}
    for bench in ("mmlu", "gsm8k"):
        t0 = time.perf_counter()
        samples = run_lm_eval(model, build_tokenizer(), {bench: tasks[bench]}, batch_size=32, device=device)
        dt = time.perf_counter() - t0
        if bench == "mmlu":
            out["loglikelihood_requests_per_s"] = round(4 * len(samples[bench]) / dt, 1)
        else:
            gen = sum(len(s["resps"][0][0]) for s in samples[bench])  # characters = tokens (char tokenizer)
            out["generated_tokens_per_s"] = round(gen / dt, 1)
    del model
    return out


def table(rows: list[dict], keys: list[str]) -> str:
    return "\n".join(["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)] +
                     ["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in rows])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("paper-bench-out"))
    ap.add_argument("--budget", type=float, default=420.0, help="seconds for all measurements")
    ap.add_argument("--size", choices=("real", "tiny"), default="real")
    ap.add_argument("--steps", type=int, default=4, help="optimizer steps per training measurement")
    args = ap.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    t0, results = time.perf_counter(), {"train": [], "eval": [], "skipped": [], "device": device,
                                        "card": torch.cuda.get_device_name(0) if device == "cuda" else "cpu"}

    def attempt(section, what, fn):
        if time.perf_counter() - t0 > args.budget:
            results["skipped"].append({**what, "reason": "time box"})
            return
        try:
            row = fn()
        except Exception as exc:  # noqa: BLE001 -- record and go on
            results["skipped"].append({**what, "reason": f"{type(exc).__name__}: {exc}"[:400]})
            return
        results[section].append(row)
        print(section, json.dumps(row), flush=True)

    for topology in MODELS:
        names = list(conditions(build(topology, "tiny", "cpu")))  # same names at every size
        try:  # warm-up, not recorded: CUDA context, Triton JIT / autotune of the fused kernels
            train_row(topology, args.size, device, names[0], 1)
        except Exception as exc:  # noqa: BLE001 -- the measurements below record their own failures
            results["skipped"].append({"model": MODELS[topology], "warmup": True, "reason": f"{exc}"[:400]})
        for name in names:
            attempt("train", {"model": MODELS[topology], "condition": name},
                    lambda: train_row(topology, args.size, device, name, args.steps))
        full = names[-1]
        attempt("train", {"model": MODELS[topology], "condition": full, "impl": "reference"},
                lambda: train_row(topology, args.size, device, full, max(1, args.steps // 2), impl="reference"))
        attempt("eval", {"model": MODELS[topology]},
                lambda: eval_row(topology, args.size, device, 64 if args.size == "real" else 8,
                                 256 if args.size == "real" else 8))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "paper.json").write_text(json.dumps(results, indent=1))
    md = [f"# Paper-track throughput on {results['card']} ({args.size})", "",
          table(results["train"], ["model", "condition", "impl", "trainable", "tokens_per_s", "peak_gib", "optimizer",
                                   "minutes_per_study_run_train"]), "",
          table(results["eval"], ["model", "items", "loglikelihood_requests_per_s", "generated_tokens_per_s"]), "",
          "Skipped: " + ("; ".join(f"{s}" for s in results["skipped"]) or "none")]
    (args.out / "paper.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
