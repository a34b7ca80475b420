"""Claims C1–C6 judged on an evidence track: pair → Holm → decide → verdict.

Every part of a claim gets a verdict per evidence track and scorer by the rule in
`loraplace.judging.rule`. Holm's family is every testable comparison of the claim's parts of
one `Part.family` under one evidence track and scorer (untestable ones and floor bounds are not
in it); a part of several comparisons adds all of them. The p-value is dual to the percentile
CI (one test: CI excludes 0 iff p < 0.05); the CI is per comparison, Holm's p adjusts for the
family, so a CI that excludes 0 can still be inconclusive. The MDE is at Holm's
strictest step, alpha / m: the effect each comparison detects with 80 % power whatever the
rest of the family does. A part made of several comparisons ("attention-only degrades
*least*": better than each other condition) is an intersection–union test: supported iff
every comparison is, refuted iff any one is refuted; the comparison shown is the one that
decides. "Floor" parts (pass@1 at the floor) use the exact Clopper–Pearson interval of k/n:
supported iff every condition's upper bound (95 %) is below FLOOR (intersection–union, no
adjustment needed), refuted iff some condition's lower bound at alpha / m_part (Bonferroni
over the part's conditions) is above FLOOR. C7 is judged by `loraplace.judging.factorial`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loraplace.claims.registry import FAMILIES, Claim, Comparison, Part
from loraplace.evidence.records import BASE, Evidence, NoData
from loraplace.judging import factorial, stats
from loraplace.judging.pairing import ZERO, estimate, pair
from loraplace.judging.rule import ALPHA, FIXED_BY_SCORER, FLOOR, POWER, decide, magnitude, strata_dicts
from loraplace.judging.verdict import Verdict


@dataclass(frozen=True)
class Judged:
    """One comparison of a part: its paired strata, its estimate, and (once decided) its verdict."""
    comp: Comparison
    strata: list
    est: stats.Estimate | None
    decision: str = ""
    p_holm: float | None = None
    reason: str = ""


@dataclass(frozen=True)
class Paired:
    """A part's comparisons paired on one track and scorer, or why it has no data (`missing`)."""
    part: Part
    model: str
    judged: tuple[Judged, ...] = ()
    missing: str = ""


def _untestable(comp: Comparison, track: str, scorer: str, strata: list) -> str:
    """Why the data cannot decide this comparison ('' when it can)."""
    fixed = [FIXED_BY_SCORER[(track, scorer, b)] for b in comp.benchmarks if (track, scorer, b) in FIXED_BY_SCORER]
    if fixed:
        return f"not testable: {fixed[0]}"
    if comp.b == ZERO:
        return ""  # a proportion: the exact interval needs no variance
    d = np.concatenate([(p.a - p.b).ravel() for p in strata])
    # every difference the same non-zero number decides (p = 0); all zero cannot say which way
    return "not testable: every paired difference is 0 (zero variance: the two sides answer alike)" if not np.any(d) else ""


def _floor(strata: list, m_part: int) -> tuple[stats.Estimate, str]:
    """Exact bounds of pass@1 with the questions as clusters (`stats.layered_ci`: Clopper–Pearson
    for one run, layered over several runs answering the same questions) and the floor decision."""
    (p,) = strata
    solved = np.round(p.a).sum(axis=0)                     # per question: runs that solved it
    runs, n = p.a.shape
    lo, hi = stats.layered_ci(solved, runs, ALPHA)
    lo_family = stats.layered_ci(solved, runs, ALPHA / max(m_part, 1))[0]
    decision = "supported" if hi < FLOOR else "refuted" if lo_family > FLOOR else "inconclusive"
    rate = float(solved.sum() / (runs * n))
    stratum = stats.Stratum(p.n_paired, 1.0, rate, float("nan"), 1.0, p.benchmark, p.n_a, p.n_b)
    est = stats.Estimate(n=p.n_paired, n_seeds=runs, effect=rate, ci_low=lo, ci_high=hi,
                         p_value=float("nan"), sd_diff=float("nan"), mde=float("nan"), resamples=0,
                         alpha=ALPHA, strata=(stratum,))
    return est, decision


def _power(part: Part, est: stats.Estimate, m: int) -> dict:
    """Items (and seeds) for 80 % power at alpha / m: the paper's effect if it gives one, else the observed."""
    target = part.claimed_pp / 100 if part.claimed_pp is not None else est.effect
    if target == 0 or not np.isfinite(est.se):
        return {}
    out = dict(power_target_pp=100 * target, power_target="claimed" if part.claimed_pp is not None else "observed")
    item_var, seed_var = stats.variance_parts(est)
    plan = stats.plan(item_var, seed_var, est.n, est.n_seeds, target, alpha=ALPHA, power=POWER, family=max(m, 1))
    return out | {k: plan[k] for k in ("items_needed", "seeds_needed") if k in plan}


def _binding(direction: str, verdict: str, judged: list[Judged]) -> Judged:
    """The comparison that decides a part: a refuting one if any, else the weakest for the claim."""
    floor = direction == "floor"
    refuting = [j for j in judged if j.decision == "refuted"]
    if refuting:
        return max(refuting, key=lambda j: j.est.ci_low) if floor else min(refuting, key=lambda j: j.p_holm)
    if verdict == "untestable":
        return next(j for j in judged if j.decision == "untestable")
    if floor:
        return max(judged, key=lambda j: j.est.ci_high)
    return max(judged, key=lambda j: (j.decision != "supported", j.p_holm))


def _interval(est: stats.Estimate, floor: bool) -> str:
    if floor:
        return "exact Clopper–Pearson" if est.n_seeds == 1 else "exact, layered over runs (questions as clusters)"
    return f"items normal + seeds t({est.n_seeds - 1})" if est.item_var is not None else "bootstrap percentile"


def _fmt_effect(direction: str, effect: float) -> str:
    return f"{100 * effect:.1f} %" if direction == "floor" else f"{100 * effect:+.1f} pp"


def pair_part(part: Part, evidence: Evidence, scorer: str, *, resamples: int, seed: int) -> Paired:
    """Pair every comparison of `part` on the questions both sides answered and estimate it (a floor
    part and an untestable comparison are left unestimated); only missing data becomes `missing`."""
    try:
        model = evidence.model(part.topology, part.mixer)
        judged = []
        for comp in part.comparisons:
            strata = [pair(evidence, model, scorer, evidence.condition(model, comp.a),
                           evidence.condition(model, comp.b) if comp.b not in (BASE, ZERO) else comp.b,
                           comp.domain, bench) for bench in comp.benchmarks]
            reason = _untestable(comp, evidence.track, scorer, strata)
            est = None if reason or part.direction == "floor" else \
                estimate(strata, resamples=resamples, seed=seed, alpha=ALPHA)
            judged.append(Judged(comp, strata, est, "untestable" if reason else "", reason=reason))
        return Paired(part, model, tuple(judged))
    except NoData as exc:  # only missing data is "unavailable"; any other error fails the test
        return Paired(part, evidence.models.get(part.topology, "-") if part.mixer is None else "-", missing=exc.what)


def holm_families(rows: list[Paired]) -> tuple[dict[int, float], dict[str, int]]:
    """Holm-adjusted p of every estimated comparison ({id(Judged): p}) and each family's size."""
    p_holm, family_size = {}, {}
    for family in FAMILIES:
        tested = [j for r in rows if r.part.family == family and not r.missing for j in r.judged if j.est is not None]
        p_holm.update(zip(map(id, tested), stats.holm([j.est.p_value for j in tested])) if tested else ())
        family_size[family] = len(tested)
    return p_holm, family_size


def decide_part(row: Paired, p_holm: dict[int, float]) -> tuple[str, list[Judged]]:
    """The part's verdict (intersection–union over its comparisons) and each comparison decided."""
    m_part = sum(1 for j in row.judged if not j.reason)
    done = []
    for j in row.judged:
        if j.reason:
            done.append(j)
        elif row.part.direction == "floor":
            est, decision = _floor(j.strata, m_part)
            done.append(Judged(j.comp, j.strata, est, decision))
        else:
            ph = float(p_holm[id(j)])
            done.append(Judged(j.comp, j.strata, j.est, decide(row.part.direction, j.est.ci_low, j.est.ci_high, ph), ph))
    decisions = [j.decision for j in done]
    verdict = ("refuted" if "refuted" in decisions else "untestable" if "untestable" in decisions else
               "supported" if all(d == "supported" for d in decisions) else "inconclusive")
    return verdict, done


def protocol_of(evidence: Evidence) -> str:
    """The paper track's protocol name (`source["protocol"]["name"]`), else ""."""
    proto = evidence.source.get("protocol")
    return str(proto.get("name", "")) if isinstance(proto, dict) else ""


def to_verdict(claim: Claim, row: Paired, evidence: Evidence, scorer: str, m: int, verdict: str,
               done: list[Judged], resamples: int = 0) -> Verdict:
    """The `Verdict` a reader sees: the deciding comparison's numbers, and every comparison's outcome."""
    part, model = row.part, row.model
    common = dict(claim_id=claim.id, claim_title=claim.title, sentence=claim.sentence, part_id=part.id,
                  part=part.label, topology=part.topology, model=model, evidence=evidence.track,
                  scorer=scorer, direction=part.direction, family_size=m,
                  mixer=evidence.cells.get(model, {}).get("mixer", part.mixer or ""), family=part.family,
                  claimed_pp=part.claimed_pp, primary=scorer == part.primary_scorer, resamples=resamples,
                  protocol=protocol_of(evidence))
    if row.missing:
        comp = part.comparisons[0]
        return Verdict(**common, comparison=comp.label(), benchmark="+".join(comp.benchmarks),
                       domain=comp.domain, verdict="unavailable", note=f"no data: {row.missing}")
    b = _binding(part.direction, verdict, done)
    parts_note = ""
    if len(done) > 1:
        parts_note = "all of: " + "; ".join(
            f"{j.comp.label(evidence, model).split(' on ')[0]} "
            + (f"{_fmt_effect(part.direction, j.est.effect)} ({j.decision})" if j.est else "(untestable)")
            for j in done)
    seeds = b.strata[0].seeds
    label = dict(comparison=b.comp.label(evidence, model), benchmark="+".join(b.comp.benchmarks), domain=b.comp.domain)
    if b.est is None:
        return Verdict(**common, **label, verdict=verdict, n_seeds=len(seeds), seeds=seeds,
                       note="; ".join(x for x in (b.reason, parts_note) if x))
    est, floor = b.est, part.direction == "floor"
    return Verdict(
        **common, **label, verdict=verdict, n=est.n, n_seeds=est.n_seeds, seeds=seeds,
        effect_pp=100 * est.effect, ci_low_pp=100 * est.ci_low, ci_high_pp=100 * est.ci_high,
        p_value=None if floor else est.p_value, p_holm=b.p_holm,
        mde_pp=None if floor else 100 * stats.estimate_mde(est, ALPHA, POWER, max(m, 1)), note=parts_note,
        n_a=est.n_a, n_b=est.n_b, seed_sd_pp=None if est.seed_sd is None else 100 * est.seed_sd,
        strata=strata_dicts(est), interval=_interval(est, floor),
        magnitude=magnitude(part.claimed_pp, 100 * est.ci_low, 100 * est.ci_high),
        **(_power(part, est, m) if verdict == "inconclusive" and not floor else {}))


def evaluate(claim: Claim, evidence: Evidence, scorer: str, *, resamples: int, seed: int) -> list[Verdict]:
    """A verdict for every part of the claim under one evidence track and scorer."""
    if claim.judged_on == "factorial":
        return factorial.evaluate(claim, evidence, scorer, resamples=resamples, seed=seed)
    if claim.judged_on != "evidence":
        raise ValueError(f"{claim.id} is judged on the {claim.judged_on}: loraplace.judging.efficiency.verdict(part)")
    rows = [pair_part(part, evidence, scorer, resamples=resamples, seed=seed) for part in claim.parts]
    p_holm, family_size = holm_families(rows)
    out = []
    for row in rows:
        verdict, done = decide_part(row, p_holm) if not row.missing else ("unavailable", [])
        out.append(to_verdict(claim, row, evidence, scorer, family_size[row.part.family], verdict, done,
                              resamples=resamples))
    return out
