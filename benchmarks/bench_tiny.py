"""The tiny track's budgets: cold / warm wall time, base accuracy vs chance, LoRA step cost.

    python benchmarks/bench_tiny.py [--profile smoke] [--workers N] [--threads 2] [--cache-dir DIR] [--step-only]

Prints (1) per profile: cold wall time of `build_tiny` in a fresh cache with N single-threaded
worker processes (default: the usable CPUs, at most 8), the seconds its workers spent in
pretraining, fine-tuning and evaluation (summed over workers, so they can add up to more than
the wall time), warm wall time (same cache, everything loaded), and PASS/OVER against the
budget (smoke 300 s, default 1800 s); (2) the base organisms' accuracy per benchmark vs chance
(corrected scorer; PASS when >= chance + 10 pp); (3) per organism and condition the median
wall time of one LoRA training step (`lora.train_step`: forward + backward + clipping + fused
AdamW on the adapter, LoRA dropout on) against a bare forward + backward of the same model and
batch (no optimizer step), timed alternately, budget <= 1.3x.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

BUDGET_S = {"smoke": 360, "default": 1500, "full": None}  # issue 14: four organisms, controls


def step_cost(profile, reps: int = 30) -> list[tuple]:
    """Per organism and condition: median ms of a bare forward+backward of the base model and of
    `lora.train_step` on `lora.trainable_copy` (exactly what fine-tuning runs), same batch, timed
    alternately (bare, step, bare, step, ...) so drift on a shared machine hits both alike; the
    ratio is the median of the per-pair ratios."""
    from loraplace.models import organisms as org
    from loraplace.tracks.tiny.track import ROLE_OF
    from loraplace.train import lora
    from loraplace.train.tokenizer import build_tokenizer

    tok, rows = build_tokenizer(), []
    x = lora.make_batches("gsm8k_train", 0, 1, profile.finetune_batch, profile.seq_len, tok)[0]

    def once(fn) -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    for spec in org.factorial(profile.hidden_size).values():
        base = org.build(spec).train()

        def bare():
            base(input_ids=x, labels=x).loss.backward()
            base.zero_grad(set_to_none=True)

        for cond in ROLE_OF:
            peft_model = lora.trainable_copy(base, cond, profile.rank).train()
            opt = lora.make_optimizer(peft_model, lr=1e-3)
            pairs = [(once(bare), once(lambda: lora.train_step(peft_model, opt, x))) for _ in range(reps + 3)][3:]
            t_bare = statistics.median(b for b, _ in pairs)
            t_lora = statistics.median(s for _, s in pairs)
            ratio = statistics.median(s / b for b, s in pairs)
            rows.append((spec.key, cond, t_bare * 1e3, t_lora * 1e3, ratio))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="smoke")
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the LoRA step timing")
    ap.add_argument("--workers", type=int, default=None,
                    help="worker processes of the cold build (default: usable CPUs, at most 8)")
    ap.add_argument("--cache-dir", type=Path, default=None, help="default: a fresh temporary directory (cold)")
    ap.add_argument("--step-only", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from loraplace.evidence.records import select
    from loraplace.tracks.tiny.build import build_tiny, default_workers
    from loraplace.tracks.tiny.evaluate import accuracy
    from loraplace.tracks.tiny.track import profile
    from loraplace.train import synthetic
    from loraplace.train.cache import Cache

    prof = profile(args.profile)
    workers = args.workers or default_workers()
    ok = True
    if not args.step_only:
        with tempfile.TemporaryDirectory(prefix="bench-tiny-") as tmp:
            root = args.cache_dir or Path(tmp)
            t0 = time.perf_counter()
            ev = build_tiny(prof.name, cache=Cache(root), progress=False, workers=workers)
            cold = time.perf_counter() - t0
            split = ev.source["timings_s"]
            t0 = time.perf_counter()
            build_tiny(prof.name, cache=Cache(root), progress=False, workers=workers)
            warm = time.perf_counter() - t0
        budget = BUDGET_S.get(prof.name)
        verdict = "-" if budget is None else ("PASS" if cold <= budget else "OVER")
        ok &= verdict != "OVER"
        print(f"\n{'profile':8} {'workers':>7} {'runs':>5} {'records':>8} {'cold s':>8} {'pretrain':>9} "
              f"{'finetune':>9} {'eval':>7} {'warm s':>7} {'budget':>7}  verdict")
        n_runs = len({r.run for r in ev.records})
        print(f"{prof.name:8} {workers:>7} {n_runs:>5} {len(ev.records):>8} {cold:>8.1f} "
              f"{split.get('pretrain', 0):>9.1f} {split.get('finetune', 0):>9.1f} {split.get('eval', 0):>7.1f} "
              f"{warm:>7.1f} {budget or '-':>7}  {verdict}")
        print(f"\n{'organism':16} {'benchmark':14} {'items':>5} {'base acc':>9} {'chance':>7}  >= chance+10pp")
        for key in ev.cells:  # all four organisms of the factorial
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
