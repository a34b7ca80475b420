"""Parameter-budget controls for C1: is attention-only better because of *where* it sits, or
because it trains fewer parameters?

The budget is attention-only's trainable count at the study's rank 16 (`REFERENCE_RANK`;
harmonized conditions, so attention includes its output projection). Not at the tiny track's
own rank 4 or 8: full adaptation costs about 9x attention-only per rank in these organisms, so
at attention-only's rank-4 budget it would need rank 0.4; at rank 16 every condition reaches
the budget within 12 % with an integer rank. Two kinds of control condition train that budget:

* ``budget_<condition>``  every harmonized condition (attention-only itself at rank 16) at the
  rank that brings its trainable count closest to the budget (`placement.budget_matched`;
  rank >= 1, LoRA alpha = 2 x rank as everywhere, so the adapter's scale alpha / rank is the
  same); each adapter's `condition.json` records the rank and trainable count reached;
* ``random``              eligible Linears of the whole model (the harmonized `full` pool) in a
  random order, each kept while it fits, so trainable <= budget (`placement.random_placement`,
  at rank 16). The draw is the run's training seed: random draw s is trained with seed s, so
  its seeds pair with attention-only's and the between-seed spread includes the placement's.

Each control has a *role name* (``full@budget``, ``random@budget``, …) that claims use like the
study's roles (`CONTROL_ROLES`); a track that ran no control has no condition for them.
"""
from __future__ import annotations

from dataclasses import replace

from loraplace.models.placement import DEFAULT_RANK, Condition, budget_matched, build_conditions, random_placement
from loraplace.models.taxonomy import Taxonomy
from loraplace.roles import Role

REFERENCE = Role.ATTENTION.placement  # the condition whose trainable count is the budget
REFERENCE_RANK = DEFAULT_RANK  # the study's rank, 16
BUDGET_PREFIX = "budget_"
RANDOM = "random"
# role name in claims -> condition name in the records
CONTROL_ROLES = {f"{r.value}@budget": BUDGET_PREFIX + r.placement for r in Role}
CONTROL_ROLES["random@budget"] = RANDOM
CONTROLS = tuple(CONTROL_ROLES.values())


def budget(taxonomy: Taxonomy, rank: int = REFERENCE_RANK) -> int:
    """Attention-only's trainable parameters at `rank` (harmonized)."""
    return build_conditions(taxonomy, "harmonized", rank)[REFERENCE].trainable


def control_condition(taxonomy: Taxonomy, name: str, seed: int, rank: int = REFERENCE_RANK) -> Condition:
    """The control condition `name` (one of CONTROLS) at attention-only's budget at `rank`;
    `seed` is the random placement's draw (ignored by the budget-matched ones)."""
    if name == RANDOM:
        return random_placement(taxonomy, budget(taxonomy, rank), rank=rank, rng=seed)
    if name not in CONTROLS:
        raise ValueError(f"Unknown control {name!r}. Available: {', '.join(CONTROLS)}")
    matched = budget_matched(taxonomy, "harmonized", reference=REFERENCE, reference_rank=rank)
    cond = matched[name[len(BUDGET_PREFIX):]]
    return replace(cond, name=name, condition_set="control",
                   note=f"{cond.note}; rank {cond.rank}: {cond.trainable} trainable vs attention-only's {cond.budget}")
