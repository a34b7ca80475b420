#!/usr/bin/env python3
"""The published track's verdicts, pinned: `tests/golden/published_verdicts.json`.

    python scripts/golden_verdicts.py --check     # exit 1 and print the differences if any verdict moved
    python scripts/golden_verdicts.py --write     # regenerate (then read the diff before committing it)

One row per claim part x scorer: verdict, effect and 95 % CI bounds in pp (rounded to 0.01), Holm
p (4 significant digits), n, and where the paper states a number whether its magnitude is
excluded by the CI ("magnitude"). Computed exactly as `pytest hypotheses/ --evidence published` does
(10,000 resamples, seed 3407). `tests/test_golden_verdicts.py` runs the check in CI, so a change
that flips a verdict or moves an interval cannot pass unnoticed; the file changes only through
`--write`, in a commit whose diff a reviewer reads.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "golden" / "published_verdicts.json"
CLAIM_IDS = ("C1", "C2", "C3", "C4", "C6", "C7")


def _round(x, nd=2):
    return None if x is None else round(float(x), nd)


def compute(published_dir=None, resamples: int = 10_000, seed: int = 3407) -> dict:
    from loraplace.claims.registry import get_claim
    from loraplace.judging.evaluate import evaluate
    from loraplace.scoring.gsm8k import SCORERS
    from loraplace.tracks.published.loader import load_published

    evidence = load_published(published_dir)
    rows = {}
    for claim_id in CLAIM_IDS:
        for scorer in SCORERS:
            for v in evaluate(get_claim(claim_id), evidence, scorer, resamples=resamples, seed=seed):
                rows[f"{v.part_id}/{scorer}"] = {
                    "verdict": v.verdict, "effect_pp": _round(v.effect_pp), "ci_low_pp": _round(v.ci_low_pp),
                    "ci_high_pp": _round(v.ci_high_pp),
                    "p_holm": None if v.p_holm is None else float(f"{v.p_holm:.4g}"), "n": v.n,
                    **({"magnitude": v.magnitude} if v.magnitude else {})}
    return {"resamples": resamples, "seed": seed, "verdicts": dict(sorted(rows.items()))}


def differences(golden: dict, fresh: dict) -> list[str]:
    out = [f"{k}: {golden['verdicts'].get(k)} -> {fresh['verdicts'].get(k)}"
           for k in sorted(set(golden["verdicts"]) | set(fresh["verdicts"]))
           if golden["verdicts"].get(k) != fresh["verdicts"].get(k)]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--write", action="store_true")
    ap.add_argument("--published-dir", default=None)
    args = ap.parse_args(argv)
    fresh = compute(args.published_dir)
    if args.write:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps(fresh, indent=1) + "\n")
        print(f"wrote {GOLDEN} ({len(fresh['verdicts'])} verdicts); review `git diff {GOLDEN.name}` before committing")
        return 0
    diff = differences(json.loads(GOLDEN.read_text()), fresh)
    print("\n".join(diff) or f"all {len(fresh['verdicts'])} published verdicts as pinned")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
