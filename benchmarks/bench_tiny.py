"""The tiny track's budgets: cold / warm wall time, base accuracy vs chance, LoRA step cost.

    python benchmarks/bench_tiny.py [--profile smoke] [--threads 2] [--cache-dir DIR] [--step-only]

Prints (1) per profile: cold wall time of `build_tiny` in a fresh cache (split into pretrain,
fine-tune and eval), warm wall time (same cache, everything loaded), and PASS/OVER against the
budget (smoke 300 s, default 1800 s); (2) the base organisms' accuracy per benchmark vs chance
(corrected scorer; PASS when >= chance + 10 pp); (3) per organism and condition the median
wall time of one LoRA training step (forward + backward + AdamW on the adapter) against a bare
forward + backward of the same model and batch (no optimizer step), budget <= 1.3x.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

BUDGET_S = {"smoke": 300, "default": 1800, "full": None}


def step_cost(profile, reps: int = 20) -> list[tuple]:
    from loraplace.evidence.tiny import ROLE_OF
    from loraplace.models import organisms as org
    from loraplace.models.placement import apply_lora
    from loraplace.train import lora
    from loraplace.train.tokenizer import build_tokenizer

    tok, rows = build_tokenizer(), []
    x = lora.make_batches("gsm8k_train", 0, 1, profile.finetune_batch, profile.seq_len, tok)[0]
    for spec in org.organisms(profile.hidden_size).values():
        base = org.build(spec).train()

        def timed(model, fn) -> float:
            times = []
            for i in range(reps + 3):
                t0 = time.perf_counter()
                fn(model)
                if i >= 3:
                    times.append(time.perf_counter() - t0)
            return statistics.median(times)

        def bare(model):
            model(input_ids=x, labels=x).loss.backward()
            model.zero_grad(set_to_none=True)

        t_bare = timed(base, bare)
        for cond in ROLE_OF:
            peft_model = apply_lora(copy.deepcopy(base), lora.conditions_for(base, profile.rank)[cond]).train()
            opt = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-3)

            def step(model):
                model(input_ids=x, labels=x).loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)

            t_lora = timed(peft_model, step)
            rows.append((spec.key, cond, t_bare * 1e3, t_lora * 1e3, t_lora / t_bare))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="smoke")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache-dir", type=Path, default=None, help="default: a fresh temporary directory (cold)")
    ap.add_argument("--step-only", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from loraplace.evidence.records import select
    from loraplace.evidence.tiny import build_tiny, profile
    from loraplace.evidence.tiny_eval import accuracy
    from loraplace.train import synthetic
    from loraplace.train.cache import Cache

    prof = profile(args.profile)
    ok = True
    if not args.step_only:
        with tempfile.TemporaryDirectory(prefix="bench-tiny-") as tmp:
            root = args.cache_dir or Path(tmp)
            t0 = time.perf_counter()
            ev = build_tiny(prof.name, cache=Cache(root), progress=False)
            cold = time.perf_counter() - t0
            split = ev.source["timings_s"]
            t0 = time.perf_counter()
            build_tiny(prof.name, cache=Cache(root), progress=False)
            warm = time.perf_counter() - t0
        budget = BUDGET_S.get(prof.name)
        verdict = "-" if budget is None else ("PASS" if cold <= budget else "OVER")
        ok &= verdict != "OVER"
        print(f"\n{'profile':8} {'threads':>7} {'runs':>5} {'records':>8} {'cold s':>8} {'pretrain':>9} "
              f"{'finetune':>9} {'eval':>7} {'warm s':>7} {'budget':>7}  verdict")
        n_runs = len({r.run for r in ev.records})
        print(f"{prof.name:8} {args.threads:>7} {n_runs:>5} {len(ev.records):>8} {cold:>8.1f} {split.get('pretrain', 0):>9.1f} "
              f"{split.get('finetune', 0):>9.1f} {split.get('eval', 0):>7.1f} {warm:>7.1f} {budget or '-':>7}  {verdict}")
        print(f"\n{'organism':16} {'benchmark':14} {'items':>5} {'base acc':>9} {'chance':>7}  >= chance+10pp")
        for topo, key in ev.models.items():
            acc = accuracy(select(ev.records, model=key, condition="base"))
            for bench in synthetic.BENCHMARKS:
                good = acc[bench] >= synthetic.CHANCE[bench] + 0.10
                ok &= good
                print(f"{key:16} {bench:14} {prof.n_items[bench]:>5} {acc[bench]:>9.3f} "
                      f"{synthetic.CHANCE[bench]:>7.2f}  {'PASS' if good else 'FAIL'}")
    rows = step_cost(prof)
    print(f"\n{'organism':16} {'condition':20} {'bare f+b ms':>11} {'LoRA step ms':>12} {'ratio':>6}  <=1.3x")
    for key, cond, bare, step, ratio in rows:
        ok &= ratio <= 1.3
        print(f"{key:16} {cond:20} {bare:>11.1f} {step:>12.1f} {ratio:>6.2f}  {'PASS' if ratio <= 1.3 else 'OVER'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
