"""`loraplace power`: paired items needed to detect an effect, or the MDE of a given item count.

Two-sided test at Holm's strictest step alpha / family (the level a comparison must reach
whatever the rest of its family does), normal approximation to the paired mean difference:

    items = ceil(((z_{1 - alpha/(2 family)} + z_power) * sd_diff / effect)^2)
    mde   = (z_{1 - alpha/(2 family)} + z_power) * sd_diff / sqrt(items)

`--sd-diff` is the SD of the per-question differences a - b on the score scale (0/1 scores:
at most 1; the report's verdicts give the observed one). One training run: seeds are not
modelled here (the report's power plan adds the between-seed part where it is estimable).
"""
from __future__ import annotations

import json

from loraplace.judging import stats


def register(sub) -> None:
    p = sub.add_parser("power", help="paired items needed for an effect (or the MDE of --items N)",
                       description=__doc__)
    p.add_argument("--sd-diff", type=float, required=True, help="SD of the paired differences (score scale, e.g. 0.45)")
    p.add_argument("--effect-pp", type=float, default=None, help="effect to detect, percentage points")
    p.add_argument("--items", type=int, default=None, help="paired items available: print the MDE instead")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--power", type=float, default=0.8)
    p.add_argument("--family", type=int, default=1, help="Holm family size m (the test is at alpha/m)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    if (args.effect_pp is None) == (args.items is None):
        raise ValueError("give exactly one of --effect-pp (items needed) or --items (the MDE)")
    out = {"sd_diff": args.sd_diff, "alpha": args.alpha, "power": args.power, "family": args.family,
           "test_level": args.alpha / args.family if args.family >= 1 else None}
    if args.items is not None:
        out |= {"items": args.items, "mde_pp": 100 * stats.mde(args.sd_diff, args.items, alpha=args.alpha,
                                                                  power=args.power, family=args.family)}
        text = f"MDE {out['mde_pp']:.2f} pp with {args.items} paired items"
    else:
        out |= {"effect_pp": args.effect_pp,
                "items_needed": stats.items_needed(args.sd_diff, args.effect_pp / 100, alpha=args.alpha,
                                                   power=args.power, family=args.family)}
        text = f"{out['items_needed']} paired items to detect {args.effect_pp:+.2f} pp"
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{text} (sd_diff {args.sd_diff}, {100 * args.power:.0f} % power, two-sided alpha "
              f"{args.alpha}/{args.family})")
    return 0
