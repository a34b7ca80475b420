"""On-target and off-target accuracy change versus the base model, per condition and domain.

The study's convention (``tables/forgetting_summary.csv``): a domain's target benchmarks are
``study.TARGETS[domain]``; the delta of a benchmark is accuracy(condition) − accuracy(base),
each over its own evaluation subset (unpaired, as published); the target / off-target delta
is the mean over benchmarks. Negative off-target = forgetting, positive = transfer. A domain
whose target the base model was never evaluated on (CodeAlpaca → HumanEval) has none (None).
"""
from __future__ import annotations

import numpy as np

from loraplace.evidence.records import BASE, Evidence
from loraplace.study import TARGETS


def _accuracy(evidence: Evidence, model: str, scorer: str, condition: str, domain: str, benchmark: str):
    if not evidence.has(model, scorer, condition, domain, benchmark):
        return None
    runs = evidence.scores(model, scorer, condition, domain, benchmark)
    return float(np.mean([np.mean(list(items.values())) for items in runs.values()]))


def _mean_delta(evidence, model, scorer, condition, domain, benchmarks):
    deltas = []
    for bench in benchmarks:
        acc = _accuracy(evidence, model, scorer, condition, domain, bench)
        base = _accuracy(evidence, model, scorer, BASE, BASE, bench)
        if acc is not None and base is not None:
            deltas.append(acc - base)
    return float(np.mean(deltas)) if deltas else None


def delta_table(evidence: Evidence, scorer: str) -> list[dict]:
    """One row per model × condition × domain: target and off-target mean delta vs base."""
    runs = sorted({(m, c, d) for m, s, c, d, _ in evidence.keys() if s == scorer and c != BASE})
    rows = []
    for model, condition, domain in runs:
        base_benchmarks = [b for m, s, c, _, b in evidence.keys() if (m, s, c) == (model, scorer, BASE)]
        target = [b for b in base_benchmarks if b in TARGETS[domain]]
        off = [b for b in base_benchmarks if b not in TARGETS[domain]]
        rows.append({"model": model, "condition": condition, "domain": domain, "scorer": scorer,
                     "target_mean_delta_vs_base": _mean_delta(evidence, model, scorer, condition, domain, target),
                     "non_target_mean_delta_vs_base": _mean_delta(evidence, model, scorer, condition, domain, off)})
    return rows
