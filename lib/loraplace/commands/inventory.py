"""`loraplace inventory`: topology, per-component parameters and per-condition LoRA targets of a
model, built on the meta device from a shipped model key or any transformers config JSON. A
condition that targets a component the model lacks (recurrent-only on a Llama, attention-only on
a pure Mamba-2) is listed as not applicable, with the reason."""
from __future__ import annotations

import argparse
import json

from loraplace.models.accounting import base_params
from loraplace.models.placement import CONDITION_SETS, DEFAULT_RANK, condition_rules, make_condition, model_taxonomy
from loraplace.models.taxonomy import COMPONENTS, Taxonomy


def register(subparsers) -> None:
    p = subparsers.add_parser("inventory", help="component inventory and LoRA target lists of a model",
                              description=__doc__)
    p.add_argument("--config", required=True, metavar="PATH_OR_MODEL_KEY",
                   help="a shipped model key (qwen3_5_0_8b_base, falcon_h1_0_5b_base) or a config JSON path")
    p.add_argument("--rank", type=int, default=DEFAULT_RANK, help="LoRA rank (default %(default)s)")
    p.add_argument("--conditions", choices=CONDITION_SETS, default="harmonized",
                   help="condition set (default %(default)s; as-published exists for the study's two models)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def inventory(config: str, rank: int = DEFAULT_RANK, condition_set: str = "harmonized") -> dict:
    """The inventory as a JSON-ready dict."""
    tx = model_taxonomy(config)
    conditions, not_applicable, partial = {}, {}, {}
    for rule in condition_rules(condition_set, tx.model_type):
        missing = sorted(c for c in rule.components if not tx.linears(c))
        try:
            conditions[rule.name] = make_condition(tx, rule, rank, condition_set)
        except ValueError as exc:  # the rule matches no module of this model
            not_applicable[rule.name] = {"role": rule.role, "missing": sorted(rule.components), "reason": str(exc)}
            continue
        if missing:  # applies, but lacks a component here (then equal to a smaller condition)
            partial[rule.name] = missing
    return {
        "model": config,
        "model_class": tx.model_class,
        "model_type": tx.model_type,
        "topology": tx.topology,
        "mixer_kinds": list(tx.mixer_kinds),
        "layer_kinds": list(tx.layer_kinds),
        "total_params": base_params(tx),
        "components": _components(tx),
        "excluded": [{"module": m.name, "reason": m.exclude_reason}
                     for m in tx.modules if m.kind == "linear" and not m.lora_eligible],
        "unclassified": list(tx.unclassified),
        "rank": rank,
        "condition_set": condition_set,
        "conditions": {c.name: {"role": c.role, "modules": list(c.modules), "trainable": c.trainable}
                       for c in conditions.values()},
        "not_applicable": not_applicable,
        "partial": partial,
    }


def _components(tx: Taxonomy) -> dict:
    params, eligible = tx.param_counts(), tx.eligible_counts()
    return {
        c: {"params": params[c], "eligible_linears": len(tx.linears(c)), "eligible_params": eligible[c],
            "lora_params_per_rank": sum(m.in_features + m.out_features for m in tx.linears(c))}
        for c in COMPONENTS
    }


def run(args: argparse.Namespace) -> int:
    inv = inventory(args.config, args.rank, args.conditions)
    if args.json:
        print(json.dumps(inv, indent=1))
        return 0
    total = inv["total_params"]
    print(f"{inv['model']}: {inv['model_class']} ({inv['model_type']}), topology {inv['topology']}, "
          f"mixers {', '.join(inv['mixer_kinds']) or '-'}, {len(inv['layer_kinds'])} layers, {total:,} params")
    print(f"\n{'component':<16}{'params':>14}{'share':>8}{'LoRA Linears':>14}{'in+out':>12}")
    for c, row in inv["components"].items():
        print(f"{c:<16}{row['params']:>14,}{row['params'] / max(total, 1):>8.1%}"
              f"{row['eligible_linears']:>14}{row['lora_params_per_rank']:>12,}")
    if inv["excluded"]:
        print(f"\nnot LoRA-eligible Linears: {len(inv['excluded'])}, e.g. {inv['excluded'][0]['module']}: "
              f"{inv['excluded'][0]['reason']}")
    if inv["unclassified"]:
        print(f"unclassified (reported as other): {', '.join(inv['unclassified'])}")
    print(f"\n{inv['condition_set']} conditions at rank {inv['rank']}:")
    print(f"{'condition':<22}{'role':<22}{'modules':>8}{'trainable':>14}")
    for name, c in inv["conditions"].items():
        lacks = inv["partial"].get(name)
        print(f"{name:<22}{c['role']:<22}{len(c['modules']):>8}{c['trainable']:>14,}"
              + (f"  (no {', '.join(lacks)} module here)" if lacks else ""))
    for name, c in inv["not_applicable"].items():
        print(f"{name:<22}{c['role']:<22}{'-':>8}{'-':>14}  not applicable: no {' or '.join(c['missing'])} module")
    if inv["not_applicable"]:
        print(f"\n{inv['model_class']} is {inv['topology']}: {len(inv['not_applicable'])} of "
              f"{len(inv['conditions']) + len(inv['not_applicable'])} conditions do not apply to it.")
    return 0
