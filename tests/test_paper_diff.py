"""`loraplace diff` and the report's reproduction table, on small hand-made result sets."""
from __future__ import annotations

import json

from loraplace.cli import main
from loraplace.evidence.records import Evidence, Record, write_jsonl
from loraplace.report.reproduction import agreement, reproduction


def _rec(bench, i, score, answer, scorer="as-published", key="prediction", model="m"):
    return Record(model, "sequential", "c", "gsm8k_train", 3407, bench, f"{bench}:{i}", float(score), scorer,
                  {key: answer})


def test_agreement_pairs_items_and_compares_answers():
    a = [_rec("mmlu", i, s, p) for i, (s, p) in enumerate([(1, 0), (1, 2), (0, 1), (0, 3)])]
    b = [_rec("mmlu", i, s, p, key="pred") for i, (s, p) in enumerate([(1, 0), (0, 1), (0, 1), (0, 2)])]
    b.append(_rec("mmlu", 9, 1, 0, key="pred"))  # answered by one side only: not paired
    (row,) = agreement(a, b, resamples=500)
    assert row["n"] == 4 and row["accuracy_a"] == 0.5 and row["accuracy_b"] == 0.25
    assert abs(row["diff_pp"] - 25.0) < 1e-9 and row["score_agreement"] == 0.75
    assert row["answer_agreement"] == 0.5 and row["answers_compared"] == 4  # letters 0 = 0, 1 = 1
    assert row["ci_low_pp"] <= 25.0 <= row["ci_high_pp"]


def test_reproduction_pairs_a_rerun_with_the_released_outputs():
    rerun = Evidence("paper", [_rec("gsm8k", i, 1, "7") for i in range(3)], source={"protocol": {"name": "study"}})
    released = Evidence("published", [_rec("gsm8k", i, 1, "7" if i else "8", key="pred") for i in range(3)])
    out = reproduction(rerun, released)
    assert out["summary"]["pairs"] == 1 and out["summary"]["protocol"] == "study"
    assert abs(out["rows"][0]["answer_agreement"] - 2 / 3) < 1e-12 and out["rows"][0]["diff_pp"] == 0.0


def _report(path, verdicts):
    path.write_text(json.dumps({"verdicts": [
        {"part_id": p, "evidence": "paper", "scorer": "corrected", "verdict": v, "effect_pp": e,
         "ci_low_pp": lo, "ci_high_pp": hi} for p, v, e, lo, hi in verdicts]}))
    return path


def test_diff_of_two_reports_names_flips_and_moves(tmp_path, capsys):
    a = _report(tmp_path / "a.json", [("C1-seq", "supported", 5.0, 1.0, 9.0), ("C2-seq", "refuted", -4.0, -6.0, -2.0),
                                      ("C3-seq", "inconclusive", 0.5, -1.0, 2.0)])
    b = _report(tmp_path / "b.json", [("C1-seq", "inconclusive", 1.5, -2.0, 5.0), ("C2-seq", "refuted", 3.0, 1.0, 5.0),
                                      ("C3-seq", "inconclusive", 0.7, -1.0, 2.5)])
    assert main(["diff", str(a), str(b), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert [f["part"] for f in out["flipped"]] == ["C1-seq"]
    assert [m["part"] for m in out["moved"]] == ["C2-seq"]  # C1: 1.5 in [1, 9] and 5 in [-2, 5]; C3 overlaps
    assert main(["diff", str(a), str(a)]) == 0


def test_diff_of_two_record_sets_and_of_mixed_kinds(tmp_path, capsys):
    write_jsonl([_rec("arc_challenge", i, i % 2, i % 2) for i in range(6)], tmp_path / "a" / "x" / "records.jsonl")
    write_jsonl([_rec("arc_challenge", i, 1, 1) for i in range(6)], tmp_path / "b" / "records.jsonl")
    main(["diff", str(tmp_path / "a"), str(tmp_path / "b"), "--json"])
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    assert row["n"] == 6 and abs(row["diff_pp"] + 50.0) < 1e-9 and row["score_agreement"] == 0.5
    assert main(["diff", str(_report(tmp_path / "r.json", [])), str(tmp_path / "b")]) == 2
    assert "compare two reports or two record sets" in capsys.readouterr().err


def test_the_report_shows_the_reproduction_table():
    from loraplace.report.html import render_html

    rerun = Evidence("paper", [_rec("hellaswag", i, 1, 2) for i in range(4)], source={"protocol": {"name": "study"}})
    released = Evidence("published", [_rec("hellaswag", i, i % 2, 2, key="pred") for i in range(4)])
    html = render_html({"verdicts": [], "provenance": {"reproduction": reproduction(rerun, released)}})
    assert 'id="reproduction"' in html and "protocol study" in html and "hellaswag" in html
    assert 'id="reproduction"' not in render_html({"verdicts": [], "provenance": {}})
