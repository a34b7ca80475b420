"""`loraplace compare`: one paired bootstrap comparison of two conditions on shared questions."""
from __future__ import annotations

import json

from loraplace.evidence.registry import TRACKS, get_track, load_track, profile_names
from loraplace.judging.pairing import compare
from loraplace.scoring.gsm8k import SCORERS


def register(sub) -> None:
    p = sub.add_parser("compare", help="paired bootstrap of condition A minus condition B on shared questions",
                       description=__doc__)
    p.add_argument("a", metavar="A_CONDITION", help="the study's condition name, e.g. softmax_only")
    p.add_argument("b", metavar="B_CONDITION", help="a condition name, or 'base' for the un-fine-tuned model")
    p.add_argument("--evidence", choices=TRACKS, default="published")
    p.add_argument("--scorer", choices=SCORERS, default="as-published")
    p.add_argument("--model", required=True, help="e.g. qwen3_5_0_8b_base, falcon_h1_0_5b_base")
    p.add_argument("--domain", required=True, help="fine-tuning domain: gsm8k_train, codealpaca, ultrachat")
    p.add_argument("--benchmark", required=True, action="append",
                   help="benchmark (repeat for a stratified comparison over several)")
    p.add_argument("--published-dir", default=None, help="the study's data (default: $LORAPLACE_PUBLISHED_DIR)")
    p.add_argument("--profile", default="default", choices=profile_names(),
                   help="re-run tracks: the profile whose cached runs to compare (default %(default)s)")
    p.add_argument("--cache-dir", default=None,
                   help="re-run tracks: cache of trained variants (default: $LORAPLACE_CACHE_DIR/variants or "
                        "~/.cache/loraplace/variants)")
    p.add_argument("--paper-model", action="append", default=None, metavar="TOPOLOGY=ID_OR_DIR",
                   help="paper track: the model playing a topology, as for pytest (repeatable)")
    p.add_argument("--paper-data", default=None, metavar="DIR", help="paper track: local datasets, as for pytest")
    p.add_argument("--resamples", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=3407)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    track = get_track(args.evidence)
    profile = args.profile
    if track.profiles and profile not in track.accepted_profiles:
        raise ValueError(f"Unknown profile {profile!r} for --evidence {track.name}. "
                         f"Available: {', '.join(track.accepted_profiles)}")
    evidence = load_track(args.evidence, published_dir=args.published_dir, profile=profile, cache_dir=args.cache_dir,
                          paper_models=tuple(args.paper_model or ()), paper_data=args.paper_data)
    est = compare(evidence, model=args.model, scorer=args.scorer, a=args.a, b=args.b, domain=args.domain,
                  benchmarks=tuple(args.benchmark), resamples=args.resamples, seed=args.seed)
    out = {"n": est.n, "n_seeds": est.n_seeds, "mean_diff_pp": 100 * est.effect, "ci_low_pp": 100 * est.ci_low,
           "ci_high_pp": 100 * est.ci_high, "p_value": est.p_value, "mde_pp": 100 * est.mde,
           "resamples": est.resamples, "seed": args.seed, "scorer": args.scorer, "n_a": est.n_a, "n_b": est.n_b,
           "strata": [{"benchmark": s.name, "n_a": s.n_a, "n_b": s.n_b, "n_paired": s.n_paired, "weight": s.weight}
                      for s in est.strata]}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{args.a} − {args.b} ({args.model}, {args.domain}, {'+'.join(args.benchmark)}, {args.scorer}): "
              f"{out['mean_diff_pp']:+.2f} pp [{out['ci_low_pp']:+.2f}, {out['ci_high_pp']:+.2f}], n={est.n}, "
              f"p={est.p_value:.3g}, MDE {out['mde_pp']:.1f} pp")
    return 0
