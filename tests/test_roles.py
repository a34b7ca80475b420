"""One role vocabulary: the study's roles, the placement conditions' roles and the tracks' maps agree."""
import pytest

from loraplace import roles, study
from loraplace.evidence import paper_models, tiny
from loraplace.models import placement


def test_every_vocabulary_is_the_one_in_roles():
    assert study.ROLES == roles.ROLES == tuple(r.value for r in roles.Role)
    assert placement.ROLES == roles.PLACEMENT_ROLES
    assert {r.role for r in placement.HARMONIZED} == set(roles.PLACEMENT_ROLES)
    assert tiny.ROLE_OF == paper_models.STUDY_ROLE == roles.STUDY_ROLE
    for model in study.MODELS.values():  # the study's condition names cover every role once
        assert set(model.conditions) == set(roles.ROLES)
    for rules in placement.AS_PUBLISHED.values():
        assert sorted(r.role for r in rules) == sorted(roles.PLACEMENT_ROLES)


def test_role_lookup_takes_either_name_and_lists_both_vocabularies():
    assert roles.Role.of("attention") is roles.Role.of("attention_only") is roles.Role.ATTENTION
    with pytest.raises(ValueError, match="Available: attention, recurrent.*as conditions: attention_only"):
        roles.Role.of("attn")
