"""A project-independent yardstick of how fast this machine runs right now, to set beside a timing.

    python benchmarks/yardstick.py [--reps 3] [--json]

Times two fixed single-threaded workloads that use nothing of loraplace: pure Python (a sieve of
Eratosthenes to 2,000,000 and a sort of 300,000 pseudo-random floats) and dense float32 matrix
products in torch (200 products of 256 × 256 on one thread), and prints the median seconds of
each over `--reps` repetitions and their sum (the yardstick). A wall time divided by the
yardstick measured in the same session is comparable across days on which the machine ran at
different speeds (benchmarks/RESULTS.md records both).
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import time


def python_work() -> float:
    t0 = time.perf_counter()
    n = 2_000_000
    sieve = bytearray([1]) * (n + 1)
    for i in range(2, int(n ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = bytes(len(range(i * i, n + 1, i)))
    rng = random.Random(0)
    sorted(rng.random() for _ in range(300_000))
    return time.perf_counter() - t0


def matmul_work() -> float:
    import torch

    was = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        g = torch.Generator().manual_seed(0)
        a, b = torch.randn(256, 256, generator=g), torch.randn(256, 256, generator=g)
        t0 = time.perf_counter()
        for _ in range(200):
            a = torch.tanh(a @ b)
        return time.perf_counter() - t0
    finally:
        torch.set_num_threads(was)


def measure(reps: int = 3) -> dict:
    py = statistics.median(python_work() for _ in range(reps))
    mm = statistics.median(matmul_work() for _ in range(reps))
    return {"python_s": round(py, 3), "matmul_s": round(mm, 3), "yardstick_s": round(py + mm, 3),
            "load_1min": round(__import__("os").getloadavg()[0], 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = measure(args.reps)
    print(json.dumps(out) if args.json else
          f"yardstick {out['yardstick_s']:.3f} s (python {out['python_s']:.3f} s, matmul {out['matmul_s']:.3f} s; "
          f"load {out['load_1min']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
