"""The claim registry and the verdict rule.

Each claim quotes the paper and says how it is measured: which conditions (by role — the
study's condition names per model are in `loraplace.study`), after which fine-tuning domain,
on which benchmarks, and in which direction. A claim has parts (one per topology, domain, …);
every part gets a verdict per evidence track and scorer:

* ``supported``    the 95 % CI excludes 0 in the claimed direction and Holm-adjusted p < 0.05
* ``refuted``      the CI excludes 0 the other way and Holm-adjusted p < 0.05
* ``inconclusive`` otherwise — always reported with n, effect, CI, Holm p and the MDE
* ``untestable``   the data cannot decide: the scorer fixes the outcome (``FIXED_BY_SCORER``)
                   or every paired difference is the same number (zero variance)
* ``unavailable``  no data.

The p-value is dual to the percentile CI (one test: CI excludes 0 iff p < 0.05); the CI is
per comparison, Holm's p adjusts for the family, so a CI that excludes 0 can still be
inconclusive. Holm's family is every testable comparison of the claim's parts of one family
under one evidence track and scorer (untestable ones and floor bounds are not in it). A claim's
parts come in up to three pre-registered families, each answering its own question, so adding
one never moves another's verdicts: ``study`` (the study's two models), ``factorial`` (the same
claim on the mixer × topology factorial's two added cells, `Part.mixer`; tiny track only) and
``controls`` (C1's parameter-budget controls, `loraplace.models.controls`; tiny track only). The MDE is at Holm's
strictest step, alpha / m: the effect each comparison detects with 80 % power whatever the
rest of the family does. A part made of several comparisons ("attention-only degrades
*least*": better than each other condition) is an intersection–union test: supported iff
every comparison is, refuted iff any one is refuted; the comparison shown is the one that
decides. "Floor" parts (pass@1 at the floor) use the exact Clopper–Pearson interval of k/n:
supported iff every condition's upper bound (95 %) is below FLOOR (intersection–union, no
adjustment needed), refuted iff some condition's lower bound at alpha / m_part (Bonferroni
over the part's conditions) is above FLOOR.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loraplace.judging import stats
from loraplace.judging.pairing import ZERO, estimate, pair
from loraplace.evidence.records import BASE, Evidence, NoData
from loraplace.study import DOMAINS, MIXER_NAMES, ROLES, TARGETS, off_target
from loraplace.judging.verdict import ALPHA, FLOOR, Verdict

DIRECTIONS = ("positive", "negative", "floor", "range")  # range: an exact count inside the claimed range (C5)
VERDICTS = ("supported", "refuted", "inconclusive", "untestable", "unavailable")
POWER = 0.8
# (evidence track, scorer, benchmark) whose outcome the scorer sets without looking at the output
# (the tiny track's as-published HumanEval scorer does execute the raw completion: testable)
FIXED_BY_SCORER = {("published", "as-published", "humaneval"): "the as-published scorer records pass@1 = 0 "
                                                               "for every completion without executing it"}
TOPOLOGY_SHORT = {"sequential": "seq", "parallel": "par"}
TOPOLOGIES = tuple(TOPOLOGY_SHORT)
STUDY_MIXER = {"sequential": "gdn", "parallel": "mamba2"}  # the study's models: Qwen3.5, Falcon-H1
CROSS_MIXER = {"sequential": "mamba2", "parallel": "gdn"}  # the factorial's added cells
FAMILIES = ("study", "factorial", "controls")


@dataclass(frozen=True)
class Comparison:
    a: str  # a role ("attention", "recurrent", "full", …) or "base"
    b: str  # a role, "base", or "zero"
    domain: str
    benchmarks: tuple[str, ...]

    def label(self, evidence: Evidence | None = None, model: str | None = None) -> str:
        name = (lambda r: evidence.condition_label(model, r) if evidence and r not in (BASE, ZERO) else r)
        what = f"{name(self.a)} − {name(self.b)}" if self.b != ZERO else f"pass@1 of {name(self.a)}"
        return f"{what} on {'+'.join(self.benchmarks)} after {self.domain}"


@dataclass(frozen=True)
class Part:
    id: str
    topology: str
    label: str
    direction: str
    comparisons: tuple[Comparison, ...]
    claimed_pp: float | None = None  # the paper's own number, the effect to plan power for
    condition_set: str | None = None  # C5: the condition definitions counted ("as-published" | "harmonized")
    mixer: str | None = None  # None: the track's model of `topology`; else the factorial cell topology × mixer
    family: str = "study"  # Holm family (FAMILIES)
    outcome: str | None = None  # C7: the factorial outcome (loraplace.judging.factorial.OUTCOMES) a contrast is of

    @property
    def marks(self) -> tuple[str, ...]:
        """pytest markers: its topology (both for a contrast across them) and its mixer (a part on
        the study's model of a topology: that model's, Gated DeltaNet for sequential, Mamba-2 for
        parallel)."""
        topologies = TOPOLOGIES if self.topology not in TOPOLOGIES else (self.topology,)
        return (*topologies, self.mixer or STUDY_MIXER[self.topology])


@dataclass(frozen=True)
class Claim:
    id: str
    title: str
    sentence: str  # the paper's words
    source: str
    parts: tuple[Part, ...]
    judged_on: str = "evidence"  # "evidence": the tracks' records (`evaluate`); "architecture": exact counts (C5)

    def part(self, part_id: str) -> Part:
        for p in self.parts:
            if p.id == part_id:
                return p
        raise KeyError(f"Unknown part {part_id!r} of {self.id}. Available: {', '.join(p.id for p in self.parts)}")


def _parts(claim_id: str, specs, claimed: dict | None = None, *, cells: bool = False, family: str = "study",
           suffix: str = "") -> tuple[Part, ...]:
    """Parts of (topology, id suffix, label, direction, comparisons) specs: on the study's models, or
    (cells=True) on the factorial's added cells, ids and labels naming the cell's mixer."""
    out = []
    for t, s, label, d, c in specs:
        mixer = CROSS_MIXER[t] if cells else None
        pid = "-".join(x for x in (claim_id, TOPOLOGY_SHORT[t], mixer, s, suffix) if x)
        if mixer:
            label = label.replace(f"{t}:", f"{t} × {MIXER_NAMES[mixer]}:", 1)
        out.append(Part(pid, t, label, d, tuple(c), (claimed or {}).get(t), mixer=mixer, family=family))
    return tuple(out)


def _c1() -> Claim:
    specs = [(t, dom.split("_")[0], f"{t}: attention-only − full on target after {dom}", "positive",
              [Comparison("attention", "full", dom, TARGETS[dom])])
             for t in TOPOLOGIES for dom in DOMAINS]
    # Controls (pre-registered; tiny track: profile full after every domain, default after GSM8K
    # only): at attention-only's trainable budget, is it still better? Supported iff attention-only
    # beats every other placement at that budget (intersection–union), resp. the random placement
    # of that budget; refuted iff one wins.
    budget = [(t, dom.split("_")[0], f"{t}: attention-only − every other placement, all at attention-only's "
               f"budget, on target after {dom}", "positive",
               [Comparison("attention@budget", f"{r}@budget", dom, TARGETS[dom]) for r in ROLES if r != "attention"])
              for t in TOPOLOGIES for dom in DOMAINS]
    random = [(t, dom.split("_")[0], f"{t}: attention-only − random placement of its budget on target after {dom}",
               "positive", [Comparison("attention@budget", "random@budget", dom, TARGETS[dom])])
              for t in TOPOLOGIES for dom in DOMAINS]
    return Claim("C1", "Attention-only beats full adaptation on target",
                 "the attention pathway -- despite being the minority component -- consistently outperforms "
                 "full-model adaptation with 5-10x fewer trainable parameters", "abstract",
                 _parts("C1", specs) + _parts("C1", budget, family="controls", suffix="budget")
                 + _parts("C1", random, family="controls", suffix="random"))


def _c2() -> Claim:
    specs = [(t, "", f"{t}: recurrent-only − base on gsm8k after gsm8k_train", d,
              [Comparison("recurrent", BASE, "gsm8k_train", ("gsm8k",))])
             for t, d in (("sequential", "negative"), ("parallel", "positive"))]
    claimed = {"sequential": -14.8, "parallel": 8.6}
    return Claim("C2", "Recurrent adaptation: destructive in sequential, constructive in parallel",
                 "adapting the recurrent backbone is destructive in sequential hybrids (-14.8 pp on GSM8K) "
                 "but constructive in parallel ones (+8.6 pp)", "abstract",
                 _parts("C2", specs, claimed) + _parts("C2", specs, claimed, cells=True, family="factorial"))


def _c3() -> Claim:
    specs = [(t, dom.split("_")[0], f"{t}: full − base off-target after {dom}", d,
              [Comparison("full", BASE, dom, off_target(dom))])
             for t, d in (("sequential", "negative"), ("parallel", "positive")) for dom in DOMAINS]
    return Claim("C3", "Off-target transfer: positive in parallel, forgetting in sequential",
                 "parallel hybrids exhibit positive cross-task transfer while sequential hybrids suffer "
                 "catastrophic forgetting", "abstract",
                 _parts("C3", specs) + _parts("C3", specs, cells=True, family="factorial"))


def _c4() -> Claim:
    others = [r for r in ROLES if r != "attention"]
    specs = [(t, dom.split("_")[0], f"{t}: attention-only degrades least off-target after {dom}", "positive",
              [Comparison("attention", other, dom, off_target(dom)) for other in others])
             for t in TOPOLOGIES for dom in DOMAINS]
    return Claim("C4", "Attention-only has the smallest off-target degradation",
                 "Attention-only shows comparatively smaller off-target degradation in several settings "
                 "(Qwen: smallest off-target degradation across domains; Falcon: near-zero off-target change)",
                 "README, key finding 4", _parts("C4", specs))


def _c6() -> Claim:
    specs = [(t, "", f"{t}: HumanEval pass@1 at the floor in every condition after codealpaca", "floor",
              [Comparison(role, ZERO, "codealpaca", ("humaneval",)) for role in ROLES])
             for t in TOPOLOGIES]
    return Claim("C6", "HumanEval floor: 0/164 in every condition",
                 "All released CodeAlpaca-trained conditions solved zero HumanEval examples on both models",
                 "README, HumanEval floor effect", _parts("C6", specs))


def _c5() -> Claim:  # exact counts on the real-size architectures: `loraplace.judging.efficiency.verdict`
    parts = tuple(Part(f"C5-{t[:3]}-{cs}", t, f"{t}: full ÷ attention-only trainable parameters ({cs} conditions)",
                       "range", (), condition_set=cs)
                  for t in ("sequential", "parallel") for cs in ("as-published", "harmonized"))
    return Claim("C5", "Attention-only needs 5–10× fewer trainable parameters than full adaptation",
                 "the attention pathway -- despite being the minority component -- consistently outperforms "
                 "full-model adaptation with 5-10x fewer trainable parameters", "abstract", parts,
                 judged_on="architecture")


def _c7() -> Claim:
    """Pre-registered (before any result of the added cells existed): on the mixer × topology 2×2
    (tiny track), for each outcome and each mixer, the topology contrast [parallel − sequential]
    of the cell effects is positive -- the direction C2 (sequential destructive, parallel
    constructive) and C3 (parallel transfers, sequential forgets) give. Supported iff all four
    parts are (the topology contrast has the claimed sign under both mixers, for both outcomes);
    refuted iff any part is refuted (a contrast significantly negative: under that mixer, the
    parallel hybrid responds worse). The mixer contrasts and the interaction are estimated in the
    report's 2×2 section, not judged. Outcomes and estimation: `loraplace.judging.factorial`."""
    from loraplace.judging.factorial import MIXER_ORDER, OUTCOME_LABELS, OUTCOMES

    parts = tuple(Part(f"C7-{outcome}-{mixer}", "both",
                       f"{MIXER_NAMES[mixer]}: parallel − sequential, of {OUTCOME_LABELS[outcome]}", "positive",
                       tuple(Comparison(role, BASE, dom, benches) for dom, benches in spec),
                       mixer=mixer, family="factorial", outcome=outcome)
                  for outcome, (role, spec) in OUTCOMES.items() for mixer in MIXER_ORDER)
    return Claim("C7", "Topology, not the recurrent mixer, sets the adaptation response",
                 "hybrid topology fundamentally determines adaptation response", "abstract", parts,
                 judged_on="factorial")


CLAIMS = {c.id: c for c in (_c1(), _c2(), _c3(), _c4(), _c5(), _c6(), _c7())}


def get_claim(claim_id: str) -> Claim:
    try:
        return CLAIMS[claim_id]
    except KeyError:
        raise KeyError(f"Unknown claim {claim_id!r}. Available: {', '.join(CLAIMS)}") from None


def _decide(direction: str, lo: float, hi: float, p: float) -> str:
    if direction == "floor":
        return "supported" if hi < FLOOR else "refuted" if lo > FLOOR else "inconclusive"
    if p >= ALPHA or lo <= 0 <= hi:
        return "inconclusive"
    claimed_up = direction == "positive"
    return "supported" if (lo > 0) == claimed_up else "refuted"


@dataclass(frozen=True)
class _Judged:
    comp: Comparison
    strata: list
    est: stats.Estimate | None
    decision: str = ""
    p_holm: float | None = None
    reason: str = ""


def _untestable(comp: Comparison, track: str, scorer: str, strata: list) -> str:
    """Why the data cannot decide this comparison ('' when it can)."""
    fixed = [FIXED_BY_SCORER[(track, scorer, b)] for b in comp.benchmarks if (track, scorer, b) in FIXED_BY_SCORER]
    if fixed:
        return f"not testable: {fixed[0]}"
    if comp.b == ZERO:
        return ""  # a proportion: the exact interval needs no variance
    d = np.concatenate([(p.a - p.b).ravel() for p in strata])
    return f"not testable: every paired difference is {d[0]:+g} (zero variance)" if np.all(d == d[0]) else ""


def _floor(strata: list, m_part: int) -> tuple[stats.Estimate, str]:
    """Exact Clopper–Pearson bounds of pass@1 (all runs pooled) and the floor decision."""
    (p,) = strata
    k, n = int(round(p.a.sum())), p.a.size
    lo, hi = stats.proportion_ci(k, n, ALPHA)
    lo_family = stats.proportion_ci(k, n, ALPHA / max(m_part, 1))[0]
    decision = "supported" if hi < FLOOR else "refuted" if lo_family > FLOOR else "inconclusive"
    stratum = stats.Stratum(p.n_paired, 1.0, k / n, float("nan"), 1.0, p.benchmark, p.n_a, p.n_b)
    est = stats.Estimate(n=p.n_paired, n_seeds=len(p.seeds), effect=k / n, ci_low=lo, ci_high=hi,
                         p_value=float("nan"), sd_diff=float("nan"), mde=float("nan"), resamples=0,
                         alpha=ALPHA, strata=(stratum,))
    return est, decision


def _power(part: Part, est: stats.Estimate, m: int) -> dict:
    """Items (and seeds) for 80 % power at alpha / m: the paper's effect if it gives one, else the observed."""
    target = part.claimed_pp / 100 if part.claimed_pp is not None else est.effect
    if target == 0 or not np.isfinite(est.se):
        return {}
    goal = (abs(target) / stats.z_sum(ALPHA, POWER, m)) ** 2          # the variance that gives the power
    seed_var = (est.seed_sd or 0.0) ** 2
    item_var = est.se ** 2 - seed_var / est.n_seeds
    out = dict(power_target_pp=100 * target, power_target="claimed" if part.claimed_pp is not None else "observed")
    if est.seed_sd is not None:
        out["seeds_needed"] = max(stats.MIN_SEEDS_FOR_SPREAD, int(np.ceil(seed_var / goal - 1e-9)) + 1)
    if seed_var / est.n_seeds < goal:
        out["items_needed"] = max(1, int(np.ceil(est.n * item_var / (goal - seed_var / est.n_seeds) - 1e-9)))
    return out


def _binding(direction: str, verdict: str, judged: list[_Judged]) -> _Judged:
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


def _fmt_effect(direction: str, effect: float) -> str:
    return f"{100 * effect:.1f} %" if direction == "floor" else f"{100 * effect:+.1f} pp"


def _strata_dicts(est: stats.Estimate) -> tuple[dict, ...]:
    return tuple({"name": s.name, "n_a": s.n_a, "n_b": s.n_b, "n_paired": s.n_paired, "weight": s.weight,
                  "effect_pp": 100 * s.effect, "var_share": s.var_share} for s in est.strata)


def evaluate(claim: Claim, evidence: Evidence, scorer: str, *, resamples: int, seed: int) -> list[Verdict]:
    """A verdict for every part of the claim under one evidence track and scorer.

    Holm's family is every testable, non-floor comparison of the claim's parts of the same
    `Part.family` (a part of several comparisons adds all of them).
    """
    if claim.judged_on == "factorial":
        from loraplace.judging import factorial
        return factorial.evaluate(claim, evidence, scorer, resamples=resamples, seed=seed)
    if claim.judged_on != "evidence":
        raise ValueError(f"{claim.id} is judged on the {claim.judged_on}: loraplace.judging.efficiency.verdict(part)")
    rows: list[tuple[Part, str, list[_Judged] | str]] = []
    for part in claim.parts:
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
                judged.append(_Judged(comp, strata, est, "untestable" if reason else "", reason=reason))
            rows.append((part, model, judged))
        except NoData as exc:  # only missing data is "unavailable"; any other error fails the test
            rows.append((part, evidence.models.get(part.topology, "-") if part.mixer is None else "-",
                         str(exc).split(". Available")[0]))
    p_holm, family_size = {}, {}
    for family in FAMILIES:
        tested = [j for part, _, js in rows if part.family == family and not isinstance(js, str)
                  for j in js if j.est is not None]
        p_holm.update(zip(map(id, tested), stats.holm([j.est.p_value for j in tested])) if tested else ())
        family_size[family] = len(tested)
    out = []
    for part, model, judged in rows:
        m = family_size[part.family]
        common = dict(claim_id=claim.id, claim_title=claim.title, sentence=claim.sentence, part_id=part.id,
                      part=part.label, topology=part.topology, model=model, evidence=evidence.track,
                      scorer=scorer, direction=part.direction, family_size=m,
                      mixer=evidence.cells.get(model, {}).get("mixer", part.mixer or ""), family=part.family)
        if isinstance(judged, str):
            comp = part.comparisons[0]
            out.append(Verdict(**common, comparison=comp.label(), benchmark="+".join(comp.benchmarks),
                               domain=comp.domain, verdict="unavailable", note=f"no data: {judged}"))
            continue
        m_part = sum(1 for j in judged if not j.reason)
        done = []
        for j in judged:
            if j.reason:
                done.append(j)
            elif part.direction == "floor":
                est, decision = _floor(j.strata, m_part)
                done.append(_Judged(j.comp, j.strata, est, decision))
            else:
                ph = float(p_holm[id(j)])
                done.append(_Judged(j.comp, j.strata, j.est, _decide(part.direction, j.est.ci_low, j.est.ci_high, ph), ph))
        decisions = [j.decision for j in done]
        verdict = ("refuted" if "refuted" in decisions else "untestable" if "untestable" in decisions else
                   "supported" if all(d == "supported" for d in decisions) else "inconclusive")
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
            out.append(Verdict(**common, **label, verdict=verdict, n_seeds=len(seeds), seeds=seeds,
                               note="; ".join(x for x in (b.reason, parts_note) if x)))
            continue
        est, floor = b.est, part.direction == "floor"
        out.append(Verdict(
            **common, **label, verdict=verdict, n=est.n, n_seeds=est.n_seeds, seeds=seeds,
            effect_pp=100 * est.effect, ci_low_pp=100 * est.ci_low, ci_high_pp=100 * est.ci_high,
            p_value=None if floor else est.p_value, p_holm=b.p_holm,
            mde_pp=None if floor else 100 * stats.z_sum(ALPHA, POWER, m) * est.se, note=parts_note,
            n_a=est.n_a, n_b=est.n_b, seed_sd_pp=None if est.seed_sd is None else 100 * est.seed_sd,
            strata=_strata_dicts(est), interval="exact Clopper–Pearson" if floor else "bootstrap percentile",
            **(_power(part, est, m) if verdict == "inconclusive" and not floor else {})))
    return out
