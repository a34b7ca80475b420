#!/usr/bin/env python3
"""Calibration of the multi-seed test: prints the per-test rejection rates at alpha, alpha/6 and
alpha/36 (ratio to nominal, ± Monte Carlo SE) and the 95 % coverage, for 3, 5 and 10 seeds with a
per-seed and a shared base, and the familywise error of C1, C4 and C1's controls through
`claims.evaluate` (3 seeds). The simulated world and the functions are the tests' own
(tests/test_stats_calibration.py); run it with the repository's lib on PYTHONPATH:

    nice -n 10 python benchmarks/seed_calibration.py [--reps 20000] [--fw-reps 300]
"""
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _sim():
    spec = importlib.util.spec_from_file_location("calibration", REPO / "tests" / "test_stats_calibration.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20_000)
    ap.add_argument("--fw-reps", type=int, default=300)
    ap.add_argument("--seeds", type=int, nargs="+", default=[3, 5, 10])
    args = ap.parse_args(argv)
    sim = _sim()
    print(f"per-test rejection under the null, n = 500 questions, {args.reps} replications per row")
    print("| seeds | base | α: rate (ratio) | α/6: rate (ratio) | α/36: rate (ratio) | coverage |")
    print("|---|---|---|---|---|---|")
    for S in args.seeds:
        for per_seed in (True, False):
            out = sim.simulate(S, per_seed, args.reps, seed=100 + S)
            cells = [f"{r:.4f} ({r / a:.2f} ± {sim.mc_se(a, args.reps) / a:.2f})"
                     for a, r in out["rejection"].items()]
            print(f"| {S} | {out['base']} | {' | '.join(cells)} | {100 * out['coverage']:.1f} % "
                  f"± {100 * sim.mc_se(0.05, args.reps):.1f} |", flush=True)
    print(f"\nfamilywise error through claims.evaluate, 3 seeds, {sim.BENCH_ITEMS} questions per benchmark, "
          f"{args.fw_reps} null worlds")
    for claim_id, family in (("C1", "study"), ("C4", "study"), ("C1", "controls")):
        rate = sim.familywise(claim_id, family, args.fw_reps, 3, seed=5)
        print(f"{claim_id} {family}: {100 * rate:.1f} % ± {100 * sim.mc_se(max(rate, 0.05), args.fw_reps):.1f}",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
