"""`loraplace recommend --model MODEL --train DATA`: where should LoRA go in this model, for this data?

Races the placements that exist in the model (attention-only, recurrent-only, MLP-only, the pairs,
all, and each one's budget-matched variant) seed by seed, dropping a placement once the leader
beats it on the target questions with confidence (simultaneous intervals on the paired
difference, Bonferroni over every pair and round, the seeds' spread pooled over the placements;
nothing decided on one seed), and excluding one that forgets the off-target battery beyond the
tolerance. Prints a
ranked table and one sentence, writes recommend.json / recommend.html; `--plan` prints the
candidates and the schedule only; `--no-racing` runs the full sweep for comparison.

Backends, chosen by what MODEL and DATA are:
* DATA a JSONL (`text`, `prompt`/`completion` or `messages` rows) and MODEL any checkpoint
  `transformers` loads (an exported organism, a tiny Llama, a real hybrid): the paper track's
  trainer (peft + Trainer) on those rows; the target is `--target-eval FILE` or a held-out split
  of DATA (`recommend.data_backend`);
* DATA a study domain (gsm8k_train, codealpaca, ultrachat) and MODEL an organism exported by
  `loraplace export-organism`: the tiny track's own runs and cache (synthetic world; a round's
  runs side by side in worker processes, or as Ray tasks with --engine ray);
* DATA a study domain and MODEL any other checkpoint: the paper track's own runs, evaluation
  (lm-eval, --protocol study|harness) and cache, on the study's data (--paper-data DIR).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("recommend", help="race LoRA placements on one model and data; recommend one",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, metavar="ID_OR_DIR",
                   help="a checkpoint directory (or a hub id in the local cache)")
    p.add_argument("--train", required=True, metavar="DATA",
                   help="fine-tuning data: a JSONL of text, prompt/completion or messages rows, or a study "
                        "domain (gsm8k_train, codealpaca, ultrachat)")
    p.add_argument("--target-eval", default=None, metavar="FILE",
                   help="JSONL data: held-out items (prompt+answer: exact match; prompt+choices+answer index: "
                        "multiple choice; text or prompt/completion: loss). Default: 20 %% of --train held out")
    p.add_argument("--retention", default=None, metavar="BENCH,…|FILE,…",
                   help="off-target battery: benchmark names (study domain; default: every off-target benchmark "
                        "evaluated) or JSONL item files with answers (JSONL data; default: none)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--budget", type=int, default=None, metavar="PARAMS",
                      help="budget-matched variants train about PARAMS parameters (JSONL data)")
    size.add_argument("--rank", type=int, default=None, metavar="R",
                      help="placements train at rank R, budget-matched variants at attention-only's count at "
                           "rank R (JSONL data; default: the recipe's rank, budget at rank 16)")
    p.add_argument("--recipe", default="study", choices=("study", "smoke"),
                   help="JSONL data or a real checkpoint: the paper track's profile -- its training recipe (and, "
                        "with a study domain, its evaluation items) (default %(default)s)")
    p.add_argument("--seeds", type=int, default=None, help="training seeds at most (default: the profile's, or 3)")
    p.add_argument("--tolerance-pp", type=float, default=2.0,
                   help="retention loss accepted before a placement is excluded (default %(default)s pp)")
    p.add_argument("--alpha", type=float, default=0.05, help="familywise error of the drops (default %(default)s)")
    p.add_argument("--max-runs", type=int, default=None, help="stop after this many training runs")
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default %(default)s)")
    p.add_argument("--no-racing", action="store_true", help="every placement × every seed (the full sweep)")
    p.add_argument("--plan", action="store_true", help="print the candidates and schedule; run nothing")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="where a round's runs train side by side: local worker processes or Ray (--address, else "
                        "a local instance; on a GPU machine a GPU per paper-track run)")
    p.add_argument("--workers", type=int, default=None,
                   help="local engine: worker processes (tiny organisms: one per CPU, at most 8, LORAPLACE_WORKERS=N; "
                        "otherwise 1: the runs one after another in this process, the model loaded once)")
    p.add_argument("--address", default=None, help="ray engine: the cluster's address")
    p.add_argument("--paper-data", default=None, metavar="DIR",
                   help="study domain on a real checkpoint: the study's datasets as local JSONL (paper track)")
    p.add_argument("--protocol", default=None, choices=("study", "harness"),
                   help="study domain on a real checkpoint: the paper track's evaluation protocol")
    p.add_argument("--cache-dir", default=None, help="cache of trained variants (shared with pytest's tracks)")
    p.add_argument("--report-dir", default="reports", help="where recommend.json/.html go (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=run)


def is_jsonl(train: str) -> bool:
    return Path(train).suffix in (".jsonl", ".json") or Path(train).is_file()


def backend_for(args):
    from loraplace.recommend.tiny_backend import read_marker

    model = Path(args.model)
    if model.exists() and not (model / "config.json").is_file():
        raise FileNotFoundError(f"{model}: not a model directory (no config.json)")
    if is_jsonl(args.train):
        return _data_backend(args)
    if args.target_eval or args.budget or args.rank:
        raise ValueError("--target-eval, --budget and --rank go with --train FILE.jsonl: a study domain's runs "
                         "are the tracks' own (their targets and budgets are the suite's)")
    if model.is_dir() and read_marker(model) is not None:
        return _tiny_backend(args)
    from loraplace.recommend.paper_backend import PaperBackend

    return PaperBackend(args.model, args.train, data_dir=args.paper_data, protocol=args.protocol,
                        cache_dir=args.cache_dir, seeds=args.seeds, profile=args.recipe)


def _data_backend(args):
    from loraplace.recommend.data_backend import DataBackend, default_recipe

    files = [f.strip() for f in (args.retention or "").split(",") if f.strip()]
    return DataBackend(args.model, args.train, target_eval=args.target_eval, retention=files,
                       cache_dir=args.cache_dir, recipe=default_recipe(args.recipe), seeds=args.seeds or 3,
                       rank=args.rank, budget_params=args.budget, budget_rank=args.rank)


def _tiny_backend(args):
    from loraplace.recommend.tiny_backend import TinyBackend

    backend = TinyBackend(Path(args.model), args.train, cache_dir=args.cache_dir)
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
    from loraplace.recommend.data import DataError
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
    except (UnclassifiableModel, DataError) as exc:
        raise ValueError(str(exc)) from None
    for note in result["notes"]:
        if "not a hybrid" in note:
            print(note, file=sys.stderr)
    _, html = page.write(result, Path(args.report_dir))
    if args.json:
        print(json.dumps(result, default=str))
        return 0
    for line in _table_text(result):
        print(line)
    print(f"\n{result['sentence']}\nreport: {html}")
    return 0


def _plan_text(out: dict) -> str:
    name = out["model"].get("organism") or out["model"].get("name")
    cost = out["cost"]
    lines = [f"{name}: {len(out['candidates'])} candidates; the full sweep is {cost['full_sweep_runs']} training runs, "
             f"racing spends {cost['racing_runs_at_least']} to {cost['racing_runs_at_most']}"]
    lines += [f"  {c['label']:<40} {c['trainable']:>10,} trainable" for c in out["candidates"]]
    first = [n for n in out["notes"] if "not a hybrid" in n]  # said before anything else
    return "\n".join(first + lines + out["schedule"] + [n for n in out["notes"] if n not in first])


def _table_text(result: dict) -> list[str]:
    def ci(x, f=".1f" if result["unit"] == "pp" else ".3f"):
        return "-" if not x else f"{x['effect_pp']:+{f}} [{x['ci_low_pp']:+{f}}, {x['ci_high_pp']:+{f}}]"

    head = (f"{'placement':<40}{'status':<10}{'trainable':>12}{'seeds':>6}  {'target Δ ' + result['unit']:<26}"
            f"{'retention Δ pp':<22}{'seconds':>8}")
    return [head] + [f"{r['placement']:<40}{r['status']:<10}{r['trainable']:>12,}{r['seeds']:>6}  "
                     f"{ci(r['target']):<26}{ci(r['retention'], '.1f'):<22}{r.get('seconds', 0):>8.0f}" for r in result["table"]]
