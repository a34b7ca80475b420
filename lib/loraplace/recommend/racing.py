"""Racing placements with honest statistics (pure: scores in, decisions out).

A round gives every surviving candidate one more training seed (the same seeds for all, so
candidates pair seed by seed and question by question). After each round:

1. each candidate's **target gain** over the base model and its **retention change** on the
   off-target battery are estimated by the suite's crossed seeds × items bootstrap
   (`judging.stats.stratified_bootstrap`, benchmarks as equal-weight strata);
2. a candidate whose retention change is below ``-tolerance`` with confidence (its upper bound
   under it) is out: it forgets more than the user accepts;
3. the **leader** is the admissible candidate with the highest target gain; every other
   admissible candidate is compared with it on the paired target questions, and dropped when the
   leader is better with a Holm-adjusted one-sided p below the round's level. The level is
   ``alpha / rounds`` (Bonferroni over the looks), so however many rounds run, the chance of
   dropping a candidate that is truly as good as the leader stays at most ``alpha``. This is
   "the candidate's upper bound is below the leader's lower bound" taken on the paired
   difference: the candidate is out when the upper bound of (candidate - leader), at the Holm-
   adjusted level, is below zero. Pairing the same questions and seeds makes the test sharper
   than two overlapping marginal intervals, and no less honest. Before the third seed the
   between-seed spread is not estimable (`judging.crossed`): an early drop is then about the
   runs trained so far (question noise only), and the full sweep's answer on the same runs is
   the check (tests/test_recommend_sweep.py);
4. the race stops when one candidate is left (best with confidence), when every round is
   spent (the survivors are indistinguishable: the report names them and the cheapest), or when
   the caller's budget of runs is.

`Scores` per run: {benchmark: 1-D array of item scores}, every run of a benchmark on the same
questions in the same order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from loraplace.judging.stats import holm, stratified_bootstrap

Scores = dict  # {benchmark: np.ndarray of item scores}


@dataclass(frozen=True)
class Interval:
    effect_pp: float
    ci_low_pp: float
    ci_high_pp: float
    p: float

    @classmethod
    def of(cls, est, scale: float = 100.0) -> Interval:
        """`scale` 100: a rate's difference in percentage points (`*_pp`); 1: in the score's own unit."""
        return cls(scale * est.effect, scale * est.ci_low, scale * est.ci_high, float(est.p_value))


@dataclass
class Standing:
    name: str
    seeds: int = 0
    target: Interval | None = None
    retention: Interval | None = None
    status: str = "racing"  # racing | leader | dropped | forgets | winner | tied
    why: str = ""
    dropped_in_round: int | None = None


@dataclass
class RaceState:
    rounds: int
    alpha: float = 0.05
    tolerance_pp: float = 2.0
    scale: float = 100.0  # target scores: 100 for rates (pp), 1 for a loss (nats/token)
    unit: str = "pp"
    standings: dict[str, Standing] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)

    @property
    def alive(self) -> list[str]:
        return [n for n, s in self.standings.items() if s.status in ("racing", "leader")]


def strata(runs: list[Scores], base: Scores, benchmarks: tuple[str, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(np.stack([np.asarray(r[b], float) for r in runs]), np.asarray(base[b], float)) for b in benchmarks]


def _vs(runs_a: list[Scores], runs_b: list[Scores], benchmarks: tuple[str, ...]) -> list:
    seeds = min(len(runs_a), len(runs_b))  # the seeds both have, paired seed by seed
    return [(np.stack([np.asarray(r[b], float) for r in runs_a[:seeds]]),
             np.stack([np.asarray(r[b], float) for r in runs_b[:seeds]])) for b in benchmarks]


def one_sided(est) -> float:
    """P(leader - other <= 0) under the bootstrap: the two-sided p halved on the estimate's side."""
    p = float(est.p_value)
    return p / 2 if est.effect > 0 else 1 - p / 2


def judge_round(state: RaceState, runs: dict[str, list[Scores]], base: Scores, targets: tuple[str, ...],
                retention: tuple[str, ...], *, resamples: int, rng: np.random.Generator, round_no: int) -> RaceState:
    """Update `state` after round `round_no` (1-based) from every live candidate's runs so far."""
    level = state.alpha / state.rounds
    alive = state.alive
    for name in alive:
        s = state.standings[name]
        s.seeds = len(runs[name])
        s.target = Interval.of(stratified_bootstrap(strata(runs[name], base, targets), resamples=resamples, rng=rng),
                               state.scale)
        if retention:
            s.retention = Interval.of(stratified_bootstrap(strata(runs[name], base, retention),
                                                           resamples=resamples, rng=rng))
            if s.retention.ci_high_pp < -state.tolerance_pp:
                s.status, s.dropped_in_round = "forgets", round_no
                s.why = (f"retention {s.retention.effect_pp:+.1f} pp [{s.retention.ci_low_pp:+.1f}, "
                         f"{s.retention.ci_high_pp:+.1f}] is below the tolerance of -{state.tolerance_pp:g} pp")
    admissible = [n for n in alive if state.standings[n].status != "forgets"]
    if not admissible:
        return state
    leader = max(admissible, key=lambda n: state.standings[n].target.effect_pp)
    others = [n for n in admissible if n != leader]
    ests = [stratified_bootstrap(_vs(runs[leader], runs[n], targets), resamples=resamples, rng=rng) for n in others]
    adjusted = holm([one_sided(e) for e in ests]) if ests else []
    for name, est, p_adj in zip(others, ests, adjusted):
        s = state.standings[name]
        if p_adj < level and est.effect > 0:
            s.status, s.dropped_in_round = "dropped", round_no
            k, u, fmt = state.scale, state.unit, (".1f" if state.unit == "pp" else ".3f")
            p_text = (f"p<1/{est.resamples}" if est.resamples and p_adj < 1 / est.resamples
                      else f"p={p_adj:.2g}")  # below the bootstrap's resolution: never "p=0"
            s.why = (f"round {round_no}: {leader} leads it by {k * est.effect:+{fmt}} {u} [{k * est.ci_low:+{fmt}}, "
                     f"{k * est.ci_high:+{fmt}}] on target, Holm one-sided {p_text} < {level:.3g}")
        else:
            s.status = "racing"
    state.standings[leader].status = "leader"
    state.history.append({"round": round_no, "leader": leader, "alive": state.alive, "level": level})
    return state


def finish(state: RaceState, trainable: dict[str, int]) -> dict:
    """The race's answer: the winner, or the indistinguishable leaders and the cheapest of them."""
    alive = state.alive
    if not alive:
        return {"outcome": "none", "sentence": "Every placement forgets more than the tolerance allows."}
    if len(alive) == 1:
        state.standings[alive[0]].status = "winner"
        return {"outcome": "winner", "winner": alive[0], "leaders": alive}
    cheapest = min(alive, key=lambda n: trainable[n])
    for n in alive:
        state.standings[n].status = "tied"
    return {"outcome": "indistinguishable", "leaders": alive, "cheapest": cheapest,
            "leader": state.history[-1]["leader"] if state.history else alive[0]}
