"""Racing against the full sweep (`--no-racing`) on the same runs: a deterministic backend whose
placements differ by known per-question effects, so the right answer is known before either runs.

Every (placement, seed) run is a fixed function of its name and seed -- as a cached training run
is -- so the race's runs are a subset of the sweep's, and the two answers can be compared."""
from __future__ import annotations

import zlib

import numpy as np

from loraplace.models.placement import model_taxonomy
from loraplace.recommend.candidates import candidates
from loraplace.recommend.run import recommend

N = 300  # target questions; question i is solved by a run whose skill exceeds its difficulty i / N
SECONDS_PER_RUN = 7.0


class KnownBackend:
    """A run of placement c with seed s solves question i iff i/N < skill[c], except for a few
    questions near its threshold that the seed flips (seed noise, a fixed function of (c, s))."""

    def __init__(self, skill: dict[str, float], default: float = 0.40, base: float = 0.30, seeds: int = 5):
        self.taxonomy = model_taxonomy("qwen3_5_0_8b_base")
        self.rank, self.seeds = 16, tuple(range(seeds))
        self.targets, self.retention = ("gsm8k",), ()
        self.skill, self.default, self.base = skill, default, base
        self.calls: list[tuple[str, int]] = []
        self.seconds = 0.0

    def _solved(self, skill: float, salt: str) -> np.ndarray:
        rng = np.random.default_rng(zlib.crc32(salt.encode()))
        level = np.arange(N) / N
        near = np.abs(level - skill) < 0.05  # the questions a seed may get either way
        return np.where(near, rng.random(N) < 0.5, level < skill).astype(float)

    def base_scores(self):
        return {"gsm8k": self._solved(self.base, "base")}

    def run(self, name, seed):
        self.calls.append((name, seed))
        self.seconds += SECONDS_PER_RUN
        return {"gsm8k": self._solved(self.skill.get(name, self.default), f"{name}/{seed}")}

    def describe(self):
        return {"backend": "known"}


SKILL = {"attention_only": 0.70, "budget_full": 0.35, "recurrent_only": 0.50}


def test_racing_picks_the_full_sweeps_winner_for_at_most_half_its_compute():
    names = [c.name for c in candidates(model_taxonomy("qwen3_5_0_8b_base"), 16)[0]]
    raced_backend, swept_backend = KnownBackend(SKILL), KnownBackend(SKILL)
    raced = recommend(raced_backend, resamples=400, show_progress=False)
    swept = recommend(swept_backend, racing=False, resamples=400, show_progress=False)
    # the answer known beforehand: attention-only solves 70 % of the questions, every other placement 50 % or fewer
    assert swept["answer"] == {"outcome": "winner", "winner": "attention_only", "leaders": ["attention_only"]}
    assert raced["answer"]["outcome"] == "winner" and raced["answer"]["winner"] == "attention_only"
    # compute, counted three ways: the runs the backend trained, the runs reported, the seconds reported
    assert len(swept_backend.calls) == swept["runs"] == swept["full_sweep_runs"] == len(names) * 5
    assert len(raced_backend.calls) == raced["runs"] <= 0.5 * swept["runs"]
    assert raced["backend_seconds"] == SECONDS_PER_RUN * raced["runs"]
    assert raced["backend_seconds"] <= 0.5 * swept["backend_seconds"]
    assert set(raced_backend.calls) <= set(swept_backend.calls)  # the race's runs are the sweep's runs
    # the race dropped placements early: at the first look where the seeds' spread is estimable,
    # after round 2 with two seeds each -- never after round 1, on one seed's luck
    assert not any(r["dropped_in_round"] == 1 for r in raced["table"])
    first = [r for r in raced["table"] if r["dropped_in_round"] == 2]
    assert first and all(r["seeds"] == 2 for r in first)
    assert all("p=0 " not in r["why"] for r in raced["table"])  # below the bootstrap's resolution: p<1/B
    assert raced["fraction_of_full_sweep"] == raced["runs"] / swept["runs"]


def test_a_placement_close_to_the_leader_survives_longer_than_a_far_one():
    skill = {**SKILL, "recurrent_only": 0.66}  # 4 points behind: not distinguishable from one seed
    out = recommend(KnownBackend(skill), resamples=400, show_progress=False)
    rows = {r["candidate"]: r for r in out["table"]}
    assert rows["budget_full"]["dropped_in_round"] == 2
    assert rows["recurrent_only"]["seeds"] > rows["budget_full"]["seeds"]
