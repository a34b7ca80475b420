"""The rules that check `recommend`'s answer against C1 / C4 verdicts (recommend.consistency)."""
from __future__ import annotations

from types import SimpleNamespace

from loraplace.recommend.consistency import consistent


def _verdict(part_id, verdict, effect=1.0):
    return SimpleNamespace(part_id=part_id, claim_id=part_id.split("-")[0], verdict=verdict, effect_pp=effect,
                           ci_low_pp=effect - 1, ci_high_pp=effect + 1)


def _result(outcome, winner=None, statuses=None):
    answer = {"outcome": outcome, **({"winner": winner} if winner else {})}
    return {"answer": answer, "table": [{"candidate": c, "status": s} for c, s in (statuses or {}).items()]}


def test_c1_supported_forbids_recommending_full_and_refuted_forbids_attention():
    assert [ok for _, ok, _ in consistent(_result("winner", "full"), [_verdict("C1-seq-gsm8k", "supported")])] == [False]
    assert [ok for _, ok, _ in consistent(_result("winner", "mlp_only"), [_verdict("C1-seq-gsm8k", "supported")])] == [True]
    refuted = [_verdict("C1-par-gsm8k", "refuted", -3.0)]
    assert [ok for _, ok, _ in consistent(_result("winner", "attention_only"), refuted)] == [False]
    assert [ok for _, ok, _ in consistent(_result("indistinguishable"), refuted)] == [True]


def test_budget_and_c4_rules_and_inconclusive_parts_constrain_nothing():
    budget = [_verdict("C1-seq-gsm8k-budget", "supported")]
    assert [ok for _, ok, _ in consistent(_result("winner", "budget_full"), budget)] == [False]
    assert [ok for _, ok, _ in consistent(_result("winner", "budget_attention_only"), budget)] == [True]
    c4 = [_verdict("C4-seq-gsm8k", "supported")]
    assert [ok for _, ok, _ in consistent(_result("indistinguishable", statuses={"attention_only": "forgets"}), c4)] \
        == [False]
    assert [ok for _, ok, _ in consistent(_result("winner", "full"), [_verdict("C1-seq-gsm8k", "inconclusive")])] \
        == [True]


def test_the_readme_section_names_only_options_recommend_has():
    import argparse
    import re
    from pathlib import Path

    from loraplace.commands import recommend as cmd

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Where should LoRA go in *your* model?")[1].split("\n## ")[0]
    line = next(x for x in readme.splitlines() if x.startswith("loraplace recommend"))
    sub = argparse.ArgumentParser().add_subparsers()
    cmd.register(sub)
    known = set(sub.choices["recommend"]._option_string_actions)
    mentioned = set(re.findall(r"(--[a-z][a-z-]+)", section + line))
    assert mentioned and mentioned <= known, mentioned - known
    assert section.count("```bash") == 1  # one command
