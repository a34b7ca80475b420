"""`loraplace recommend --model DIR --train DOMAIN`: where should LoRA go in this hybrid, for this data?

Races the placements that exist in the model (attention-only, recurrent-only, MLP-only, the pairs,
all, and each one's budget-matched variant) seed by seed, dropping a placement once the leader
beats it on the target questions with confidence (Holm over the placements, Bonferroni over the
rounds), and excluding one that forgets the off-target battery beyond the tolerance. Prints a
ranked table and one sentence, writes recommend.json / recommend.html; `--plan` prints the
candidates and the schedule only; `--no-racing` runs the full sweep for comparison.

Backends: an organism exported by `loraplace export-organism` (CPU; the tiny track's runs and
cache, with a synthetic study domain as --train; a round's runs train side by side in worker
processes, or as Ray tasks with --engine ray). Real checkpoints (the paper track's trainer and
harness) are not a recommend backend yet: such a directory is refused with that message.
"""
from __future__ import annotations

import json
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("recommend", help="race LoRA placements on one model and data; recommend one",
                       description=__doc__)
    p.add_argument("--model", required=True, metavar="DIR", help="a model directory (an exported tiny organism)")
    p.add_argument("--train", required=True, metavar="DATA",
                   help="fine-tuning data: a study domain (gsm8k_train, codealpaca, ultrachat)")
    p.add_argument("--retention", default=None, metavar="BENCH,…",
                   help="off-target battery (default: every off-target benchmark the backend evaluates)")
    p.add_argument("--seeds", type=int, default=None, help="training seeds at most (default: the profile's)")
    p.add_argument("--tolerance-pp", type=float, default=2.0,
                   help="retention loss accepted before a placement is excluded (default %(default)s pp)")
    p.add_argument("--alpha", type=float, default=0.05, help="familywise error of the drops (default %(default)s)")
    p.add_argument("--max-runs", type=int, default=None, help="stop after this many training runs")
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default %(default)s)")
    p.add_argument("--no-racing", action="store_true", help="every placement × every seed (the full sweep)")
    p.add_argument("--plan", action="store_true", help="print the candidates and schedule; run nothing")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="where a round's runs train side by side: local worker processes (one per CPU, at most 8; "
                        "LORAPLACE_WORKERS=N) or Ray (--address, else a local instance)")
    p.add_argument("--workers", type=int, default=None, help="local engine: worker processes")
    p.add_argument("--address", default=None, help="ray engine: the cluster's address")
    p.add_argument("--cache-dir", default=None, help="cache of trained variants (shared with pytest's tiny track)")
    p.add_argument("--report-dir", default="reports", help="where recommend.json/.html go (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=run)


def backend_for(args):
    from loraplace.recommend.tiny_backend import TinyBackend, read_marker

    model = Path(args.model)
    if not (model / "config.json").is_file():
        raise FileNotFoundError(f"{model}: not a model directory (no config.json)")
    if read_marker(model) is None:
        raise ValueError(f"{model}: recommend runs on exported tiny organisms so far (`loraplace export-organism`); "
                         "real checkpoints need the paper track's backend, which recommend does not have yet")
    if Path(args.train).suffix == ".jsonl":
        raise ValueError("a tiny organism's world is synthetic: --train takes a study domain (gsm8k_train, "
                         "codealpaca, ultrachat), not a JSONL file")
    backend = TinyBackend(model, args.train, cache_dir=args.cache_dir)
    if args.retention:
        wanted = tuple(b.strip() for b in args.retention.split(",") if b.strip())
        unknown = [b for b in wanted if b not in backend.retention]
        if unknown:
            raise ValueError(f"Unknown retention benchmark {unknown[0]!r} for {args.train}. "
                             f"Available: {', '.join(backend.retention)}")
        backend.retention = wanted
    return backend


def run(args) -> int:
    from loraplace.recommend import page
    from loraplace.recommend.candidates import UnclassifiableModel
    from loraplace.recommend.run import plan, recommend

    try:
        backend = backend_for(args)
        if args.plan:
            out = plan(backend, args.seeds or len(backend.seeds), racing=not args.no_racing)
            print(json.dumps(out, indent=1) if args.json else _plan_text(out))
            return 0
        result = recommend(backend, seeds=args.seeds, racing=not args.no_racing, alpha=args.alpha,
                           tolerance_pp=args.tolerance_pp, resamples=args.resamples, max_runs=args.max_runs,
                           engine=args.engine, workers=args.workers, address=args.address)
    except UnclassifiableModel as exc:
        raise ValueError(str(exc)) from None
    _, html = page.write(result, Path(args.report_dir))
    if args.json:
        print(json.dumps(result, default=str))
        return 0
    for line in _table_text(result):
        print(line)
    print(f"\n{result['sentence']}\nreport: {html}")
    return 0


def _plan_text(out: dict) -> str:
    lines = [f"{out['model'].get('organism')}: {len(out['candidates'])} candidates, up to {out['full_sweep_runs']} "
             "training runs"]
    lines += [f"  {c['label']:<40} {c['trainable']:>10,} trainable" for c in out["candidates"]]
    return "\n".join(lines + out["schedule"] + out["notes"])


def _table_text(result: dict) -> list[str]:
    def ci(x):
        return "-" if not x else f"{x['effect_pp']:+.1f} [{x['ci_low_pp']:+.1f}, {x['ci_high_pp']:+.1f}]"

    head = f"{'placement':<40}{'status':<10}{'trainable':>12}{'seeds':>6}  {'target Δ pp':<22}{'retention Δ pp':<22}"
    return [head] + [f"{r['placement']:<40}{r['status']:<10}{r['trainable']:>12,}{r['seeds']:>6}  "
                     f"{ci(r['target']):<22}{ci(r['retention']):<22}" for r in result["table"]]
