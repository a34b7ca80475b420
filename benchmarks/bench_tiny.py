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

    python benchmarks/bench_tiny.py --against [REV] [--reps 1] [--organisms a,b] [--cache-dir D]

instead times the same phases for the code of a reference revision (default b818bb0, checked out
with `git worktree add` into a temporary directory) and for this tree, interleaved on this
machine: for every organism and rep, `benchmarks/tiny_probe.py` runs once per tree in a fresh
process with that tree's `lib` on PYTHONPATH (which tree goes first alternates), and the table
gives each phase's median for each tree and the speed-up, the median over reps of the ratio
reference / HEAD of the rep's two probes, run back to back (each rep's ratio is printed beside
it): pretraining steps/s (a ratio < 1
there is HEAD slower), fine-tuning and evaluation seconds per run at the `--profile`'s sizes,
and the smoke profile's total worker-seconds, *estimated* as Σ over organisms of its base (the
measured install of the shipped base where the tree ships it, else 1,200 pretraining steps at the
measured rate) + (base + runs) × the smoke evaluation + runs × the smoke fine-tuning run (a cold
smoke build is not run: `bench_cold.py` times one). Every probe starts with an empty execution
cache; "evaluation s/run in a build" times a run evaluated after the base and another run, as the
runs of a build are. Both trees start from the same base (a cached
pretrained base from `--cache-dir` when there, else a fresh organism), fine-tune it (condition
`full`, GSM8K) and evaluate the fine-tuned model; the sha256 of the pretraining probe's weights and
of the adapter are compared (bit-identical training), and so are the labels of every record (score
and prediction, both scorers): the share that agree is printed per benchmark.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

BUDGET_S = {"smoke": 360, "default": 1500, "full": None}  # issue 14: four organisms, controls
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_AGAINST = "b818bb0"
PHASES = (("pretrain_steps_s", "pretraining steps/s", True), ("finetune_s", "fine-tuning s/run", False),
          ("eval_s", "evaluation s/run", False), ("eval_build_s", "evaluation s/run in a build", False),
          ("smoke_finetune_s", "smoke fine-tuning s/run", False),
          ("smoke_eval_s", "smoke evaluation s/run", False))


def probe(tree: Path, organism: str, args, out: Path) -> dict:
    """One `tiny_probe.py` process with `tree`'s loraplace -> its JSON (times of every phase)."""
    # an empty execution cache per probe: every program the probe's evaluations run is executed
    env = dict(os.environ, PYTHONPATH=str(tree / "lib"), LORAPLACE_CACHE_DIR=str(out.parent / f"exec-{out.stem}"))
    shutil.rmtree(env["LORAPLACE_CACHE_DIR"], ignore_errors=True)
    cmd = [sys.executable, str(HERE / "tiny_probe.py"), organism, "--profile", args.profile, "--out", str(out)]
    if args.cache_dir:
        cmd += ["--cache-dir", str(args.cache_dir)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"tiny_probe {organism} on {tree} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def agreement(a: dict, b: dict) -> dict[str, tuple[int, int]]:
    """{benchmark: (records whose score and prediction agree, records)} of two label dumps."""
    out: dict[str, list[int]] = {}
    for key, value in a.items():
        bench = key.split(":", 1)[0]
        hit = out.setdefault(bench, [0, 0])
        hit[0] += b.get(key) == value
        hit[1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


def smoke_total(rows: dict, tree: str) -> float:
    """Estimated worker-seconds of a cold smoke build: per organism its pretraining at the measured
    rate, then (base + runs) evaluations and runs fine-tunings at the smoke sizes."""
    from loraplace.tracks.tiny.design import profile, runs_of, specs

    smoke = profile("smoke")
    total = 0.0
    for key, spec in specs(smoke).items():
        if key not in rows:
            continue
        m = {k: statistics.median(r[tree][k] for r in rows[key]) for k in ("pretrain_steps_s", "smoke_eval_s",
                                                                          "smoke_finetune_s")}
        shipped = [r[tree].get("base_s") for r in rows[key]]
        base = (statistics.median(shipped) if None not in shipped
                else smoke.pretrain_steps / m["pretrain_steps_s"])  # installed, or pretrained
        n = len(runs_of(smoke, spec))
        total += base + (1 + n) * m["smoke_eval_s"] + n * m["smoke_finetune_s"]
    return total


def against(args) -> int:
    """The --against table: every phase for REV and HEAD, interleaved, with ratios and label agreement."""
    from loraplace.models import organisms as org

    organisms = args.organisms.split(",") if args.organisms else list(org.factorial(64))
    rows: dict[str, list[dict]] = {k: [] for k in organisms}
    agree: dict[str, list[int]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-tiny-against-") as tmp:
        ref = Path(tmp) / "ref"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(ref), args.against],
                       check=True, capture_output=True)
        try:
            trees = {"ref": ref, "head": REPO}
            for rep in range(args.reps):
                for i, key in enumerate(organisms):
                    order = ("ref", "head") if (rep + i) % 2 == 0 else ("head", "ref")
                    got = {t: probe(trees[t], key, args, Path(tmp) / f"{t}.json") for t in order}
                    rows[key].append(got)
                    labels = {t: json.loads((Path(tmp) / f"{t}.json").read_text()) for t in order}
                    for bench, (hit, n) in agreement(labels["ref"], labels["head"]).items():
                        agree.setdefault(bench, [0, 0])
                        agree[bench][0] += hit
                        agree[bench][1] += n
                    print(f"  {key} rep {rep + 1}: " + "  ".join(
                        f"{t} eval {got[t]['eval_s']:.1f}s" for t in order), flush=True)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(ref)], check=False,
                           capture_output=True)
    print_against(args, rows, agree)
    return 0


def print_against(args, rows: dict, agree: dict) -> None:
    models = sorted({r["head"]["model"] for reps in rows.values() for r in reps})
    print(f"\nbench_tiny --against {args.against}: profile {args.profile}, {args.reps} rep(s), one torch thread, "
          f"base: {' / '.join(models)}; speed-up = {args.against} / HEAD (steps/s: HEAD / {args.against})")
    print(f"{'organism':20} {'phase':26} {args.against:>10} {'HEAD':>10} {'speed-up':>9}  per rep")
    for key, reps in rows.items():
        for field, name, rate in PHASES:
            a = statistics.median(r["ref"][field] for r in reps)
            b = statistics.median(r["head"][field] for r in reps)
            # each rep's two probes ran back to back: their ratio cancels the machine's drift over
            # the benchmark (another job, a slower host) better than a ratio of the medians
            pairs = [(r["head"][field] / r["ref"][field] if rate else r["ref"][field] / r["head"][field])
                     for r in reps]
            print(f"{key:20} {name:26} {a:>10.2f} {b:>10.2f} {statistics.median(pairs):>8.2f}x  "
                  + " ".join(f"{x:.2f}" for x in pairs))
    for field in ("pretrained_sha256", "adapter_sha256"):
        same = sum(r["ref"].get(field) == r["head"].get(field) for reps in rows.values() for r in reps)
        print(f"{'all organisms':20} {field:26} bit-identical in {same} of {sum(map(len, rows.values()))} probes")
    a, b = smoke_total(rows, "ref"), smoke_total(rows, "head")
    print(f"{'smoke, all organisms':20} {'worker-s (estimated)':26} {a:>10.0f} {b:>10.0f} {a / b:>8.2f}x")
    print("\nlabels (score and prediction of every record, both scorers) equal under both revisions:")
    for bench, (hit, n) in sorted(agree.items()):
        print(f"  {bench:14} {hit}/{n} ({100 * hit / n:.2f} %)")


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
    ap.add_argument("--profile", default=None, help="default: smoke (--against: default)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the LoRA step timing")
    ap.add_argument("--workers", type=int, default=None,
                    help="worker processes of the cold build (default: usable CPUs, at most 8)")
    ap.add_argument("--cache-dir", type=Path, default=None, help="default: a fresh temporary directory (cold)")
    ap.add_argument("--step-only", action="store_true")
    ap.add_argument("--against", nargs="?", const=DEFAULT_AGAINST, default=None, metavar="REV",
                    help=f"time the phases against revision REV (default {DEFAULT_AGAINST}), interleaved")
    ap.add_argument("--reps", type=int, default=1, help="--against: probes per organism and tree")
    ap.add_argument("--organisms", default=None, help="--against: comma-separated organism keys (default all)")
    args = ap.parse_args()
    if args.against:
        args.profile = args.profile or "default"  # per-run phases at the default sizes; smoke's always added
        return against(args)
    args.profile = args.profile or "smoke"
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
