#!/usr/bin/env python3
"""Does a paper-track re-run reproduce? Run the hypotheses twice into separate caches, compare.

    python scripts/gpu_reproducibility.py --out OUT [--profile smoke] [--paper-model T=ID_OR_DIR]…
        [--paper-data DIR] [--published-dir DIR] [--study-part C2-seq] [--gen-tolerance 0.01]

Each run is `pytest hypotheses/ --evidence paper --profile P --verdicts record` with its own
`--cache-dir` (OUT/run-a/cache, OUT/run-b/cache) and `--report-dir`; both train with
`LORAPLACE_FULL_DETERMINISM=1` (transformers' `full_determinism`: deterministic CUDA kernels,
CUBLAS workspace pinned). Then every record of run a is matched with run b's by
(model, condition, domain, seed, benchmark, question, scorer):

  log-likelihood benchmarks (mmlu, arc_challenge, hellaswag)   must agree exactly
  generation benchmarks (gsm8k, humaneval)                     at most `--gen-tolerance` of the
                                                               items may differ (default 1 %:
                                                               bf16 greedy decoding can break a
                                                               near-tie differently)

`--study-part ID` then also runs the `study` profile for the tests whose id contains ID (a third
cache, OUT/study). The summary goes to OUT/reproducibility.json; the exit status is 0 iff both
runs passed and the records agree within the tolerance. The GPU workflow
(.github/workflows/gpu-reproducibility.yml) calls this; on CPU it runs on tiny checkpoints
(tests/test_paper_repro.py).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOGLIKELIHOOD = ("mmlu", "arc_challenge", "hellaswag")
GENERATION = ("gsm8k", "humaneval")


def pytest_command(profile: str, cache: Path, reports: Path, models: list[str], data: str | None,
                   published: str | None, select: str | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "pytest", str(REPO / "hypotheses"), "--evidence", "paper", "--profile", profile,
           f"--cache-dir={cache}", f"--report-dir={reports}", "--verdicts", "record", "-q", "-p", "no:cacheprovider"]
    cmd += [f"--paper-model={m}" for m in models]
    cmd += [f"--paper-data={data}"] if data else []
    cmd += [f"--published-dir={published}"] if published else []
    cmd += ["-k", select] if select else []
    return cmd


def run_pytest(cmd: list[str], log: Path) -> int:
    env = dict(os.environ, LORAPLACE_FULL_DETERMINISM="1", PYTHONUNBUFFERED="1")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as fh:
        return subprocess.run(cmd, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT).returncode


def cache_records(cache: Path) -> dict[tuple, float]:
    """(model, condition, domain, seed, benchmark, item_key, scorer) -> score, over every
    paper-records entry of a cache."""
    from loraplace.evidence.records import read_jsonl

    return {(r.model, r.condition, r.domain, r.seed, r.benchmark, r.item_key, r.scorer): r.score
            for path in sorted((Path(cache) / "paper-records").glob("*/records.jsonl")) for r in read_jsonl(path)}


def compare_caches(a: Path, b: Path, gen_tolerance: float = 0.01) -> dict:
    """Agreement of two caches' records, per benchmark; `ok` iff within the stated tolerance."""
    ra, rb = cache_records(a), cache_records(b)
    only = sorted(set(ra) ^ set(rb))
    items, differ = Counter(), Counter()
    for key in set(ra) & set(rb):
        items[key[4]] += 1
        differ[key[4]] += ra[key] != rb[key]
    per = {bench: {"items": items[bench], "differ": differ[bench],
                   "rate": differ[bench] / items[bench] if items[bench] else 0.0,
                   "rule": "exact" if bench in LOGLIKELIHOOD else f"<= {gen_tolerance:.1%} differ"}
           for bench in sorted(items)}
    ok = (not only and bool(items) and all(v["differ"] == 0 for b, v in per.items() if b in LOGLIKELIHOOD)
          and all(v["rate"] <= gen_tolerance for b, v in per.items() if b not in LOGLIKELIHOOD))
    return {"ok": ok, "records": len(ra), "unmatched": len(only), "unmatched_examples": [list(k) for k in only[:5]],
            "benchmarks": per, "gen_tolerance": gen_tolerance}


def main(argv: list[str] | None = None, runner=run_pytest) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--profile", default="smoke", choices=("smoke", "study", "full"))
    ap.add_argument("--paper-model", action="append", default=[], metavar="TOPOLOGY=ID_OR_DIR")
    ap.add_argument("--paper-data", default=None)
    ap.add_argument("--published-dir", default=None)
    ap.add_argument("--study-part", default=None, help="also run the study profile for tests matching this -k")
    ap.add_argument("--gen-tolerance", type=float, default=0.01)
    args = ap.parse_args(argv)
    summary = {"profile": args.profile, "runs": {}}
    for name in ("a", "b"):
        base = args.out / f"run-{name}"
        cmd = pytest_command(args.profile, base / "cache", base / "reports", args.paper_model, args.paper_data,
                             args.published_dir)
        summary["runs"][name] = {"command": cmd, "returncode": runner(cmd, base / "pytest.log")}
        print(f"run {name}: exit {summary['runs'][name]['returncode']}", flush=True)
    summary["comparison"] = compare_caches(args.out / "run-a" / "cache", args.out / "run-b" / "cache",
                                           args.gen_tolerance)
    if args.study_part:
        cmd = pytest_command("study", args.out / "study" / "cache", args.out / "study" / "reports",
                             args.paper_model, args.paper_data, args.published_dir, select=args.study_part)
        summary["runs"]["study"] = {"command": cmd, "returncode": runner(cmd, args.out / "study" / "pytest.log")}
    ok = all(r["returncode"] == 0 for r in summary["runs"].values()) and summary["comparison"]["ok"]
    summary["ok"] = ok
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "reproducibility.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary["comparison"]["benchmarks"], indent=1))
    print("REPRODUCED" if ok else "NOT REPRODUCED", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
