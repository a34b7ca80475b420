"""GSM8K scorers: the study's rule reproduces every stored label; the corrected rule cuts at stops."""
import json

import pytest

from loraplace.scoring.gsm8k import extract_gsm8k, normalize_number, score_gsm8k, truncate_at_stop

PREAMBLE = "You are a careful mathematician. Solve the problem step by step and end with '#### <final answer>'."


def test_as_published_reproduces_every_stored_gsm8k_label(published_dir):
    n = 0
    for path in sorted((published_dir / "results" / "eval_details").glob("*gsm8k.jsonl")):
        for lineno, line in enumerate(path.open(), 1):
            row = json.loads(line)
            score, pred = score_gsm8k(row["raw_completion"], row["gold_answer"], "as-published")
            assert score == row["correct"], f"{path.name}:{lineno}"
            assert pred == row["pred_answer"], f"{path.name}:{lineno}"
            n += 1
    assert n == 8832  # 34 GSM8K files: 4×128 + 30×256 (stats/sample_size_summary.csv)


def test_corrected_cuts_at_the_next_question():
    completion = f"3 + 4 = 7\n#### 7\n\n{PREAMBLE}\n\nQuestion: invented\nAnswer: 2 * 5\n#### 10"
    assert extract_gsm8k(completion, "as-published") == "10"  # the invented follow-up's answer
    assert extract_gsm8k(completion, "corrected") == "7"
    assert score_gsm8k(completion, "7", "corrected")[0] == 1
    assert score_gsm8k(completion, "7", "as-published")[0] == 0


def test_corrected_takes_the_first_mark_and_allows_a_dollar_sign():
    assert extract_gsm8k("cost is $8.00\n#### $8\nmore #### 9", "corrected") == "8"
    # the study's rule does not accept "#### $8" and falls back to the last number
    assert extract_gsm8k("cost is $8.00\n#### $8\nthen 50 miles", "as-published") == "50"


def test_corrected_falls_back_to_the_last_number_of_the_cut_answer():
    assert extract_gsm8k("she has 3 apples and 4 pears so 7\nQuestion: 99 boats", "corrected") == "7"
    assert extract_gsm8k("no digits here", "corrected") is None
    assert score_gsm8k("no digits here", "3", "corrected") == (0, None)


def test_truncate_at_stop_uses_the_earliest_marker():
    assert truncate_at_stop(f"a\n{PREAMBLE}\nQuestion: b") == "a\n"
    assert truncate_at_stop("Question: first") == ""
    assert truncate_at_stop("plain") == "plain"


@pytest.mark.parametrize("raw, norm", [("8.50", "8.5"), ("34.00", "34"), ("1,200", "1200"), ("230.67.", "230.67."),
                                        ("-3", "-3"), ("0.0", "0")])
def test_number_normalisation(raw, norm):
    assert normalize_number(raw) == norm


def test_unknown_scorer_lists_the_choices():
    with pytest.raises(ValueError, match="Available: as-published, corrected"):
        extract_gsm8k("#### 1", "strict")
