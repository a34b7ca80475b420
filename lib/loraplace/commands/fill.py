"""`loraplace fill --evidence tiny|paper --profile P --cache-dir DIR --engine local|ray`: create
every missing cache entry of a track's profile, on this machine or a Ray cluster.

The plan is `loraplace plan`'s; each missing entry is a task run in dependency order (tiny:
pretraining before adapters, adapters before their evaluation; paper: one task per run, each
on one GPU), retried twice when it fails, into one shared cache directory. Afterwards
`pytest hypotheses/ --evidence … --profile … --cache-dir DIR` runs warm. Exit status 1 when
an entry could not be created (the finished ones stay in the cache).
"""
from __future__ import annotations

import json
import sys

from loraplace.scale.fill import ENGINES


def register(sub) -> None:
    p = sub.add_parser("fill", help="create a track's missing cache entries locally or on a Ray cluster",
                       description=__doc__)
    p.add_argument("--evidence", choices=("tiny", "paper"), default="tiny")
    p.add_argument("--profile", default=None, help="tiny: smoke|default|full (default default); "
                                                   "paper: smoke|study|full (default study)")
    p.add_argument("--cache-dir", default=None, help="cache root, shared by every worker (default: "
                                                      "$LORAPLACE_CACHE_DIR/variants or ~/.cache/loraplace/variants)")
    p.add_argument("--engine", default="local", help=f"one of {', '.join(ENGINES)} (default local)")
    p.add_argument("--address", default=None, help="ray: the cluster to join (e.g. auto, HOST:6379, "
                                                    "ray://HOST:10001); default: start a local instance")
    p.add_argument("--workers", type=int, default=None, help="local: worker processes (tiny default: the CPUs, "
                                                             "at most 8; paper: 1); ray: CPUs of a local instance")
    p.add_argument("--retries", type=int, default=2, help="times a failed task is retried (default 2)")
    p.add_argument("--organism", action="append", default=None, metavar="KEY",
                   help="tiny: only this organism (tiny_qwen3_5, tiny_falcon_h1, tiny_bamba, tiny_falcon_h1_gdn, or "
                        "sequential|parallel for the study's organism of that topology; repeatable)")
    p.add_argument("--paper-model", action="append", default=None, metavar="TOPOLOGY=ID_OR_DIR")
    p.add_argument("--paper-data", default=None, metavar="DIR")
    p.add_argument("--published-dir", default=None, help="paper study profile: the study's released data")
    p.add_argument("--gpus-per-task", type=float, default=None,
                   help="paper on ray: GPUs per run (default 1; 0 builds on CPUs, e.g. the smoke profile)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print {engine, entries, created, reused, failed, wall_s, …}")
    p.set_defaults(func=run)


def run(args) -> int:
    from loraplace.scale.fill import check_engine, fill, plan_paper, plan_tiny
    from loraplace.train.cache import Cache

    check_engine(args.engine)
    root = Cache(args.cache_dir).root
    if args.evidence == "tiny":
        from loraplace.tracks.tiny.track import profile

        work = plan_tiny(profile(args.profile or "default"), root, tuple(args.organism) if args.organism else None)
    else:
        from loraplace.tracks.paper.track import default_device

        gpus = 1.0 if args.gpus_per_task is None else args.gpus_per_task
        # Ray runs each task where it gets its GPUs; the local engine builds on this machine's device.
        device = ("cuda" if gpus > 0 else "cpu") if args.engine == "ray" else default_device()
        work = plan_paper(args.profile or "study", root, models=args.paper_model or (), data_dir=args.paper_data,
                          published_dir=args.published_dir, device=device, gpus=gpus)
    result = fill(work, engine=args.engine, address=args.address, workers=args.workers, retries=args.retries,
                  progress=not args.no_progress and sys.stderr.isatty())
    if args.json:
        print(json.dumps(result.to_json(), indent=1))
    else:
        print(f"{result.evidence}[{result.profile}] on {result.engine}: {result.entries} entries, {result.created} "
              f"created, {result.reused} reused, {result.failed} failed ({result.tasks_run} tasks, "
              f"{result.wall_s:.1f} s) in {result.cache_dir}")
    for e in result.errors:
        print(f"  failed {e['task']} after {e['attempts']} attempt(s): {e['error']}", file=sys.stderr)
    return 1 if result.failed or result.errors else 0
