"""The placements `loraplace recommend` races on one model: what its taxonomy says exists.

    candidates(taxonomy, rank=4, controls=True)  ->  [Candidate, ...]

Every harmonized placement condition whose component types the model has (attention-only,
recurrent-only, MLP-only, the pairs, all), and each one's budget-matched variant: the same
placement at the rank that brings its trainable count to attention-only's at the study's rank 16
(`loraplace.models.controls`, the budget C1's controls use). A model with no recurrent component
(a plain transformer) gets the attention / MLP subset with a message saying so; a model whose
modules the taxonomy cannot classify is refused, naming the module classes it could not place.
"""
from __future__ import annotations

from dataclasses import dataclass

from loraplace.models.controls import BUDGET_PREFIX, CONTROLS, budget, control_condition
from loraplace.models.placement import condition_rules, make_condition
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


def candidates(taxonomy: Taxonomy, rank: int, *, controls: bool = True) -> tuple[list[Candidate], list[str]]:
    """(candidates, notes): the placements that exist in the model, at `rank`, and their budget-
    matched variants when `controls`; notes say what was left out and why."""
    if taxonomy.unclassified:
        classes = sorted({u.rsplit("(", 1)[-1].rstrip(")") for u in taxonomy.unclassified})
        raise UnclassifiableModel(
            f"{taxonomy.model_class}: the taxonomy cannot place {len(taxonomy.unclassified)} parameter-holding "
            f"module(s) of class {', '.join(classes)} (e.g. {taxonomy.unclassified[0]}); a recommendation "
            "over component types would silently ignore them. Add the classes to loraplace.models.taxonomy "
            "(CONTRIBUTING.md, 'Adding a model architecture').")
    notes, out, seen = [], [], set()

    def add(cond, placement: str, budget_matched: bool) -> None:
        key = (cond.modules, cond.rank)  # the same modules at the same rank is the same candidate
        if key in seen:
            notes.append(f"{cond.name}: the same modules and rank as an earlier candidate here")
            return
        seen.add(key)
        out.append(Candidate(cond.name, placement, budget_matched, cond.trainable, cond.rank, len(cond.modules)))

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
        for name in CONTROLS:
            placement = name[len(BUDGET_PREFIX):] if name.startswith(BUDGET_PREFIX) else None
            if placement is None or placement not in {c.placement for c in out}:
                continue  # the random control is a reference for C1, not a placement to recommend
            add(control_condition(taxonomy, name, seed=0), placement, True)
        notes.append(f"budget-matched variants train ≈ {budget(taxonomy):,} parameters each (attention-only's "
                     "count at rank 16, the budget of C1's controls)")
    return out, notes
