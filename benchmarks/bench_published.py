"""Time the full published-evidence run of the suite, and its two in-process parts.

    python benchmarks/bench_published.py [--resamples 10000] [--reps 3] [--xdist N] [--budget 10]

Rows:
  load_published()        reading + re-scoring every released per-item output (in process)
  evaluate all claims     every claim x scorer, `--resamples` bootstrap resamples (in process)
  pytest hypotheses/ ...  the whole run as a user types it, in a subprocess: both scorers,
                          `--verdicts record`, report written to a temp --report-dir
                          (`-n N` rows with --xdist N)

Wall seconds are min / median over --reps, after one untimed warm-up run (a warm cache: the
HumanEval executions and the real-size parameter accounting are cached after the first run);
`pytest s` is the median of pytest's own "in X s" (test time: collection, tests and the report;
no interpreter start-up). The budget (issues 9 and 16: the full published run, both scorers,
with the report, <= 10 s wall, warm, on 2 cores) is judged on the median wall seconds of each
pytest row, interpreter start-up included: PASS or OVER. The load average is printed: on a
shared machine a run waits for the CPU, and the user + system CPU seconds (`cpu s`) show what
the run itself costs. PYTHONDONTWRITEBYTECODE=1 (no .pyc cache) adds ~1 s of compiling per run.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VERDICTS = ("supported", "refuted", "inconclusive", "unavailable")
SEED = 3407


def _time(fn, reps: int) -> tuple[list[float], object]:
    times, out = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out


def in_process(published_dir: str, resamples: int, reps: int) -> list[dict]:
    from loraplace.claims.registry import CLAIMS
    from loraplace.judging.evaluate import evaluate
    from loraplace.scoring.gsm8k import SCORERS
    from loraplace.tracks.published import loader as published

    def load():
        published._load.cache_clear()  # load_published is memoised per process
        return published.load_published(published_dir)

    # the first load may execute HumanEval completions (cached by content afterwards): warm up
    t0 = time.perf_counter()
    evidence = load()
    first = time.perf_counter() - t0
    load_times, evidence = _time(load, reps)

    def judge_all():
        return [v for claim in CLAIMS.values() if claim.judged_on == "evidence" for scorer in SCORERS
                for v in evaluate(claim, evidence, scorer, resamples=resamples, seed=SEED)]

    eval_times, verdicts = _time(judge_all, reps)
    return [
        {"config": f"load_published() (first load {first:.2f} s)", "times": load_times,
         "counts": f"{len(evidence.records):,} records"},
        {"config": f"evaluate all claims ({len(CLAIMS)} claims x {len(SCORERS)} scorers)",
         "times": eval_times, "counts": _counts(v.verdict for v in verdicts)},
    ]


def _counts(verdicts) -> str:
    c = Counter(verdicts)
    return " ".join(f"{c.get(v, 0)} {v[:5]}" for v in VERDICTS)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pytest_run(published_dir: str, resamples: int, reps: int, extra: list[str]) -> dict:
    times, test_times, cpu, counts = [], [], [], ""
    for rep in range(reps + 1):  # rep 0: the untimed warm-up
        with tempfile.TemporaryDirectory(prefix="bench-published-") as out:
            # `--opt=value`: a separate path token would be taken for a test path when pytest
            # picks the rootdir
            cmd = [sys.executable, "-m", "pytest", "hypotheses/", "--evidence", "published",
                   "--verdicts", "record", "-q", "-p", "no:cacheprovider",
                   f"--published-dir={published_dir}", f"--report-dir={out}",
                   f"--bootstrap-resamples={resamples}", f"--seed={SEED}", *extra]
            t0, c0 = time.perf_counter(), _children_cpu()
            proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
            wall, used = time.perf_counter() - t0, _children_cpu() - c0
            if proc.returncode != 0:
                sys.exit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
            if rep == 0:
                continue
            times.append(wall)
            cpu.append(used)
            m = re.search(r" in ([0-9.]+)s", proc.stdout.strip().splitlines()[-1])
            test_times.append(float(m.group(1)) if m else float("nan"))
            report = json.loads((Path(out) / "claims.json").read_text(encoding="utf-8"))
            counts = _counts(v["verdict"] for v in report["verdicts"])
    label = " ".join(["pytest hypotheses/ --evidence published --verdicts record", *extra])
    return {"config": label, "times": times, "test_times": test_times, "cpu": cpu, "counts": counts}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--resamples", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--xdist", type=int, default=0, metavar="N", help="also time `-n N` (0: don't)")
    ap.add_argument("--budget", type=float, default=10.0, help="seconds allowed for the pytest run")
    ap.add_argument("--published-dir", default=None,
                    help="the study's released data (default: $LORAPLACE_PUBLISHED_DIR, else the fetch cache)")
    args = ap.parse_args(argv)

    from loraplace.tracks.published.loader import default_dir

    published_dir = str(Path(args.published_dir) if args.published_dir else default_dir())
    if not (Path(published_dir) / "results" / "eval_details").is_dir():
        sys.exit(f"the study's released data is not at {published_dir}: pass --published-dir or run "
                 "`loraplace fetch published`")
    print(f"data: {published_dir}\nresamples: {args.resamples:,}  reps: {args.reps}  "
          f"cpus: {os.cpu_count()}  load: {os.getloadavg()[0]:.2f}  python: {sys.version.split()[0]}"
          f"{'  PYTHONDONTWRITEBYTECODE set' if os.environ.get('PYTHONDONTWRITEBYTECODE') else ''}\n", flush=True)

    rows = in_process(published_dir, args.resamples, args.reps)
    rows.append(pytest_run(published_dir, args.resamples, args.reps, []))
    if args.xdist:
        rows.append(pytest_run(published_dir, args.resamples, args.reps, ["-n", str(args.xdist)]))

    width = max(len(r["config"]) for r in rows)
    print(f"{'configuration':{width}s}  {'wall min':>8s} {'median':>7s}  {'pytest s':>8s}  {'cpu s':>6s}  "
          f"{'budget':>6s}  verdicts / size")
    for r in rows:
        t = r["times"]
        test = f"{statistics.median(r['test_times']):8.2f}" if "test_times" in r else f"{'':8s}"
        cpu = f"{statistics.median(r['cpu']):6.2f}" if "cpu" in r else f"{'':6s}"
        verdict = ("PASS" if statistics.median(t) <= args.budget else "OVER") if "test_times" in r else ""
        print(f"{r['config']:{width}s}  {min(t):8.2f} {statistics.median(t):7.2f}  {test}  {cpu}  {verdict:>6s}  "
              f"{r['counts']}")
    print(f"\nbudget: full published run, both scorers, with the report, warm, <= {args.budget:g} s wall "
          f"(median, interpreter start-up included); load average now {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
