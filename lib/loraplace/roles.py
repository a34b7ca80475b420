"""The one vocabulary of placement roles: which component types a condition adapts.

Every module that names a role uses this: the study's design (`study.ROLES`, the claims), the
placement rules (`placement.ROLES`, condition sets), and the re-run tracks (tiny, paper), which
map their condition names to roles through `STUDY_ROLE`.

    Role.ATTENTION.value == "attention"             the role, as claims and reports name it
    Role.ATTENTION.placement == "attention_only"    the harmonized condition of that role
"""
from __future__ import annotations

from enum import Enum


class Role(str, Enum):
    ATTENTION = "attention"
    RECURRENT = "recurrent"
    MLP = "mlp"
    ATTENTION_MLP = "attention+mlp"
    RECURRENT_MLP = "recurrent+mlp"
    FULL = "full"

    @property
    def placement(self) -> str:
        """The harmonized placement condition (and `Condition.role`) of this role."""
        return _PLACEMENT[self]

    @classmethod
    def of(cls, name: str) -> "Role":
        """The role of a role name or a harmonized condition name; an error lists both vocabularies."""
        for role in cls:
            if name in (role.value, role.placement):
                return role
        raise ValueError(f"Unknown role {name!r}. Available: {', '.join(r.value for r in cls)} "
                         f"(or as conditions: {', '.join(r.placement for r in cls)})")


_PLACEMENT = {Role.ATTENTION: "attention_only", Role.RECURRENT: "recurrent_only", Role.MLP: "mlp_only",
              Role.ATTENTION_MLP: "attention_plus_mlp", Role.RECURRENT_MLP: "recurrent_plus_mlp", Role.FULL: "full"}
ROLES = tuple(r.value for r in Role)
PLACEMENT_ROLES = tuple(r.placement for r in Role)
STUDY_ROLE = {r.placement: r.value for r in Role}  # placement role / harmonized condition -> role


_WORDS = {Role.ATTENTION: "attention-only", Role.RECURRENT: "recurrent-only", Role.MLP: "MLP-only",
          Role.ATTENTION_MLP: "attention + MLP", Role.RECURRENT_MLP: "recurrent + MLP", Role.FULL: "all-components"}


def describe_role(role: str) -> str:
    """A role in plain words, for messages: "attention@budget" -> "the attention-only LoRA at the
    matched parameter budget (a control)"."""
    if role == "base":
        return "the un-fine-tuned base model"
    name, _, control = role.partition("@")
    if name == "random" and control:
        return "LoRA on randomly chosen modules at the matched parameter budget (a control)"
    try:
        words = f"{_WORDS[Role.of(name)]} LoRA"
    except ValueError:
        return repr(role)
    return f"the {words} at the matched parameter budget (a control)" if control else f"the {words} condition"
