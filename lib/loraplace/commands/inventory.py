"""`loraplace inventory`: topology, per-component parameters and per-condition LoRA targets of a
model, built on the meta device from a shipped model key, a transformers config JSON, a model
directory (its config.json) or a hub id (its config.json, from the local hub cache or the hub). A
condition that targets a component the model lacks (recurrent-only on a Llama, attention-only on
a pure Mamba-2) is listed as not applicable, with the reason."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from loraplace.models.accounting import base_params
from loraplace.models.placement import (
    CONDITION_SETS,
    DEFAULT_RANK,
    condition_rules,
    default_condition_set,
    make_condition,
    model_taxonomy,
)
from loraplace.models.taxonomy import COMPONENTS, Taxonomy


def register(subparsers) -> None:
    p = subparsers.add_parser("inventory", help="component inventory and LoRA target lists of a model",
                              description=__doc__)
    p.add_argument("--config", required=True, metavar="KEY_PATH_DIR_OR_HUB_ID",
                   help="a shipped model key (qwen3_5_0_8b_base, falcon_h1_0_5b_base), a config JSON path, a "
                        "model directory or a hub id")
    p.add_argument("--rank", type=int, default=DEFAULT_RANK, help="LoRA rank (default %(default)s)")
    p.add_argument("--conditions", choices=CONDITION_SETS, default=None,
                   help="condition set (default: as the paper track chooses it: the study's own set for its two "
                        "architectures, harmonized for any other)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def config_source(arg: str) -> str:
    """A model key or config JSON path as given; a model directory's config.json; a hub id's config.json."""
    path = Path(arg).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} is a directory without a config.json: not a model directory")
        return str(path / "config.json")
    if path.suffix == ".json" or path.exists() or "/" not in arg:
        return arg  # a config file, or a shipped key (an unknown key names the available ones)
    from huggingface_hub import hf_hub_download

    repo, _, revision = arg.partition("@")
    try:
        return hf_hub_download(repo, "config.json", revision=revision or None)
    except Exception as exc:  # offline, unknown repo, gated: one clear line
        raise FileNotFoundError(f"{arg}: no such local path, and its config.json could not be had from the hub "
                                f"({type(exc).__name__}); pass a model directory or a config JSON") from None


def inventory(config: str, rank: int = DEFAULT_RANK, condition_set: str | None = None) -> dict:
    """The inventory as a JSON-ready dict (condition_set None: the paper track's default for the model)."""
    tx = model_taxonomy(config_source(config))
    condition_set = condition_set or default_condition_set(tx.model_type)
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
