"""The claim registry and the verdict rule.

Each claim quotes the paper and says how it is measured: which conditions (by role — the
study's condition names per model are in `loraplace.study`), after which fine-tuning domain,
on which benchmarks, and in which direction. A claim has parts (one per topology, domain, …);
every part gets a verdict per evidence track and scorer:

* ``supported``   the 95 % CI excludes 0 in the claimed direction and Holm-adjusted p < 0.05
* ``refuted``     the CI excludes 0 the other way and Holm-adjusted p < 0.05
* ``inconclusive`` otherwise — always reported with n, effect, CI, Holm p and the MDE.

Holm's family is every comparison of the claim under one evidence track and scorer. A part
made of several comparisons ("attention-only degrades *least*": better than each other
condition) is an intersection–union test: supported iff every comparison is, refuted iff any
one is refuted; the comparison shown (effect, CI, p) is the one that decides. "Floor" parts
(pass@1 at the floor) are supported iff the CI's upper end stays below FLOOR, refuted iff its
lower end is above FLOOR.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loraplace import stats
from loraplace.compare import ZERO, estimate, pair
from loraplace.evidence.records import BASE, Evidence
from loraplace.study import DOMAINS, ROLES, TARGETS, off_target

ALPHA = 0.05
FLOOR = 0.05  # "floor": pass@1 below 5 %
DIRECTIONS = ("positive", "negative", "floor")
VERDICTS = ("supported", "refuted", "inconclusive", "unavailable")
TOPOLOGY_SHORT = {"sequential": "seq", "parallel": "par"}


@dataclass(frozen=True)
class Comparison:
    a: str  # a role ("attention", "recurrent", "full", …) or "base"
    b: str  # a role, "base", or "zero"
    domain: str
    benchmarks: tuple[str, ...]

    def label(self, evidence: Evidence | None = None, model: str | None = None) -> str:
        name = (lambda r: evidence.condition(model, r) if evidence and r not in (BASE, ZERO) else r)
        what = f"{name(self.a)} − {name(self.b)}" if self.b != ZERO else f"pass@1 of {name(self.a)}"
        return f"{what} on {'+'.join(self.benchmarks)} after {self.domain}"


@dataclass(frozen=True)
class Part:
    id: str
    topology: str
    label: str
    direction: str
    comparisons: tuple[Comparison, ...]


@dataclass(frozen=True)
class Claim:
    id: str
    title: str
    sentence: str  # the paper's words
    source: str
    parts: tuple[Part, ...]

    def part(self, part_id: str) -> Part:
        for p in self.parts:
            if p.id == part_id:
                return p
        raise KeyError(f"Unknown part {part_id!r} of {self.id}. Available: {', '.join(p.id for p in self.parts)}")


def _parts(claim_id: str, specs) -> tuple[Part, ...]:
    return tuple(Part(f"{claim_id}-{TOPOLOGY_SHORT[t]}{('-' + s) if s else ''}", t, label, d, tuple(c))
                 for t, s, label, d, c in specs)


def _c1() -> Claim:
    specs = [(t, dom.split("_")[0], f"{t}: attention-only − full on target after {dom}", "positive",
              [Comparison("attention", "full", dom, TARGETS[dom])])
             for t in ("sequential", "parallel") for dom in DOMAINS]
    return Claim("C1", "Attention-only beats full adaptation on target",
                 "the attention pathway -- despite being the minority component -- consistently outperforms "
                 "full-model adaptation with 5-10x fewer trainable parameters", "abstract", _parts("C1", specs))


def _c2() -> Claim:
    specs = [(t, "", f"{t}: recurrent-only − base on gsm8k after gsm8k_train", d,
              [Comparison("recurrent", BASE, "gsm8k_train", ("gsm8k",))])
             for t, d in (("sequential", "negative"), ("parallel", "positive"))]
    return Claim("C2", "Recurrent adaptation: destructive in sequential, constructive in parallel",
                 "adapting the recurrent backbone is destructive in sequential hybrids (-14.8 pp on GSM8K) "
                 "but constructive in parallel ones (+8.6 pp)", "abstract", _parts("C2", specs))


def _c3() -> Claim:
    specs = [(t, dom.split("_")[0], f"{t}: full − base off-target after {dom}", d,
              [Comparison("full", BASE, dom, off_target(dom))])
             for t, d in (("sequential", "negative"), ("parallel", "positive")) for dom in DOMAINS]
    return Claim("C3", "Off-target transfer: positive in parallel, forgetting in sequential",
                 "parallel hybrids exhibit positive cross-task transfer while sequential hybrids suffer "
                 "catastrophic forgetting", "abstract", _parts("C3", specs))


def _c4() -> Claim:
    others = [r for r in ROLES if r != "attention"]
    specs = [(t, dom.split("_")[0], f"{t}: attention-only degrades least off-target after {dom}", "positive",
              [Comparison("attention", other, dom, off_target(dom)) for other in others])
             for t in ("sequential", "parallel") for dom in DOMAINS]
    return Claim("C4", "Attention-only has the smallest off-target degradation",
                 "Attention-only shows comparatively smaller off-target degradation in several settings "
                 "(Qwen: smallest off-target degradation across domains; Falcon: near-zero off-target change)",
                 "README, key finding 4", _parts("C4", specs))


def _c6() -> Claim:
    specs = [(t, "", f"{t}: HumanEval pass@1 at the floor in every condition after codealpaca", "floor",
              [Comparison(role, ZERO, "codealpaca", ("humaneval",)) for role in ROLES])
             for t in ("sequential", "parallel")]
    return Claim("C6", "HumanEval floor: 0/164 in every condition",
                 "All released CodeAlpaca-trained conditions solved zero HumanEval examples on both models",
                 "README, HumanEval floor effect", _parts("C6", specs))


CLAIMS = {c.id: c for c in (_c1(), _c2(), _c3(), _c4(), _c6())}


def get_claim(claim_id: str) -> Claim:
    try:
        return CLAIMS[claim_id]
    except KeyError:
        raise KeyError(f"Unknown claim {claim_id!r}. Available: {', '.join(CLAIMS)}") from None


@dataclass(frozen=True)
class Verdict:
    claim_id: str
    claim_title: str
    sentence: str
    part_id: str
    part: str
    topology: str
    model: str
    evidence: str
    scorer: str
    comparison: str
    benchmark: str
    domain: str
    direction: str
    verdict: str
    n: int = 0
    n_seeds: int = 0
    effect_pp: float | None = None
    ci_low_pp: float | None = None
    ci_high_pp: float | None = None
    p_value: float | None = None
    p_holm: float | None = None
    mde_pp: float | None = None
    note: str = ""

    @property
    def verdict_line(self) -> str:
        head = f"{self.part_id} [{self.evidence}/{self.scorer}] {self.verdict.upper()}"
        if self.verdict == "unavailable" or self.effect_pp is None:
            return f"{head}: {self.note}"
        return (f"{head}: {self.comparison} = {self.effect_pp:+.1f} pp [{self.ci_low_pp:+.1f}, {self.ci_high_pp:+.1f}] "
                f"(claimed {self.direction}), n={self.n}{f' over {self.n_seeds} seeds' if self.n_seeds > 1 else ''}, "
                f"Holm p={self.p_holm:.3g}, MDE {self.mde_pp:.1f} pp" + (f"; {self.note}" if self.note else ""))

    def to_dict(self) -> dict:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["verdict_line"] = self.verdict_line
        return out


def _decide(direction: str, lo: float, hi: float, p: float) -> str:
    if direction == "floor":
        return "supported" if hi < FLOOR else "refuted" if lo > FLOOR else "inconclusive"
    if p >= ALPHA or lo <= 0 <= hi:
        return "inconclusive"
    claimed_up = direction == "positive"
    return "supported" if (lo > 0) == claimed_up else "refuted"


def _binding(direction: str, results: list[tuple]) -> tuple:
    """The comparison that decides a part: a refuting one if any, else the weakest for the claim."""
    refuting = [r for r in results if r[2] == "refuted"]
    if refuting:
        return min(refuting, key=lambda r: r[3])
    if direction == "floor":
        return max(results, key=lambda r: r[1].ci_high)
    return max(results, key=lambda r: (r[2] != "supported", r[3]))


def evaluate(claim: Claim, evidence: Evidence, scorer: str, *, resamples: int, seed: int) -> list[Verdict]:
    """A verdict for every part of the claim under one evidence track and scorer.

    Holm's family is every comparison of the claim (a part of several comparisons adds all of them).
    """
    rows: list[tuple[Part, str, list | str]] = []
    for part in claim.parts:
        model = evidence.model(part.topology)
        try:
            results = []
            for comp in part.comparisons:
                strata = [pair(evidence, model, scorer, evidence.condition(model, comp.a),
                               evidence.condition(model, comp.b) if comp.b not in (BASE, ZERO) else comp.b,
                               comp.domain, bench) for bench in comp.benchmarks]
                results.append((comp, estimate(strata, resamples=resamples, seed=seed, alpha=ALPHA)))
            rows.append((part, model, results))
        except (KeyError, ValueError) as exc:
            rows.append((part, model, str(exc).strip('"').split(". Available")[0]))
    p_raw = [e.p_value for _, _, r in rows if not isinstance(r, str) for _, e in r]
    p_holm = iter(stats.holm(np.array(p_raw)) if p_raw else [])
    out = []
    for part, model, results in rows:
        common = dict(claim_id=claim.id, claim_title=claim.title, sentence=claim.sentence, part_id=part.id,
                      part=part.label, topology=part.topology, model=model, evidence=evidence.track,
                      scorer=scorer, direction=part.direction)
        if isinstance(results, str):
            comp = part.comparisons[0]
            out.append(Verdict(**common, comparison=comp.label(), benchmark="+".join(comp.benchmarks),
                               domain=comp.domain, verdict="unavailable", note=f"no data: {results}"))
            continue
        judged = []
        for comp, est in results:
            ph = float(next(p_holm))
            judged.append((comp, est, _decide(part.direction, est.ci_low, est.ci_high, ph), ph))
        decisions = [d for _, _, d, _ in judged]
        verdict = ("refuted" if "refuted" in decisions else
                   "supported" if all(d == "supported" for d in decisions) else "inconclusive")
        comp, est, _, ph = _binding(part.direction, judged)
        note = ""
        if len(judged) > 1:
            note = "all of: " + "; ".join(f"{c.label(evidence, model).split(' on ')[0]} {100 * e.effect:+.1f} pp ({d})"
                                         for c, e, d, _ in judged)
        out.append(Verdict(**common, comparison=comp.label(evidence, model), benchmark="+".join(comp.benchmarks),
                           domain=comp.domain, verdict=verdict, n=est.n, n_seeds=est.n_seeds,
                           effect_pp=100 * est.effect, ci_low_pp=100 * est.ci_low, ci_high_pp=100 * est.ci_high,
                           p_value=est.p_value, p_holm=ph, mde_pp=100 * est.mde, note=note))
    return out
