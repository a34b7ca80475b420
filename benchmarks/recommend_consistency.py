"""recommend's answer on an exported tiny organism beside the tiny track's C1 and C4 verdicts.

    python benchmarks/recommend_consistency.py REPORT_DIR/recommend.json CACHE_DIR [--profile default]

Reads recommend.json (organism, domain, the candidates it ran), computes C1 and C4 on the same
cached runs with the suite's own functions (`loraplace.recommend.consistency`) and prints each
part's verdict and whether the answer is consistent with it."""
from __future__ import annotations

import argparse
import json
import sys

from loraplace.recommend.consistency import claim_verdicts, consistent
from loraplace.tracks.tiny import track as tiny
from loraplace.train.cache import Cache


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("result")
    ap.add_argument("cache_dir")
    ap.add_argument("--profile", default="default")
    args = ap.parse_args(argv)
    result = json.loads(open(args.result).read())
    m = result["model"]
    conds = [r["candidate"] for r in result["table"] if r["seeds"] == len(result["seeds"])]
    verdicts = claim_verdicts(Cache(args.cache_dir), tiny.profile(args.profile), m["organism"], m["domain"], conds)
    print(f"{m['organism']} / {m['domain']}: {result['sentence']}")
    ok = True
    for rule, holds, why in consistent(result, verdicts):
        ok &= holds
        print(f"  {'consistent  ' if holds else 'INCONSISTENT'} {rule}: {why}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
