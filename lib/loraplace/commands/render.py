"""`loraplace render`: exactly what a paper-track model sees, prompt for prompt.

    loraplace render --evidence paper --paper-model TOPOLOGY=ID_OR_DIR [--paper-data DIR] [--protocol P]
                     (--benchmark B [--index N]... | --domain D) [--profile P] --json

A benchmark: a JSON list, one object per row in file order (every row of the file or split;
`--index` picks rows; `--profile` only that profile's evaluation items, with its sizes). Each
object has `index` and `prompt` (the exact string); multiple-choice rows also `continuations`
(the scored strings), generation rows `max_new_tokens` and `stop` (every stop string, EOS
included). A domain: {"train": [...], "validation": [...]}, the exact texts the trainer gets and
holds out. The model's tokenizer decides the chat template and the 896-token cap; only the
tokenizer is loaded. Without `--paper-data` the hub datasets are read.
"""
from __future__ import annotations

import json
import sys


def register(sub) -> None:
    p = sub.add_parser("render", help="print the exact prompts / training texts of the paper track",
                       description=__doc__)
    p.add_argument("--evidence", choices=("paper",), default="paper")
    p.add_argument("--paper-model", action="append", required=True, metavar="TOPOLOGY=ID_OR_DIR",
                   help="the model whose tokenizer renders (one)")
    p.add_argument("--paper-data", default=None, metavar="DIR")
    p.add_argument("--published-dir", default=None, help="the study's released data (--profile study)")
    p.add_argument("--protocol", choices=("study", "harness"), default="study")
    p.add_argument("--profile", default=None, help="only this profile's evaluation items, with its sizes")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--benchmark", choices=("mmlu", "gsm8k", "arc_challenge", "hellaswag", "humaneval"))
    what.add_argument("--domain", choices=("gsm8k_train", "codealpaca", "ultrachat"))
    p.add_argument("--index", type=int, action="append", default=None, metavar="N",
                   help="a row's index in its file or split (repeatable)")
    p.add_argument("--json", action="store_true", help="JSON (the default output is the same, readable)")
    p.set_defaults(func=run)


def _inputs(args):
    from loraplace.tracks.paper.models import load_tokenizer, resolve_models
    from loraplace.tracks.paper.plan import profile
    from loraplace.tracks.paper.protocol import protocol

    if len(args.paper_model) != 1:
        raise ValueError("render shows one model's view: give one --paper-model TOPOLOGY=ID_OR_DIR")
    topology = args.paper_model[0].partition("=")[0]
    ref = resolve_models(args.paper_model)[topology]
    return load_tokenizer(ref), protocol(args.protocol), profile(args.profile or "study")


def _benchmark(args, tokenizer, proto, p) -> list[dict]:
    from loraplace.tracks.paper.data import SHOT_POOLS, load_dataset_rows
    from loraplace.tracks.paper.prompts import gsm8k_pool
    from loraplace.tracks.paper.track import eval_rows

    bench = args.benchmark
    if args.profile:
        rows = eval_rows(p, args.paper_data, args.published_dir)[0][bench]
    else:
        rows = list(load_dataset_rows(bench, args.paper_data, split=p.splits.get(bench)).rows)
    if args.index:
        by_index = {r["_index"]: r for r in rows}
        missing = [i for i in args.index if i not in by_index]
        if missing:
            raise ValueError(f"{bench}: no row with index {', '.join(map(str, missing))} "
                             f"(rows: {len(rows)}{' in the profile' if args.profile else ''})")
        rows = [by_index[i] for i in args.index]
    pools, fewshot = {}, None
    if bench in SHOT_POOLS and proto.evaluation == "notebook":
        pools[bench] = list(load_dataset_rows(SHOT_POOLS[bench], args.paper_data).rows)
    if bench == "gsm8k":
        train = list(load_dataset_rows("gsm8k_train", args.paper_data).rows)
        pools["gsm8k"], fewshot = gsm8k_pool(train, proto.training), train
    from loraplace.tracks.paper.render import render_benchmark

    return render_benchmark(tokenizer, bench, rows, proto, p, pools, fewshot)


def run(args) -> int:
    from loraplace.tracks.paper.data import load_dataset_rows
    from loraplace.tracks.paper.render import render_domain

    tokenizer, proto, p = _inputs(args)
    if args.benchmark:
        out = _benchmark(args, tokenizer, proto, p)
    else:
        rows = list(load_dataset_rows(args.domain, args.paper_data).rows)
        out = render_domain(tokenizer, args.domain, rows, proto, p.train_examples)
    json.dump(out, sys.stdout, ensure_ascii=False, indent=None if args.json else 1)
    sys.stdout.write("\n")
    return 0
