"""The multi-seed test keeps its promise at Holm's levels: per-test rejection, coverage, and the
familywise error through `claims.evaluate`, by simulation through the public `stats` functions.

The world (the issue's reproducer): n questions with logits N(0.3, 1.5); every training run adds
its own shift N(0, 0.15) to every question's logit (a trained side has one run per seed; a base
model is not trained, so a shared base has no shift); a run answers question i correctly with
probability sigmoid(logit_i + shift). Both sides have the same law: the true effect is 0 and
every rejection is false. The fast tests run in seconds with fixed seeds; their tolerance is the
Monte Carlo SE (3 SE). The full tables (`-m slow`, and benchmarks/seed_calibration.py, which
prints them) use 20,000 replications.
"""
from __future__ import annotations

import math
import os

import numpy as np
import pytest

from loraplace.claims.registry import get_claim
from loraplace.evidence.records import Evidence, Record
from loraplace.judging import stats
from loraplace.judging.evaluate import evaluate
from loraplace.study import MODELS, ROLES

# The full simulations (20,000 replications each: tens of minutes on 2 cores) run on request only;
# their fast versions in this file run in CI.
FULL = pytest.mark.skipif(not os.environ.get("LORAPLACE_FULL_SIMULATIONS"),
                          reason="full simulation: set LORAPLACE_FULL_SIMULATIONS=1 (tens of minutes)")

ALPHA = 0.05
LEVELS = (ALPHA, ALPHA / 6, ALPHA / 36)
SHIFT_SD = 0.15


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def world(rng, reps: int, S: int, n: int, per_seed: bool):
    """(a, b): a (reps, S, n) trained runs; b the same (per-seed base) or (reps, n) (shared base)."""
    logit = rng.normal(0.3, 1.5, (reps, 1, n))
    a = (rng.random((reps, S, n)) < _sigmoid(logit + rng.normal(0, SHIFT_SD, (reps, S, 1)))).astype(float)
    if per_seed:
        b = (rng.random((reps, S, n)) < _sigmoid(logit + rng.normal(0, SHIFT_SD, (reps, S, 1)))).astype(float)
    else:
        b = (rng.random((reps, n)) < _sigmoid(logit[:, 0])).astype(float)
    return a, b


def simulate(S: int, per_seed: bool, reps: int, seed: int, n: int = 500) -> dict:
    """Per-test rejection rate at each of LEVELS and 95 % coverage of the true effect 0."""
    rng = np.random.default_rng(seed)
    p, covered = np.empty(reps), np.empty(reps, bool)
    done = 0
    while done < reps:  # worlds in blocks of 500 replications (memory)
        k = min(500, reps - done)
        a, b = world(rng, k, S, n, per_seed)
        for r in range(k):
            est = stats.crossed_bootstrap(a[r], b[r], resamples=200, rng=rng)
            p[done + r], covered[done + r] = est.p_value, est.ci_low <= 0 <= est.ci_high
        done += k
    return {"S": S, "base": "per-seed" if per_seed else "shared", "reps": reps,
            "rejection": {a: float(np.mean(p < a)) for a in LEVELS}, "coverage": float(covered.mean())}


def mc_se(rate: float, reps: int) -> float:
    return math.sqrt(rate * (1 - rate) / reps)


# ─────────────────────────────────────────────────── familywise error through claims.evaluate

BENCH_ITEMS = 40
BUDGET_ROLES = {f"{r}@budget": f"{r}_at_budget" for r in ("attention", *[r for r in ROLES if r != "attention"],
                                                             "random")}


def null_evidence(rng, S: int, n: int = BENCH_ITEMS, budget: bool = True) -> Evidence:
    """Every condition (and, with `budget`, the budget controls) of both study models after every
    domain, S seeds, on every benchmark: the same question logits for every condition, one shift per run."""
    benchmarks = ("gsm8k", "humaneval", "mmlu", "arc_challenge", "hellaswag")
    records = []
    roles = {}
    for model in MODELS.values():
        roles[model.key] = {**dict(model.conditions), **(BUDGET_ROLES if budget else {})}
        logits = {bench: rng.normal(0.3, 1.5, n) for bench in benchmarks}
        for condition in roles[model.key].values():
            for domain in ("gsm8k_train", "codealpaca", "ultrachat"):
                for seed in range(S):
                    shift = rng.normal(0, SHIFT_SD)
                    for bench in benchmarks:
                        solved = rng.random(n) < _sigmoid(logits[bench] + shift)
                        records += [Record(model.key, model.topology, condition, domain, seed, bench, f"{bench}:{i}",
                                           float(x), "corrected") for i, x in enumerate(solved)]
    return Evidence("tiny", records, models={m.topology: m.key for m in MODELS.values()}, roles=roles)


def familywise(claim_id: str, family: str, reps: int, S: int, seed: int) -> float:
    """Share of null worlds in which some part of the claim's family is decided (supported or refuted)."""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(reps):
        evidence = null_evidence(rng, S, budget=family == "controls")
        verdicts = evaluate(get_claim(claim_id), evidence, "corrected", resamples=200, seed=1)
        hits += any(v.verdict in ("supported", "refuted") for v in verdicts if v.family == family)
    return hits / reps


# ─────────────────────────────────────────────────────────────────────────── fast (CI)

@pytest.mark.parametrize("S", [3, 5])
def test_reproducer_rejects_at_the_holm_level_with_a_per_seed_base(S):
    """The issue's reproducer: P(p < 0.05/6) was 0.044 at S = 3 (5× nominal); now <= 1.2× + 3 SE."""
    out = simulate(S, True, reps=3000 if S == 3 else 1500, seed=24 + S)
    for level in LEVELS[:2]:
        rate = out["rejection"][level]
        assert rate <= 1.2 * level + 3 * mc_se(level, out["reps"]), (level, rate)
    assert abs(out["coverage"] - 0.95) <= 0.01 + 3 * mc_se(0.05, out["reps"])


def test_shared_base_is_not_anti_conservative():
    out = simulate(3, False, reps=2000, seed=7)
    for level in LEVELS[:2]:
        assert out["rejection"][level] <= 1.2 * level + 3 * mc_se(level, out["reps"])
    assert out["coverage"] >= 0.94 - 3 * mc_se(0.05, out["reps"])


def test_familywise_error_of_c4_through_evaluate():
    """C4 (24 comparisons at 3 seeds) was falsely decided in 59 % of null worlds; now <= 5 % + 3 SE."""
    reps = 30
    assert familywise("C4", "study", reps, 3, seed=4) <= ALPHA + 3 * mc_se(ALPHA, reps)


# ─────────────────────────────────────────────────────────────────────────── full (slow)

@FULL
@pytest.mark.slow
@pytest.mark.parametrize("S", [3, 5, 10])
@pytest.mark.parametrize("per_seed", [True, False])
def test_full_rejection_and_coverage(S, per_seed):
    out = simulate(S, per_seed, reps=20_000, seed=100 + S)
    for level in LEVELS:
        assert out["rejection"][level] <= 1.2 * level + 2 * mc_se(level, out["reps"]), (level, out)
    assert out["coverage"] >= 0.94 - 2 * mc_se(0.05, out["reps"])
    if per_seed:
        assert out["coverage"] <= 0.96 + 2 * mc_se(0.05, out["reps"])


@FULL
@pytest.mark.slow
@pytest.mark.parametrize("claim_id, family", [("C1", "study"), ("C4", "study"), ("C1", "controls")])
def test_full_familywise_error(claim_id, family):
    reps = 300
    assert familywise(claim_id, family, reps, 3, seed=5) <= ALPHA + 2 * mc_se(ALPHA, reps)
