"""Placement conditions -> exact target-module lists -> a verified peft LoRA model.

Two condition sets, both derived by rules over the taxonomy (never by pasted module lists):

* `study`: the study's own conditions with its names and its quirks, per model type --
  Qwen3.5 (`softmax_only` = q,k,v,o of the attention layers; `all_layers` without lm_head) and
  Falcon-H1 (`attention_only` = q,k,v without o_proj; `all_eligible` adds o_proj and lm_head).
* `harmonized`: the same roles for every model with one rule: a component is every LoRA-eligible
  Linear of its mixers (attention includes its output projection, recurrent excludes what fused
  kernels bypass), never lm_head; so attention + recurrent + mlp partition `full` exactly.

Every condition has a `role` (attention_only, recurrent_only, mlp_only, attention_plus_mlp,
recurrent_plus_mlp, full) that lines the two sets up.
"""
from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from torch import nn

from loraplace.models.accounting import count_trainable, rank_cost
from loraplace.models.taxonomy import ATTENTION, EMBEDDING_HEAD, MLP, RECURRENT, Taxonomy, classify_model
from loraplace.roles import PLACEMENT_ROLES

ROLES = PLACEMENT_ROLES  # loraplace.roles: the one role vocabulary
CONDITION_SETS = ("study", "harmonized")  # "study" is a condition set; "as-published" names a scorer only
DEFAULT_RANK, DEFAULT_ALPHA, DEFAULT_DROPOUT = 16, 32, 0.05  # the study's LoRA hyper-parameters


@dataclass(frozen=True)
class ConditionRule:
    name: str
    role: str
    components: frozenset[str]
    attention_output: bool = True  # adapt the attention output projection too
    head: bool = False  # adapt lm_head
    note: str = ""


@dataclass(frozen=True)
class Condition:
    name: str
    role: str
    condition_set: str
    rank: int
    modules: tuple[str, ...]  # exact dotted module names, sorted
    trainable: int
    note: str = ""
    budget: int | None = None  # the target budget for budget-matched / random conditions


def _rule(name, role, comps, note, attention_output=True, head=False) -> ConditionRule:
    return ConditionRule(name, role, frozenset(comps), attention_output, head, note)


_A, _R, _M = ATTENTION, RECURRENT, MLP
HARMONIZED: tuple[ConditionRule, ...] = (
    _rule("attention_only", "attention_only", {_A}, "every attention Linear incl. its output projection"),
    _rule("recurrent_only", "recurrent_only", {_R}, "every recurrent-mixer Linear no fused kernel bypasses"),
    _rule("mlp_only", "mlp_only", {_M}, "every MLP / MoE Linear"),
    _rule("attention_plus_mlp", "attention_plus_mlp", {_A, _M}, "attention + MLP"),
    _rule("recurrent_plus_mlp", "recurrent_plus_mlp", {_R, _M}, "recurrent + MLP"),
    _rule("full", "full", {_A, _R, _M}, "attention + recurrent + MLP; never lm_head"),
)
STUDY_CONDITIONS: dict[str, tuple[ConditionRule, ...]] = {
    "qwen3_5_text": (
        _rule("softmax_only", "attention_only", {_A}, "softmax attention q,k,v,o in the full-attention layers"),
        _rule("gdn_only", "recurrent_only", {_R}, "Gated DeltaNet projections"),
        _rule("mlp_only", "mlp_only", {_M}, "MLP control"),
        _rule("softmax_plus_mlp", "attention_plus_mlp", {_A, _M}, "softmax attention + MLP"),
        _rule("gdn_plus_mlp", "recurrent_plus_mlp", {_R, _M}, "Gated DeltaNet + MLP"),
        _rule("all_layers", "full", {_A, _R, _M}, "attention + GDN + MLP (lm_head is tied, not adapted)"),
    ),
    "falcon_h1": (
        _rule("attention_only", "attention_only", {_A}, "attention q,k,v only (no o_proj)", attention_output=False),
        _rule("ssm_only", "recurrent_only", {_R}, "mamba.in_proj (out_proj, conv1d excluded)"),
        _rule("mlp_only", "mlp_only", {_M}, "MLP control"),
        _rule("attention_plus_mlp", "attention_plus_mlp", {_A, _M}, "q,k,v + MLP", attention_output=False),
        _rule("ssm_plus_mlp", "recurrent_plus_mlp", {_R, _M}, "mamba.in_proj + MLP"),
        _rule("all_eligible", "full", {_A, _R, _M}, "everything eligible incl. o_proj and lm_head", head=True),
    ),
}


def qualified(name: str, condition_set: str | None) -> str:
    """`name` with the condition set it comes from, `attention_only[harmonized]`, `softmax_only[study]`
    (used by `Evidence.condition_label` in every verdict line and report): the same name means
    different modules in different sets (Falcon-H1's study `attention_only` is q,k,v; the
    harmonized one adds o_proj), so every label says which."""
    return f"{name}[{condition_set}]" if condition_set else name


def condition_rules(condition_set: str, model_type: str) -> tuple[ConditionRule, ...]:
    if condition_set == "harmonized":
        return HARMONIZED
    if condition_set == "study":
        try:
            return STUDY_CONDITIONS[model_type]
        except KeyError:
            raise KeyError(f"No study conditions for model type {model_type!r}. "
                           f"Available: {', '.join(sorted(STUDY_CONDITIONS))} (use 'harmonized' for any model)") from None
    raise KeyError(f"Unknown condition set {condition_set!r}. Available: {', '.join(CONDITION_SETS)}")


def default_condition_set(model_type: str) -> str:
    """The condition set a model gets unless one is named: the study's own for its two architectures
    (their module names, so a re-run pairs with the published track), harmonized for any other."""
    return "study" if model_type in STUDY_CONDITIONS else "harmonized"


@functools.lru_cache(maxsize=16)
def model_taxonomy(key_or_path: str | Path) -> Taxonomy:
    """Taxonomy of the real-size model (meta device) of a model key or config path; cached."""
    from loraplace.models.zoo import build_meta_model

    return classify_model(build_meta_model(key_or_path))


def select_modules(taxonomy: Taxonomy, rule: ConditionRule) -> tuple[str, ...]:
    """The exact module names a rule targets; a rule matching nothing is an error."""
    names = [
        m.name for m in taxonomy.linears()
        if m.component in rule.components and (rule.attention_output or not m.is_attention_output)
    ]
    if rule.head:
        names += [m.name for m in taxonomy.linears(EMBEDDING_HEAD)]
    if not names:
        present = sorted({m.component for m in taxonomy.linears()})
        raise ValueError(
            f"Condition {rule.name!r} matches no module in {taxonomy.model_class}: it targets "
            f"{sorted(rule.components)}, but the LoRA-eligible Linears here are in {present}")
    return tuple(sorted(names))


def make_condition(taxonomy: Taxonomy, rule: ConditionRule, rank: int, condition_set: str) -> Condition:
    modules = select_modules(taxonomy, rule)
    return Condition(rule.name, rule.role, condition_set, rank, modules,
                     count_trainable(taxonomy, modules, rank), rule.note)


def build_conditions(taxonomy: Taxonomy, condition_set: str = "harmonized", rank: int = DEFAULT_RANK) -> dict[str, Condition]:
    rules = condition_rules(condition_set, taxonomy.model_type)
    return {r.name: make_condition(taxonomy, r, rank, condition_set) for r in rules}


def custom_condition(taxonomy: Taxonomy, modules: Iterable[str], rank: int = DEFAULT_RANK,
                     name: str = "custom", role: str = "custom") -> Condition:
    """A condition from an explicit module list, validated against the taxonomy."""
    modules = tuple(sorted(set(modules)))
    check_targets(taxonomy, modules)
    return Condition(name, role, "custom", rank, modules, count_trainable(taxonomy, modules, rank))


def check_targets(taxonomy: Taxonomy, modules: Sequence[str]) -> None:
    """Every target must be an existing, LoRA-eligible Linear; say why not and what is allowed."""
    if not modules:
        raise ValueError("A condition must target at least one module")
    known = {m.name: m for m in taxonomy.modules}
    problems = []
    for name in modules:
        info = known.get(name)
        if info is None:
            problems.append(f"{name!r} matches no module of {taxonomy.model_class}")
            continue
        if info.kind == "linear" and info.lora_eligible:
            continue
        parent = name.rpartition(".")[0]
        allowed = [m.short_name for m in taxonomy.linears() if m.name.rpartition(".")[0] == parent]
        why = info.exclude_reason or f"a {info.module_class} ({info.kind}) is not a LoRA target"
        problems.append(f"{name!r} is not LoRA-eligible: {why}. Allowed in {parent or '<root>'}: "
                        f"{', '.join(allowed) if allowed else 'nothing'}")
    if problems:
        raise ValueError("; ".join(problems))


def parameter_ratio(model_key: str, condition_set: str = "harmonized", rank: int = 16) -> dict:
    """C5: trainable parameters of attention-only vs full adaptation on the real-size model.

    Returns {model, condition_set, rank, attention_condition, full_condition,
    attention_only, full, ratio} where ratio = full / attention_only (the paper: "5-10x fewer").
    """
    taxonomy = model_taxonomy(model_key)
    conditions = build_conditions(taxonomy, condition_set, rank=rank)
    by_role = {c.role: c for c in conditions.values()}
    attention, full = by_role["attention_only"], by_role["full"]
    return {
        "model": model_key,
        "condition_set": condition_set,
        "rank": rank,
        "attention_condition": attention.name,
        "full_condition": full.name,
        "attention_only": attention.trainable,
        "full": full.trainable,
        "ratio": full.trainable / attention.trainable,
    }


# ---- budget matching and the random-placement control --------------------------------------

def budget_rank(cost_per_rank: int, budget: int) -> int:
    """The integer rank >= 1 whose r * cost is closest to the budget (ties: the smaller rank)."""
    if cost_per_rank <= 0 or budget <= 0:
        raise ValueError(f"cost per rank and budget must be positive, got {cost_per_rank}, {budget}")
    lo = max(1, budget // cost_per_rank)
    return min((lo, lo + 1), key=lambda r: (abs(r * cost_per_rank - budget), r))


def budget_matched(taxonomy: Taxonomy, condition_set: str = "harmonized", budget: int | None = None,
                   reference: str = "attention_only", reference_rank: int = DEFAULT_RANK) -> dict[str, Condition]:
    """Each condition at the rank that brings its trainable count closest to `budget`
    (default: the trainable count of the `reference` role at `reference_rank`)."""
    base = build_conditions(taxonomy, condition_set, reference_rank)
    if budget is None:
        ref = [c for c in base.values() if c.role == reference or c.name == reference]
        if not ref:
            raise KeyError(f"Unknown reference condition {reference!r}. Available: {', '.join(base)}")
        budget = ref[0].trainable
    out = {}
    for name, cond in base.items():
        rank = budget_rank(rank_cost(taxonomy, cond.modules), budget)
        out[name] = replace(cond, rank=rank, trainable=count_trainable(taxonomy, cond.modules, rank), budget=budget)
    return out


def random_placement(taxonomy: Taxonomy, budget: int, rank: int = DEFAULT_RANK,
                     rng: np.random.Generator | int = 0, pool: str = "full") -> Condition:
    """Random-placement control: eligible Linears of the harmonized `pool` condition in a seeded
    random order, each kept while it fits, so trainable <= budget and as close as the pool allows."""
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    rules = {r.name: r for r in HARMONIZED}
    if pool not in rules:
        raise KeyError(f"Unknown pool {pool!r}. Available: {', '.join(rules)}")
    candidates = select_modules(taxonomy, rules[pool])
    chosen, spent = [], 0
    for i in generator.permutation(len(candidates)):
        cost = count_trainable(taxonomy, [candidates[i]], rank)
        if spent + cost <= budget:
            chosen.append(candidates[i])
            spent += cost
    if not chosen:
        raise ValueError(f"Budget {budget} is below the cheapest module at rank {rank}")
    seed_note = f"seed {rng}" if isinstance(rng, int) else "explicit Generator"
    return Condition("random", "random", "control", rank, tuple(sorted(chosen)), spent,
                     f"random placement over {pool!r} at matched budget ({seed_note})", budget)


# ---- peft ------------------------------------------------------------------------------------

def lora_config(condition: Condition, alpha: int | None = None, dropout: float = DEFAULT_DROPOUT, **kwargs):
    """The peft LoraConfig of a condition (alpha defaults to 2 * rank, the study's 32 at r=16)."""
    from peft import LoraConfig

    return LoraConfig(r=condition.rank, lora_alpha=2 * condition.rank if alpha is None else alpha,
                      lora_dropout=dropout, target_modules=list(condition.modules), bias="none",
                      task_type="CAUSAL_LM", **kwargs)


def canonical_adapter_config(directory, drop: tuple[str, ...] = ()) -> None:
    """Rewrite the `adapter_config.json` peft saved in `directory` byte-stably: peft keeps
    target_modules as a set, written in the process's string-hash order, so it is sorted (the same
    adapter then gives the same file and sha256 in every process); keys in `drop` are removed."""
    import json

    path = Path(directory) / "adapter_config.json"
    config = json.loads(path.read_text())
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
    for key in drop:
        config.pop(key, None)
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def adapted_modules(peft_model: nn.Module) -> tuple[str, ...]:
    """Names (relative to the base model) of the modules that carry a LoRA adapter."""
    from peft.tuners.lora import LoraLayer

    prefix = "base_model.model."
    return tuple(sorted(n[len(prefix):] if n.startswith(prefix) else n
                        for n, m in peft_model.named_modules() if isinstance(m, LoraLayer)))


def apply_lora(model: nn.Module, condition: Condition, alpha: int | None = None,
               dropout: float = DEFAULT_DROPOUT, **kwargs):
    """`get_peft_model` for a condition, then verify that exactly the targeted modules carry
    adapters and that the trainable count is the accounted one (peft silently ignores target
    names that match nothing)."""
    from peft import get_peft_model

    taxonomy = classify_model(model)
    check_targets(taxonomy, condition.modules)
    peft_model = get_peft_model(model, lora_config(condition, alpha, dropout, **kwargs))
    verify_adapters(peft_model, condition, taxonomy)
    return peft_model


def verify_adapters(peft_model: nn.Module, condition: Condition, taxonomy: Taxonomy | None = None) -> None:
    got, want = set(adapted_modules(peft_model)), set(condition.modules)
    if got != want:
        raise ValueError(f"Condition {condition.name!r}: adapters on {len(got)} modules, expected {len(want)}; "
                         f"missing {sorted(want - got)[:10]}, unexpected {sorted(got - want)[:10]}")
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    expected = count_trainable(taxonomy, condition.modules, condition.rank) if taxonomy else condition.trainable
    if trainable != expected:
        raise ValueError(f"Condition {condition.name!r}: {trainable} trainable parameters, accounted {expected}")
