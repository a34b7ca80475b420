"""Reproduction at a glance: a re-run's records paired item by item with another set (the released outputs).

    rows = reproduction(paper_evidence, published_evidence, resamples=10_000, seed=3407)
    rows = agreement(records_a, records_b)           # the same, for any two record sets (`loraplace diff`)

One row per run (model, condition, domain, seed) x benchmark x scorer found on both sides, over
the questions both answered (keyed `<benchmark>:<index>`): each side's accuracy, the re-run
minus the other with a paired bootstrap CI (`judging.stats.paired_bootstrap`, the verdicts'
own), how often the items score the same, and how often the answers agree: the chosen letter
for multiple choice (re-run `prediction` vs released `pred`), the extracted final answer for
GSM8K, the pass/fail outcome for HumanEval. It answers "does my re-run reproduce the study?".
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

ANSWER_KEYS = ("prediction", "pred")  # the re-run's and the released records' answer fields


def _answer(record) -> object:
    extra = record.extra or {}
    for k in ANSWER_KEYS:
        if k in extra:
            return extra[k]
    return None


def _index(records) -> dict[tuple, dict[str, object]]:
    out: dict[tuple, dict] = defaultdict(dict)
    for r in records:
        out[(r.model, r.condition, r.domain, r.seed, r.benchmark, r.scorer)][r.item_key] = r
    return out


def _row(key: tuple, a: dict, b: dict, items: list[str], rng, resamples: int) -> dict:
    from loraplace.judging.stats import paired_bootstrap

    model, condition, domain, seed, bench, scorer = key
    sa = np.array([a[k].score for k in items], dtype=float)
    sb = np.array([b[k].score for k in items], dtype=float)
    row = {"model": model, "condition": condition, "domain": domain, "seed": seed, "benchmark": bench,
           "scorer": scorer, "n": len(items), "accuracy_a": float(sa.mean()), "accuracy_b": float(sb.mean()),
           "diff_pp": 100 * float(sa.mean() - sb.mean()), "score_agreement": float((sa == sb).mean())}
    if len(items) >= 2:
        est = paired_bootstrap(sa, sb, resamples=resamples, rng=rng)
        row.update(ci_low_pp=100 * est.ci_low, ci_high_pp=100 * est.ci_high)
    answers = [(_answer(a[k]), _answer(b[k])) for k in items]
    known = [(x, y) for x, y in answers if x is not None and y is not None]
    if bench != "humaneval" and known:
        row["answer_agreement"] = sum(str(x) == str(y) for x, y in known) / len(known)
        row["answers_compared"] = len(known)
    return row


def agreement(records_a, records_b, *, resamples: int = 2000, seed: int = 3407) -> list[dict]:
    """Per run x benchmark x scorer on both sides: accuracies, a - b with a paired CI, agreement."""
    ia, ib = _index(records_a), _index(records_b)
    rng = np.random.default_rng(seed)
    rows = []
    for key in sorted(set(ia) & set(ib), key=str):
        items = sorted(set(ia[key]) & set(ib[key]))
        if items:
            rows.append(_row(key, ia[key], ib[key], items, rng, resamples))
    return rows


def reproduction(rerun, published, *, resamples: int = 2000, seed: int = 3407) -> dict:
    """The re-run (`paper` evidence) against the released outputs (`published` evidence)."""
    rows = agreement(rerun.records, published.records, resamples=resamples, seed=seed)
    with_ci = [r for r in rows if "ci_low_pp" in r]
    covers = sum(r["ci_low_pp"] <= 0 <= r["ci_high_pp"] for r in with_ci)
    return {"a": rerun.track, "b": published.track, "rows": rows,
            "summary": {"pairs": len(rows), "with_ci": len(with_ci), "ci_covers_zero": covers,
                        "protocol": (rerun.source.get("protocol") or {}).get("name")}}
