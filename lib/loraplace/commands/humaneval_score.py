"""`loraplace humaneval-score FILE.jsonl`: execute released HumanEval completions in the sandbox."""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

from loraplace.sandbox import api as sandbox
from loraplace.scoring import humaneval


def register(subparsers) -> None:
    p = subparsers.add_parser("humaneval-score", help=__doc__.split(": ", 1)[1],
                              description=__doc__)
    p.add_argument("file", help="a released *__humaneval.jsonl (task_id, completion per line)")
    p.add_argument("--scorer", choices=humaneval.SCORERS, default="corrected")
    p.add_argument("--timeout", type=float, default=3.0, help="wall seconds per item")
    p.add_argument("--workers", type=int, default=sandbox.default_workers(),
                   help="sandboxes at once (default: CPUs + 1)")
    p.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="score through the execution cache in DIR, the one the tracks use "
                        "(loraplace.scoring.execution; theirs is $LORAPLACE_CACHE_DIR/humaneval, "
                        "else ~/.cache/loraplace/humaneval): only what is not cached runs, and "
                        "only reproduced outcomes are served (a pass is confirmed by the next "
                        "scoring into DIR, which runs it once more). Default: no cache")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--details", action="store_true", help="with --json: include per-item results")
    p.add_argument("--allow-unsandboxed", action="store_true",
                   help="execute even without full isolation (refused otherwise); the summary "
                        "then states the isolation obtained and unsandboxed: true")
    p.set_defaults(func=run)


def _terminated(signum, frame):
    """SIGTERM ends the command like Ctrl-C does: the batch's sandboxes are killed, its cache
    claims released, and it exits with 128 + the signal's number."""
    raise SystemExit(128 + signum)


def run(args: argparse.Namespace) -> int:
    if not os.path.exists(args.file):
        raise FileNotFoundError(f"no such file: {args.file}")
    if threading.current_thread() is not threading.main_thread():  # signal handlers: main only
        return _score(args)
    before = signal.signal(signal.SIGTERM, _terminated)
    try:
        return _score(args)
    finally:
        signal.signal(signal.SIGTERM, before)


def _score(args: argparse.Namespace) -> int:
    try:
        if args.cache_dir is None:
            results = humaneval.score_file(args.file, args.scorer, workers=args.workers,
                                           timeout=args.timeout, progress=not args.json,
                                           allow_unsandboxed=args.allow_unsandboxed)
        else:
            from loraplace.scoring.execution import execute_cached

            rows = humaneval.read_completions(args.file)
            results = execute_cached([(r["task_id"], r["completion"]) for r in rows], args.scorer,
                                     cache_dir=args.cache_dir, workers=args.workers,
                                     timeout=args.timeout, progress=not args.json,
                                     allow_unsandboxed=args.allow_unsandboxed)
    except sandbox.IsolationRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = humaneval.summary(results)
    if out.get("unsandboxed"):
        print(f"WARNING: executed WITHOUT full isolation ({out['isolation']}); "
              "these numbers are marked unsandboxed", file=sys.stderr)
    if args.json:
        if args.details:
            out["items"] = results
        print(json.dumps(out))
    else:
        print(f"{args.file}: scorer={args.scorer} n={out['n']} pass@1={out['pass_at_1']:.4f} "
              f"by_status={out['by_status']} isolation={out['isolation']}"
              + (" UNSANDBOXED" if out.get("unsandboxed") else ""))
    return 0
