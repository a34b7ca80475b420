"""One role vocabulary: the study's roles, the placement conditions' roles and the tracks' maps agree."""
import pytest

from loraplace import roles, study
from loraplace.models import placement
from loraplace.tracks.paper import models as paper_models
from loraplace.tracks.tiny import track as tiny


def test_every_vocabulary_is_the_one_in_roles():
    assert study.ROLES == roles.ROLES == tuple(r.value for r in roles.Role)
    assert placement.ROLES == roles.PLACEMENT_ROLES
    assert {r.role for r in placement.HARMONIZED} == set(roles.PLACEMENT_ROLES)
    assert tiny.ROLE_OF == paper_models.STUDY_ROLE == roles.STUDY_ROLE
    for model in study.MODELS.values():  # the study's condition names cover every role once
        assert set(model.conditions) == set(roles.ROLES)
    for rules in placement.STUDY_CONDITIONS.values():
        assert sorted(r.role for r in rules) == sorted(roles.PLACEMENT_ROLES)


def test_role_lookup_takes_either_name_and_lists_both_vocabularies():
    assert roles.Role.of("attention") is roles.Role.of("attention_only") is roles.Role.ATTENTION
    with pytest.raises(ValueError, match="Available: attention, recurrent.*as conditions: attention_only"):
        roles.Role.of("attn")


def test_every_condition_label_names_its_condition_set():
    from loraplace.claims.registry import Comparison
    from loraplace.evidence.records import Evidence
    from loraplace.models.placement import HARMONIZED, STUDY_CONDITIONS, qualified

    falcon = {r.name: r for r in STUDY_CONDITIONS["falcon_h1"]}
    ours = {r.name: r for r in HARMONIZED}
    # Falcon-H1 as published: attention_only is q,k,v; harmonized adds the output projection
    assert falcon["attention_only"].attention_output is False and ours["attention_only"].attention_output is True
    assert qualified("attention_only", "harmonized") == "attention_only[harmonized]"
    assert qualified("attention_only", "study") == "attention_only[study]"  # every label says its set
    assert qualified("full", "harmonized") == "full[harmonized]"
    ev = Evidence("tiny", [], models={"parallel": "m"}, roles={"m": {"attention": "attention_only", "full": "full"}},
                  condition_sets={"m": "harmonized"})
    assert Comparison("attention", "full", "ultrachat", ("mmlu",)).label(ev, "m").startswith(
        "attention_only[harmonized] − full[harmonized] on mmlu")


@pytest.mark.parametrize("role, words", [
    ("attention@budget", "attention-only LoRA at the matched parameter budget"),
    ("random@budget", "randomly chosen modules"),
    ("recurrent", "recurrent-only LoRA condition"),
    ("base", "un-fine-tuned base model"),
])
def test_a_role_is_said_in_plain_words(role, words):
    from loraplace.roles import describe_role

    assert words in describe_role(role)


def test_a_missing_role_says_what_is_missing_and_what_the_model_has():
    from loraplace.evidence.records import Evidence, NoData

    ev = Evidence("tiny", [], roles={"tiny_bamba": {"attention": "attention_only"}})
    with pytest.raises(NoData) as err:
        ev.condition("tiny_bamba", "attention@budget")
    text = str(err.value)
    assert "tiny_bamba has no run of the attention-only LoRA at the matched parameter budget" in text
    assert "attention (attention_only)" in text and "role 'attention@budget'" in text
