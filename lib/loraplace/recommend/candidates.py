"""The placements `loraplace recommend` races on one model: what its taxonomy says exists.

    candidates(taxonomy, rank=4, controls=True)  ->  [Candidate, ...]

Every harmonized placement condition whose component types the model has (attention-only,
recurrent-only, MLP-only, the pairs, all), and each one's budget-matched variant: the same
placement at the rank that brings its trainable count closest to a budget -- by default
attention-only's at the study's rank 16 (`loraplace.models.controls`, the budget C1's controls
use), else `budget_rank=R` (attention-only's count at rank R) or `budget=PARAMS`
(`placement.budget_matched`). `conditions(...)` gives the peft conditions themselves. A model with no recurrent component
(a plain transformer) gets the attention / MLP subset with a message saying so; a model whose
modules the taxonomy cannot classify is refused, naming the module classes it could not place.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from loraplace.models.controls import BUDGET_PREFIX, CONTROLS, REFERENCE_RANK, budget, control_condition
from loraplace.models.placement import budget_matched, condition_rules, make_condition
from loraplace.models.taxonomy import ATTENTION, RECURRENT, Taxonomy


class UnclassifiableModel(ValueError):
    """The taxonomy could not place some parameter-holding modules: no honest candidate list."""


@dataclass(frozen=True)
class Candidate:
    name: str  # the condition name the training code takes (a harmonized condition or a control)
    placement: str  # the harmonized placement it adapts (attention_only, …)
    budget_matched: bool
    trainable: int  # trainable parameters at the rank it trains at
    rank: int
    modules: int  # how many Linears it adapts

    @property
    def label(self) -> str:
        return f"{self.placement} @ budget (rank {self.rank})" if self.budget_matched else self.placement


def candidates(taxonomy: Taxonomy, rank: int, *, controls: bool = True, budget_params: int | None = None,
               budget_rank: int | None = None) -> tuple[list[Candidate], list[str]]:
    """(candidates, notes): the placements that exist in the model, at `rank`, and their budget-
    matched variants when `controls`; notes say what was left out and why."""
    found, notes = conditions(taxonomy, rank, controls=controls, budget_params=budget_params,
                              budget_rank=budget_rank)
    return [c for c, _ in found], notes


def conditions(taxonomy: Taxonomy, rank: int, *, controls: bool = True, budget_params: int | None = None,
               budget_rank: int | None = None) -> tuple[list[tuple[Candidate, object]], list[str]]:
    """[(candidate, its `placement.Condition`)], notes: as `candidates`, with what trains them."""
    if taxonomy.unclassified:
        raise UnclassifiableModel(refusal(taxonomy))
    notes, out, seen = [], [], {}

    def add(cond, placement: str, budget_matched: bool) -> None:
        key = (cond.modules, cond.rank)  # the same modules at the same rank is the same candidate
        if key in seen:
            notes.append(f"{cond.name}: not raced, the same modules at the same rank (r={cond.rank}) as {seen[key]}")
            return
        seen[key] = cond.name
        out.append((Candidate(cond.name, placement, budget_matched, cond.trainable, cond.rank, len(cond.modules)),
                    cond))

    for rule in condition_rules("harmonized", taxonomy.model_type):
        missing = sorted(c for c in rule.components if not taxonomy.linears(c))
        if missing and rule.name != "full":  # would equal a smaller placement, or match nothing
            notes.append(f"{rule.name}: not a placement here (no {' or '.join(missing)} Linears)")
            continue
        add(make_condition(taxonomy, rule, rank, "harmonized"), rule.name, False)
    if not taxonomy.linears(RECURRENT):
        notes.insert(0, f"{taxonomy.model_class} is not a hybrid (topology {taxonomy.topology}: no recurrent "
                        "component with LoRA-eligible Linears): only the attention / MLP placements are raced")
    if controls and taxonomy.linears(RECURRENT) and taxonomy.linears(ATTENTION):
        for cond, placement in _budget_variants(taxonomy, {c.placement for c, _ in out}, budget_params, budget_rank):
            add(cond, placement, True)
        amount = budget_params or budget(taxonomy, budget_rank or REFERENCE_RANK)
        how = (f"the --budget of {budget_params:,}" if budget_params else
               f"attention-only's count at rank {budget_rank or REFERENCE_RANK}"
               + ("" if budget_rank else ", the budget of C1's controls"))
        notes.append(f"budget-matched variants train ≈ {amount:,} parameters each ({how})")
    return out, notes


def _budget_variants(taxonomy: Taxonomy, placements: set[str], budget_params: int | None, budget_rank: int | None):
    """(condition, placement) of each placement's budget-matched variant, named budget_<placement>."""
    if budget_params is not None and budget_params <= 0:
        raise ValueError(f"--budget must be a positive number of trainable parameters, got {budget_params}")
    if budget_params is None:
        conds = [(control_condition(taxonomy, BUDGET_PREFIX + p, seed=0, rank=budget_rank or REFERENCE_RANK), p)
                 for p in placements if BUDGET_PREFIX + p in CONTROLS]
    else:
        matched = budget_matched(taxonomy, "harmonized", budget=budget_params)
        conds = [(replace(matched[p], name=BUDGET_PREFIX + p, condition_set="control"), p) for p in placements]
    order = list(CONTROLS)
    return sorted(conds, key=lambda cp: order.index(cp[0].name) if cp[0].name in order else len(order))


def refusal(taxonomy: Taxonomy, parents: dict[str, str] | None = None) -> str:
    """Why a model the taxonomy cannot classify is refused, naming the module classes (the Linears'
    enclosing modules' classes when `parents` {module name: class} is given)."""
    names = [u.rsplit(" (", 1)[0] for u in taxonomy.unclassified]
    classes = sorted({_enclosing(n, parents) if parents else u.rsplit("(", 1)[-1].rstrip(")")
                      for n, u in zip(names, taxonomy.unclassified)})
    return (f"{taxonomy.model_class}: the taxonomy cannot place {len(taxonomy.unclassified)} parameter-holding "
            f"module(s) in {', '.join(classes)} (e.g. {taxonomy.unclassified[0]}); a recommendation over component "
            "types would silently ignore them. Add the classes to loraplace.models.taxonomy (CONTRIBUTING.md, "
            "'Adding a model architecture').")


def _enclosing(name: str, parents: dict[str, str]) -> str:
    """The class of the nearest enclosing module of `name` that is not a plain container."""
    parts = name.split(".")
    for k in range(len(parts) - 1, 0, -1):
        cls = parents.get(".".join(parts[:k]))
        if cls and cls not in ("ModuleList", "ModuleDict", "Sequential"):
            return cls
    return parents.get(name, "?")
