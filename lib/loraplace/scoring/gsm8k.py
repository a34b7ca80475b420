"""Named scorers for generated answers. Every score in a record says which rule produced it.

GSM8K (raw completions of the study's few-shot prompt):

* ``as-published`` — the study's rule, reproduced exactly: the *last* ``#### N`` in the
  untruncated completion (``N`` a number starting with a digit, so ``#### $8`` does not
  match), else the last number anywhere; commas dropped; parsed as float and written back
  as an integer when integral (``8.50`` → ``8.5``, ``34.00`` → ``34``); kept verbatim if it
  does not parse (``230.67.``). Because the model kept generating invented follow-up
  questions, "last" often lands on a later, invented problem.
* ``corrected`` — what a correctly configured harness records: cut the completion at the
  first stop marker of the few-shot template (the next ``Question:`` or the repeated system
  preamble), then take the *first* ``#### N`` (a ``$`` after ``####`` allowed), else the
  last number of the cut answer. Same number normalisation, same comparison with the gold.

Multiple-choice benchmarks keep the study's stored log-likelihood labels under both names.

`MEANINGS` below is the one statement of what each name means on every benchmark, in every
track; the other scorers (`scoring.humaneval`, the tracks, the report) refer to it. Both scorers
apply to the *raw* generation: the text the model produced, as the harness returned it (the
study protocol stops only at EOS, so nothing is cut before scoring).
"""
from __future__ import annotations

import re

SCORERS = ("as-published", "corrected")

MEANINGS = {
    "as-published": {
        "gsm8k": "the study's rule on the raw, untruncated generation: the last '#### N' (N starting with a digit), "
                 "else the last number; commas dropped, integral floats written as integers",
        "humaneval": "the raw, untruncated completion executed after the prompt, then the tests, in every track "
                     "(the study's own 0/164 was never an execution: see scoring.humaneval)",
        "multiple choice": "the letter (or choice) with the highest summed log-likelihood",
    },
    "corrected": {
        "gsm8k": "the raw generation cut at the first stop marker of the few-shot template (next 'Question:' or "
                 "the repeated preamble), then the first '#### N' ('$' allowed), else the last number of the cut text",
        "humaneval": "the completion cut at the first standard HumanEval stop sequence, then executed",
        "multiple choice": "the same label as as-published",
    },
}

# The study's few-shot template: each shot starts with this preamble, then "Question:".
STOP_MARKERS = ("Question:", "You are a careful mathematician.")

_NUMBER = r"-?\d[\d,.]*"
_PUBLISHED_MARK = re.compile(r"####\s*(" + _NUMBER + ")")
_CORRECTED_MARK = re.compile(r"####\s*\$?\s*(" + _NUMBER + ")")
_ANY_NUMBER = re.compile(_NUMBER)


def check_scorer(name: str) -> str:
    if name not in SCORERS:
        raise ValueError(f"Unknown scorer {name!r}. Available: {', '.join(SCORERS)}")
    return name


def normalize_number(text: str) -> str:
    """The study's number normalisation: drop commas; integral floats lose their decimals."""
    text = text.replace(",", "")
    try:
        value = float(text)
    except ValueError:
        return text
    return str(int(value)) if value.is_integer() else str(value)


def _last_number(text: str) -> str | None:
    found = _ANY_NUMBER.findall(text)
    return normalize_number(found[-1]) if found else None


def truncate_at_stop(completion: str) -> str:
    """The completion up to the first stop marker of the few-shot template."""
    cut = len(completion)
    for marker in STOP_MARKERS:
        at = completion.find(marker)
        if at != -1:
            cut = min(cut, at)
    return completion[:cut]


def extract_gsm8k(completion: str, scorer: str) -> str | None:
    """The predicted final answer under the named scorer (None when there is no number)."""
    check_scorer(scorer)
    if scorer == "as-published":
        marks = _PUBLISHED_MARK.findall(completion)
        return normalize_number(marks[-1]) if marks else _last_number(completion)
    answer = truncate_at_stop(completion)
    mark = _CORRECTED_MARK.search(answer)
    return normalize_number(mark.group(1)) if mark else _last_number(answer)


def score_gsm8k(completion: str, gold: str, scorer: str) -> tuple[int, str | None]:
    """(1 if the extracted answer equals the normalised gold answer else 0, the prediction)."""
    pred = extract_gsm8k(completion, scorer)
    return int(pred is not None and pred == normalize_number(gold)), pred
