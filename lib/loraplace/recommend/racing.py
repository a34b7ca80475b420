"""Racing placements with honest statistics (pure: scores in, decisions out).

A round gives every surviving candidate one more training seed of the full recipe (the same seeds
for all, so candidates pair seed by seed and question by question). After each round:

1. each candidate's **target gain** over the base model and its **retention change** on the
   off-target battery are shown with the suite's crossed seeds × items estimate
   (`judging.stats.stratified_bootstrap`, benchmarks as equal-weight strata; 95 %);
2. decisions use **simultaneous intervals** (`recommend.intervals`), Bonferroni over the
   family and the looks, the between-seed spread pooled over the candidates: with probability
   >= 1 - alpha every interval of every round covers its true value, so the decisions below are
   all right together, however the leader was picked;
3. a candidate whose retention change's upper bound (level ``alpha / (K x rounds)``, K the
   candidates) is below ``-tolerance`` is out: it forgets more than the user accepts;
4. the **leader** is the admissible candidate with the highest target gain; a candidate is
   dropped when its upper bound is below the leader's lower bound, taken on their paired
   difference: the interval of (leader - candidate), at level ``alpha / (K (K - 1) / 2 x
   rounds)`` (every pair, since the leader is chosen from the data), lies above zero;
5. nothing is decided before the between-seed spread is estimable (two seeds each: the pooled
   spread has one degree of freedom per candidate): after one seed, a gap between two placements
   may be nothing but the seeds' luck;
6. the race stops when one candidate is left (best with confidence), when every round is
   spent (the survivors are indistinguishable: the report names them and the cheapest), or when
   the caller's budget of runs is.

`Scores` per run: {benchmark: 1-D array of item scores}, every run of a benchmark on the same
questions in the same order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from loraplace.judging.stats import stratified_bootstrap
from loraplace.recommend.intervals import difference, parts, simultaneous

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
    bounds: tuple[float, float] | None = None  # leader minus it, the simultaneous interval a drop uses


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


def _bounds(gain, scale: float, unit: str) -> str:
    fmt = ".1f" if unit == "pp" else ".3f"
    return f"[{scale * gain.low:+{fmt}}, {scale * gain.high:+{fmt}}] {unit}"


def judge_round(state: RaceState, runs: dict[str, list[Scores]], base: Scores, targets: tuple[str, ...],
                retention: tuple[str, ...], *, resamples: int, rng: np.random.Generator, round_no: int) -> RaceState:
    """Update `state` after round `round_no` (1-based) from every candidate's runs so far."""
    k = len(state.standings)
    level, pair_level = state.alpha / (k * state.rounds), state.alpha / (max(1, k * (k - 1) // 2) * state.rounds)
    alive = state.alive
    got = {name: parts(rs, base, targets) for name, rs in runs.items() if rs}
    gains = simultaneous(runs, base, targets, level)
    kept = simultaneous(runs, base, retention, level) if retention else {}
    decide = any(g.pooled_df > 0 for g in gains.values())
    for name in alive:
        s = state.standings[name]
        s.seeds = len(runs[name])
        s.target = Interval.of(stratified_bootstrap(strata(runs[name], base, targets), resamples=resamples, rng=rng),
                               state.scale)
        if retention:
            s.retention = Interval.of(stratified_bootstrap(strata(runs[name], base, retention),
                                                           resamples=resamples, rng=rng))
            if decide and 100 * kept[name].high < -state.tolerance_pp:
                s.status, s.dropped_in_round = "forgets", round_no
                s.why = (f"round {round_no}: retention {_bounds(kept[name], 100, 'pp')} (simultaneous) is below "
                         f"the tolerance of -{state.tolerance_pp:g} pp")
    admissible = [n for n in alive if state.standings[n].status != "forgets"]
    if not admissible:
        return state
    leader = max(admissible, key=lambda n: gains[n].effect)
    for name in admissible:
        if name == leader:
            continue
        s = state.standings[name]
        gap = difference(runs, base, targets, leader, name, pair_level, got)
        s.bounds = (state.scale * gap.low, state.scale * gap.high)
        if decide and gap.low > 0:
            s.status, s.dropped_in_round = "dropped", round_no
            s.why = (f"round {round_no}: {leader} beats it by {_bounds(gap, state.scale, state.unit)} on target "
                     f"(paired, simultaneous over every pair at level {pair_level:.2g})")
        else:
            s.status = "racing"
    state.standings[leader].status = "leader"
    state.history.append({"round": round_no, "leader": leader, "alive": state.alive, "level": level,
                          "decided": decide})
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
