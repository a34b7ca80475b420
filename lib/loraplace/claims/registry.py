"""The claim registry: what the paper claims, and how each claim is measured (data, not code).

Each claim quotes the paper and says how it is measured: which conditions (by role — the
study's condition names per model are in `loraplace.study`), after which fine-tuning domain,
on which benchmarks, and in which direction. A claim has parts (one per topology, domain, …);
every part gets a verdict per evidence track and scorer by the public rule in
`loraplace.judging.rule` (evaluated by `loraplace.judging.evaluate`). A claim's
parts come in up to three pre-registered families, each answering its own question, so adding
one never moves another's verdicts: ``study`` (the study's two models), ``factorial`` (the same
claim on the mixer × topology factorial's two added cells, `Part.mixer`; tiny track only) and
``controls`` (C1's parameter-budget controls, `loraplace.models.controls`; tiny track only).
"""
from __future__ import annotations

from dataclasses import dataclass

from loraplace.evidence.records import BASE, Evidence
from loraplace.judging.pairing import ZERO
from loraplace.study import DOMAINS, MIXER_NAMES, ROLES, TARGETS, off_target
from loraplace.vocab import MIXERS, TOPOLOGIES

DIRECTIONS = ("positive", "negative", "floor", "range")  # range: an exact count inside the claimed range (C5)
TOPOLOGY_SHORT = {"sequential": "seq", "parallel": "par"}
STUDY_MIXER = {"sequential": "gdn", "parallel": "mamba2"}  # the study's models: Qwen3.5, Falcon-H1
CROSS_MIXER = {"sequential": "mamba2", "parallel": "gdn"}  # the factorial's added cells
FAMILIES = ("study", "factorial", "controls")
# Pre-registered: the scorer whose verdict answers a claim part (the others are sensitivity
# analyses, never a second chance; `loraplace.judging.rule`). "corrected" scores whether the
# model's answer is right (`loraplace.scoring`); "as-published" reproduces the study's own scoring.
PRIMARY_SCORER = "corrected"
# C7's factorial (estimated by `loraplace.judging.factorial`): each outcome -> (role compared with the base model, ((domain, benchmarks), ...))
OUTCOMES = {
    "gsm8k": ("recurrent", (("gsm8k_train", ("gsm8k",)),)),
    "offtarget": ("full", tuple((d, off_target(d)) for d in DOMAINS)),
}
OUTCOME_LABELS = {"gsm8k": "recurrent-only − base on gsm8k after gsm8k_train",
                  "offtarget": "full − base off-target, over the three domains"}


@dataclass(frozen=True)
class Comparison:
    a: str  # a role ("attention", "recurrent", "full", …) or "base"
    b: str  # a role, "base", or "zero"
    domain: str
    benchmarks: tuple[str, ...]

    def label(self, evidence: Evidence | None = None, model: str | None = None) -> str:
        def name(r: str) -> str:
            return evidence.condition_label(model, r) if evidence and r not in (BASE, ZERO) else r

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
    condition_set: str | None = None  # C5: the condition definitions counted ("study" | "harmonized")
    mixer: str | None = None  # None: the track's model of `topology`; else the factorial cell topology × mixer
    family: str = "study"  # Holm family (FAMILIES)
    outcome: str | None = None  # C7: the factorial outcome (loraplace.judging.factorial.OUTCOMES) a contrast is of
    primary_scorer: str = PRIMARY_SCORER  # the scorer whose verdict answers this part (pre-registered)

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
                  for t in TOPOLOGIES for cs in ("study", "harmonized"))
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
    report's 2×2 section, not judged. Estimation: `loraplace.judging.factorial`."""
    parts = tuple(Part(f"C7-{outcome}-{mixer}", "both",
                       f"{MIXER_NAMES[mixer]}: parallel − sequential, of {OUTCOME_LABELS[outcome]}", "positive",
                       tuple(Comparison(role, BASE, dom, benches) for dom, benches in spec),
                       mixer=mixer, family="factorial", outcome=outcome)
                  for outcome, (role, spec) in OUTCOMES.items() for mixer in MIXERS)
    return Claim("C7", "Topology, not the recurrent mixer, sets the adaptation response",
                 "hybrid topology fundamentally determines adaptation response", "abstract", parts,
                 judged_on="factorial")


CLAIMS = {c.id: c for c in (_c1(), _c2(), _c3(), _c4(), _c5(), _c6(), _c7())}


def get_claim(claim_id: str) -> Claim:
    try:
        return CLAIMS[claim_id]
    except KeyError:
        raise KeyError(f"Unknown claim {claim_id!r}. Available: {', '.join(CLAIMS)}") from None


def largest_family() -> tuple[int, str]:
    """(size, 'C1 controls'): the most comparisons one Holm family of the registry holds (on a
    track that has every run); `loraplace power` plans at that level by default."""
    sizes = [(sum(len(p.comparisons) for p in c.parts if p.family == fam and p.direction != "floor"), f"{c.id} {fam}")
             for c in CLAIMS.values() if c.judged_on != "architecture" for fam in FAMILIES]
    return max(sizes, key=lambda x: x[0])
