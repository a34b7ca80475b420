"""`loraplace power`: questions (or seeds) needed to detect an effect, or the MDE of a given count.

Two-sided test at Holm's strictest step alpha / family (the level a comparison must reach
whatever the rest of its family does). The family defaults to the largest Holm family in the
claim registry (`loraplace.claims.registry.largest_family`), and the output says so.

* One or two seeds (no seed term: the verdict is about these runs): normal approximation,
      items = ceil(((z_{1 - alpha/(2 family)} + z_power) * sd_diff / effect)^2).
* Three or more seeds with ``--seed-sd-pp``: the test the verdicts use (`loraplace.judging.seedlaw`):
  the estimate's variance is sd_diff² / items + seed_sd² / seeds, its seed part t(seeds − 1),
  and the MDE is the law's quantile sum (`loraplace.judging.power.law_mde`). The seed part does
  not shrink with more questions: when it alone keeps the MDE above the effect, no number of
  items suffices, and the command says so and gives the seeds needed (and the items at those seeds).

`--sd-diff` is the SD of the per-question differences a − b of one run on the score scale (0/1
scores: in (0, 1]; the report's verdicts give the observed one); `--seed-sd-pp` the SD of a
training run's effect across seeds, in percentage points.
"""
from __future__ import annotations

import json

from loraplace.claims.registry import largest_family
from loraplace.judging import stats


def register(sub) -> None:
    p = sub.add_parser("power", help="paired items needed for an effect (or the MDE of --items N)",
                       description=__doc__)
    p.add_argument("--sd-diff", type=float, required=True, help="SD of the paired differences (score scale, 0 < sd <= 1)")
    p.add_argument("--effect-pp", type=float, default=None, help="effect to detect, percentage points (> 0)")
    p.add_argument("--items", type=int, default=None, help="paired items available: print the MDE instead")
    p.add_argument("--seeds", type=int, default=1, help="training runs per side (default 1)")
    p.add_argument("--seed-sd-pp", type=float, default=None,
                   help="SD of a run's effect across training seeds, pp (needs --seeds >= 3)")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--power", type=float, default=0.8)
    p.add_argument("--family", type=int, default=None,
                   help="Holm family size m, the test is at alpha/m (default: the registry's largest family)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _check(args) -> None:
    """Refuse impossible inputs, naming the valid range."""
    if (args.effect_pp is None) == (args.items is None):
        raise ValueError("give exactly one of --effect-pp (items needed) or --items (the MDE)")
    if not 0 < args.sd_diff <= 1:
        raise ValueError(f"--sd-diff must be in (0, 1] (the SD of differences of scores in [0, 1]), got {args.sd_diff}")
    if args.effect_pp is not None and not 0 < args.effect_pp <= 100:
        raise ValueError(f"--effect-pp must be in (0, 100] percentage points, got {args.effect_pp}")
    if args.items is not None and args.items < 1:
        raise ValueError(f"--items must be >= 1, got {args.items}")
    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
    if args.seed_sd_pp is not None and (args.seed_sd_pp < 0 or args.seeds < stats.MIN_SEEDS_FOR_SPREAD):
        raise ValueError(f"--seed-sd-pp must be >= 0 and needs --seeds >= {stats.MIN_SEEDS_FOR_SPREAD} (with fewer "
                         f"seeds the between-seed spread is not estimable and the test has no seed term), got "
                         f"--seed-sd-pp {args.seed_sd_pp} with --seeds {args.seeds}")
    if args.family is not None and args.family < 1:
        raise ValueError(f"--family must be >= 1, got {args.family}")
    if not (0 < args.alpha < 1 and 0 < args.power < 1):
        raise ValueError(f"--alpha and --power must be in (0, 1), got {args.alpha}, {args.power}")


def run(args) -> int:
    _check(args)
    size, which = largest_family()
    family = args.family or size
    seed_var = (args.seed_sd_pp or 0.0) ** 2 / 1e4 / args.seeds
    S = args.seeds if args.seed_sd_pp is not None else 1
    out = {"sd_diff": args.sd_diff, "alpha": args.alpha, "power": args.power, "family": family,
           "family_source": "--family" if args.family else f"default: the registry's largest Holm family ({which})",
           "test_level": args.alpha / family, "seeds": args.seeds, "seed_sd_pp": args.seed_sd_pp,
           "law": f"items normal + seeds t({S - 1})" if S >= stats.MIN_SEEDS_FOR_SPREAD else "normal (no seed term)"}
    kw = dict(alpha=args.alpha, power=args.power, family=family)
    if args.items is not None:
        out |= {"items": args.items, "mde_pp": 100 * stats.law_mde(args.sd_diff ** 2 / args.items, seed_var, S, **kw)}
        text = f"MDE {out['mde_pp']:.2f} pp with {args.items} paired items"
    else:
        plan = stats.plan(args.sd_diff ** 2, seed_var, 1, S, args.effect_pp / 100, **kw)
        out |= {"effect_pp": args.effect_pp, **plan}
        if plan["items_needed"] is not None:
            text = f"{plan['items_needed']} paired items to detect {args.effect_pp:+.2f} pp"
        elif plan.get("seeds_needed") is None:
            text = "no number of items or seeds (up to 1,000) reaches the power"
        else:
            text = (f"no number of items reaches the power with {args.seeds} seeds: the seed term dominates; "
                    f"{plan['seeds_needed']} seeds needed ({plan['items_at_seeds_needed']} items at that many seeds)")
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{text} (sd_diff {args.sd_diff}, {out['law']}, {100 * args.power:.0f} % power, two-sided alpha "
              f"{args.alpha}/{family}; family {out['family_source']})")
    return 0
