"""`recommend`'s orchestration: candidates -> rounds of runs -> racing decisions -> the answer.

    result = recommend(backend, seeds=3, racing=True)

`backend` trains and evaluates (`tiny_backend.TinyBackend`, or anything with the same methods:
`taxonomy`, `rank`, `seeds`, `targets`, `retention`, `base_scores()`, `run(condition, seed)`,
`describe()`). With `racing=False` every candidate gets every seed (the full sweep) and the same
decision rule is applied once at the end, so the two answers are comparable; the cost is counted
in training runs (each one fine-tuning plus its evaluation) against that full sweep's.
"""
from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np

from loraplace.judging.stats import stratified_bootstrap
from loraplace.progress import events as progress
from loraplace.recommend.candidates import Candidate, candidates
from loraplace.recommend.racing import Interval, RaceState, Standing, finish, judge_round, strata


def backend_candidates(backend) -> tuple[list[Candidate], list[str]]:
    """The backend's candidates: at its rank, budget-matched at its budget (if it sets one)."""
    cands, notes = candidates(backend.taxonomy, backend.rank, controls=getattr(backend, "controls", True),
                              budget_params=getattr(backend, "budget_params", None),
                              budget_rank=getattr(backend, "budget_rank", None))
    return cands, notes + list(getattr(backend, "notes", ()))


def plan(backend, seeds: int, racing: bool = True) -> dict:
    """What would run: the candidates, the racing schedule, the full sweep's size."""
    cands, notes = backend_candidates(backend)
    k = len(cands)
    pairs = max(1, k * (k - 1) // 2)
    seed_values = tuple(backend.seeds)[:seeds] + tuple(f"#{i + 1}" for i in range(len(backend.seeds), seeds))
    if seeds < 2:
        notes = notes + ["one seed: nothing can be dropped or declared best (the between-seed spread is not "
                         "estimable); --seeds 3 or more"]
    least = k * min(2, seeds) + max(0, seeds - 2)  # all but one dropped at the first decision
    return {"model": backend.describe(), "candidates": [asdict(c) | {"label": c.label} for c in cands],
            "notes": notes, "seeds": seeds, "full_sweep_runs": k * seeds,
            "cost": {"full_sweep_runs": k * seeds, "racing_runs_at_least": least if racing else k * seeds,
                     "racing_runs_at_most": k * seeds},
            "schedule": ([f"round {r + 1}: seed {seed_values[r]} for every candidate still racing"
                          + (", then drop each the leader beats: the paired interval of (leader - it) above zero "
                             f"(simultaneous over the {pairs} pairs and {seeds} looks: level alpha/{pairs * seeds})"
                             if r else " (no decision yet: the between-seed spread is not estimable from one seed)")
                          for r in range(seeds)] if racing
                         else [f"every candidate × seeds 0..{seeds - 1} (no racing)"])}


def recommend(backend, *, seeds: int | None = None, racing: bool = True, alpha: float = 0.05,
              tolerance_pp: float = 2.0, resamples: int = 2000, seed: int = 3407,
              max_runs: int | None = None, show_progress: bool = True, engine: str = "local",
              workers: int | None = None, address: str | None = None) -> dict:
    """Race (or sweep) the model's placements; the ranked table and the recommendation as a dict."""
    t0 = time.perf_counter()
    spent_before = float(getattr(backend, "seconds", 0.0))
    seed_list = tuple(backend.seeds)[:seeds] if seeds else tuple(backend.seeds)
    cands, notes = backend_candidates(backend)
    by_name: dict[str, Candidate] = {c.name: c for c in cands}
    base = backend.base_scores()
    rng = np.random.default_rng(seed)
    unit = getattr(backend, "unit", "pp")
    state = RaceState(rounds=len(seed_list) if racing else 1, alpha=alpha, tolerance_pp=tolerance_pp,
                      scale=100.0 if unit == "pp" else 1.0, unit=unit, standings={c.name: Standing(c.name) for c in cands})
    runs: dict[str, list] = {c.name: [] for c in cands}
    seconds = {c.name: 0.0 for c in cands}  # wall seconds spent on each candidate's runs
    cached: set[tuple[str, int]] = set()  # (candidate, seed) runs the cache held before this call
    spent, stopped = 0, ""
    bar = progress.phase("recommend: training runs", len(cands) * len(seed_list), unit="run") if show_progress \
        else None
    for r, s in enumerate(seed_list, start=1):
        todo = state.alive if max_runs is None else state.alive[:max(0, max_runs - spent)]
        _prefetch(backend, todo, s, cached, seconds, dict(engine=engine, workers=workers, address=address))
        for name in state.alive:
            if max_runs is not None and spent >= max_runs:
                stopped = f"the budget of {max_runs} runs is spent"
                break
            t_run = time.perf_counter()
            runs[name].append(backend.run(name, s))
            seconds[name] += time.perf_counter() - t_run
            spent += 1
            if bar:
                bar.advance(current=f"{name} seed {s}")
        if stopped:
            break
        if racing:
            judge_round(state, runs, base, backend.targets, backend.retention, resamples=resamples, rng=rng,
                        round_no=r)
            if len(state.alive) <= 1:
                break
    if bar:
        bar.close()
    if not racing and not stopped:
        judge_round(state, runs, base, backend.targets, backend.retention, resamples=resamples, rng=rng, round_no=1)
    answer = _answer(state, by_name, stopped)
    full = len(cands) * len(seed_list)
    return {
        "model": backend.describe(), "notes": notes, "racing": racing, "alpha": alpha, "tolerance_pp": tolerance_pp,
        "seeds": list(seed_list), "resamples": resamples, "answer": answer, "stopped": stopped,
        "runs": spent, "cached_runs": len(cached), "full_sweep_runs": full,
        "fraction_of_full_sweep": spent / full if full else 0.0,
        "seconds": round(time.perf_counter() - t0, 1), "history": state.history,
        # the seconds the backend reports for its training and evaluation (simulated in tests)
        "backend_seconds": round(float(getattr(backend, "seconds", 0.0)) - spent_before, 1),
        "unit": unit, "table": _table(state, by_name, also(backend, runs, base, resamples, rng), seconds,
                                       cached),
        "sentence": (f"Stopped early ({stopped}); as of round {state.history[-1]['round']}: "
                     if stopped and state.history else "") + sentence(answer, state, by_name, spent, full, alpha,
                                                                      tolerance_pp),
    }


def _answer(state: RaceState, by_name: dict[str, Candidate], stopped: str) -> dict:
    """The race's answer; none when the budget of runs ran out before any round was judged."""
    if stopped and not state.history:
        return {"outcome": "stopped", "sentence": f"Stopped before any round was complete ({stopped}): no placement "
                "is judged. The runs made are cached; a larger --max-runs continues from them."}
    return finish(state, {n: c.trainable for n, c in by_name.items()})


def _prefetch(backend, todo: list[str], s: int, cached: set, seconds: dict, how: dict) -> None:
    """Note the round's runs the cache holds; train the rest side by side where the backend can
    (worker processes, Ray), each run charged an even share of the round's wall time."""
    if hasattr(backend, "cached"):  # found, not trained: the cost column says so
        cached.update((name, s) for name in todo if backend.cached(name, s))
    if hasattr(backend, "prefetch") and todo:
        t_round = time.perf_counter()
        backend.prefetch([(name, s) for name in todo], **how)
        for name in todo:
            seconds[name] += (time.perf_counter() - t_round) / len(todo)


def also(backend, runs: dict[str, list], base: dict, resamples: int, rng) -> dict[str, dict]:
    """{candidate: {"loss": interval}}: the backend's secondary target (the held-out loss beside an
    accuracy target), in nats/token, for every candidate with runs; reported, not raced on."""
    out: dict[str, dict] = {}
    for name, rs in runs.items():
        for bench in getattr(backend, "secondary", ()):
            if rs:
                est = stratified_bootstrap(strata(rs, base, (bench,)), resamples=resamples, rng=rng)
                out.setdefault(name, {})[bench] = asdict(Interval.of(est, 1.0))
    return out


def _table(state: RaceState, by_name: dict[str, Candidate], secondary: dict[str, dict],
           seconds: dict[str, float], cached: set) -> list[dict]:
    order = {"winner": 0, "leader": 0, "tied": 1, "racing": 1, "dropped": 2, "forgets": 3}
    rows = []
    for name, s in state.standings.items():
        c = by_name[name]
        rows.append({"candidate": name, "placement": c.label, "trainable": c.trainable, "rank": c.rank,
                     "seeds": s.seeds, "status": s.status, "why": s.why, "dropped_in_round": s.dropped_in_round,
                     "target": asdict(s.target) if s.target else None,
                     "retention": asdict(s.retention) if s.retention else None,
                     "also": secondary.get(name, {}), "seconds": round(seconds[name], 1),
                     "decision_bounds": list(s.bounds) if s.bounds else None,
                     "cached_runs": sum(1 for n, _ in cached if n == name)})
    return sorted(rows, key=lambda r: (order.get(r["status"], 4), -(r["target"] or {}).get("effect_pp", -1e9)))


def sentence(answer: dict, state: RaceState, by_name: dict, runs: int, full: int, alpha: float, tol: float) -> str:
    cost = f"{runs} of the full sweep's {full} training runs ({runs / full:.0%})" if full else "no runs"
    if answer["outcome"] == "winner":
        w = state.standings[answer["winner"]]
        u = state.unit
        return (f"Put LoRA on {by_name[w.name].label}: it gains {w.target.effect_pp:+.3g} {u} "
                f"[{w.target.ci_low_pp:+.3g}, {w.target.ci_high_pp:+.3g}] on target over the base model with "
                f"{by_name[w.name].trainable:,} trainable parameters, and beats every other admissible placement "
                f"(familywise error ≤ {alpha:g}, retention tolerance {tol:g} pp); it cost {cost}.")
    if answer["outcome"] == "indistinguishable":
        c = by_name[answer["cheapest"]]
        names = ", ".join(by_name[n].label for n in answer["leaders"])
        return (f"No placement is best with confidence: {names} are indistinguishable on target at this many "
                f"seeds and items; the cheapest of them is {c.label} ({c.trainable:,} trainable parameters). "
                f"It cost {cost}.")
    return answer["sentence"] + f" It cost {cost}."
