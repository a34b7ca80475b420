"""The mixer × topology 2×2 (claim C7): cell effects, contrasts between cells, and C7's verdicts.

Four organisms (`loraplace.models.organisms.factorial`) cross topology (sequential, parallel)
with recurrent mixer (Gated DeltaNet, Mamba-2) at matched size, tokenizer, data and recipe. An
*outcome* is one claim comparison measured in every cell: C7's are

* ``gsm8k``      recurrent-only − base on GSM8K after GSM8K training (C2's comparison), and
* ``offtarget``  full − base on the off-target benchmarks after each domain (C3's comparisons),
                 its (domain, benchmark) strata weighted equally.

A *contrast* is a weighted sum of cell effects: the topology contrast within a mixer
(parallel − sequential), the mixer contrast within a topology (Gated DeltaNet − Mamba-2) and
the interaction (the topology contrast under Gated DeltaNet minus that under Mamba-2). Every
cell is evaluated on the same held-out questions, so a contrast is estimated per question:
d(q) = Σ_cell w · (a − b)(q) on the questions every cell answered, seeds crossed with
questions as everywhere (`stats.stratified_bootstrap`; row s of the matrix combines each cell's
run with seed s -- runs that saw the same fine-tuning data in the same order, so the cells are
blocked by seed; rows are resampled whole, and the between-seed spread is the contrast's own,
which is why a contrast whose cells move together across seeds, such as the interaction, can
have a narrower interval than its parts).
One fresh generator seeded with the suite's seed per contrast, as for every comparison.

C7's parts are topology contrasts (`loraplace.claims.registry` says which; the rule is `loraplace.judging.rule`); the mixer contrasts and
the interaction are estimated for the report's 2×2 section, not judged.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from loraplace.claims.registry import OUTCOME_LABELS, OUTCOMES
from loraplace.evidence.records import BASE, Evidence, NoData
from loraplace.judging import stats
from loraplace.judging.pairing import pair
from loraplace.judging.rule import ALPHA, POWER, decide, strata_dicts
from loraplace.judging.verdict import Verdict
from loraplace.study import MIXER_NAMES
from loraplace.vocab import MIXERS, TOPOLOGIES


@dataclass(frozen=True)
class Contrast:
    name: str  # e.g. "topology | gdn"
    label: str
    weights: tuple[tuple[str, str, float], ...]  # (topology, mixer, weight)


def topology_contrast(mixer: str) -> Contrast:
    """[parallel − sequential] within one mixer (what C7 judges)."""
    return Contrast(f"topology | {mixer}", f"parallel − sequential, {MIXER_NAMES[mixer]}",
                    (("parallel", mixer, 1.0), ("sequential", mixer, -1.0)))


def _mixer(topology: str) -> Contrast:
    return Contrast(f"mixer | {topology}", f"Gated DeltaNet − Mamba-2, {topology}",
                    ((topology, "gdn", 1.0), (topology, "mamba2", -1.0)))


INTERACTION = Contrast("interaction", "topology contrast under Gated DeltaNet − under Mamba-2",
                       (("parallel", "gdn", 1.0), ("sequential", "gdn", -1.0),
                        ("parallel", "mamba2", -1.0), ("sequential", "mamba2", 1.0)))
CONTRASTS = (*(topology_contrast(m) for m in MIXERS), *(_mixer(t) for t in TOPOLOGIES), INTERACTION)


def _cell_strata(evidence: Evidence, scorer: str, topology: str, mixer: str, outcome: str) -> list:
    role, parts = OUTCOMES[outcome]
    model = evidence.model(topology, mixer)
    condition = evidence.condition(model, role)
    return [pair(evidence, model, scorer, condition, BASE, domain, bench)
            for domain, benches in parts for bench in benches]


def _stratum_names(outcome: str) -> list[str]:
    parts = OUTCOMES[outcome][1]
    return [b if len(parts) == 1 else f"{b} after {d}" for d, benches in parts for b in benches]


def contrast_strata(evidence: Evidence, scorer: str, contrast: Contrast, outcome: str):
    """[(d, zeros)] per (domain, benchmark) stratum -- d the (seeds × questions) matrix of the
    contrast on the questions every cell answered -- and the strata's names and question counts."""
    cells = [(_cell_strata(evidence, scorer, t, m, outcome), w) for t, m, w in contrast.weights]
    seeds = {tuple(p.seeds) for strata, _ in cells for p in strata}
    if len(seeds) != 1:
        raise ValueError(f"{contrast.name} on {outcome}: the cells have different training seeds {sorted(seeds)}; "
                         "a contrast crosses the same seeds with the same questions")
    out, counts = [], []
    for k in range(len(cells[0][0])):
        shared = set.intersection(*(set(strata[k].item_keys) for strata, _ in cells))
        if not shared:
            raise ValueError(f"{contrast.name} on {outcome}: the cells share no {cells[0][0][k].benchmark} question")
        order = [q for q in cells[0][0][k].item_keys if q in shared]
        d = np.zeros((len(next(iter(seeds))), len(order)))
        for strata, w in cells:
            p = strata[k]
            col = {q: i for i, q in enumerate(p.item_keys)}
            idx = [col[q] for q in order]
            d += w * (p.a[:, idx] - p.b[:, idx])
        out.append((d, np.zeros(len(order))))
        counts.append(tuple(len(strata[k].item_keys) for strata, _ in cells))  # n per cell
    return out, _stratum_names(outcome), counts, next(iter(seeds))


def zero_variance(strata) -> bool:
    """Every per-question contrast is 0: the data cannot say which way (a constant non-zero
    contrast decides, p = 0, and stays in Holm's family)."""
    return not any(np.any(d) for d, _ in strata)


def estimate_contrast(evidence: Evidence, scorer: str, contrast: Contrast, outcome: str, *, resamples: int,
                      seed: int, alpha: float = 0.05) -> tuple[stats.Estimate | None, tuple[int, ...]]:
    """(estimate, seeds) of a contrast; estimate None when every per-question contrast is 0."""
    strata, names, counts, seeds = contrast_strata(evidence, scorer, contrast, outcome)
    if zero_variance(strata):
        return None, tuple(seeds)
    est = stats.stratified_bootstrap(strata, resamples=resamples, rng=np.random.default_rng(seed), alpha=alpha)
    # n_a = n_b = the most questions any cell answered: a question some cell lacks shows as dropped
    named = tuple(replace(st, name=nm, n_a=max(c), n_b=max(c)) for st, nm, c in zip(est.strata, names, counts))
    return replace(est, strata=named), tuple(seeds)


def estimate_cell(evidence: Evidence, scorer: str, topology: str, mixer: str, outcome: str, *, resamples: int,
                  seed: int, alpha: float = 0.05) -> stats.Estimate:
    return estimate_contrast(evidence, scorer, Contrast("cell", "", ((topology, mixer, 1.0),)), outcome,
                             resamples=resamples, seed=seed, alpha=alpha)[0]


def _row(est: stats.Estimate | None, reason: str = "") -> dict:
    if est is None:
        reason = reason or "not testable: every per-question difference is 0 (zero variance)"
        return {"effect_pp": None, "ci_low_pp": None, "ci_high_pp": None, "p_value": None, "n": 0, "note": reason}
    return {"effect_pp": 100 * est.effect, "ci_low_pp": 100 * est.ci_low, "ci_high_pp": 100 * est.ci_high,
            "p_value": est.p_value, "n": est.n, "n_seeds": est.n_seeds, "note": ""}


def _safe(fn):
    try:
        return _row(fn())
    except NoData as exc:  # only missing data; any other error is a bug and propagates
        return _row(None, f"no data: {exc.what}")


def table(evidence: Evidence, scorer: str, *, resamples: int, seed: int) -> dict | None:
    """The report's 2×2 section for one track and scorer: per outcome, the four cells' effects
    and every contrast (effect, 95 % CI, p, n); None unless the track has all four cells."""
    have = {(c["topology"], c["mixer"]) for c in evidence.cells.values()}
    if not {(t, m) for t in TOPOLOGIES for m in MIXERS} <= have:
        return None
    out = {"evidence": evidence.track, "scorer": scorer, "outcomes": []}
    for outcome in OUTCOMES:
        cells = [{"topology": t, "mixer": m, "mixer_name": MIXER_NAMES[m], "model": evidence.model(t, m),
                  **_safe(lambda t=t, m=m: estimate_cell(evidence, scorer, t, m, outcome, resamples=resamples,
                                                          seed=seed))}
                 for t in TOPOLOGIES for m in MIXERS]
        contrasts = [{"name": c.name, "label": c.label,
                      **_safe(lambda c=c: estimate_contrast(evidence, scorer, c, outcome, resamples=resamples,
                                                            seed=seed)[0])}
                     for c in CONTRASTS]
        out["outcomes"].append({"outcome": outcome, "label": OUTCOME_LABELS[outcome], "cells": cells,
                                "contrasts": contrasts})
    return out


def evaluate(claim, evidence: Evidence, scorer: str, *, resamples: int, seed: int) -> list:
    """Verdicts of C7's parts (each a topology contrast within one mixer, on one outcome); Holm
    over the claim's testable parts; the public verdict rule (`loraplace.judging.rule.decide`)."""

    rows = []
    for part in claim.parts:
        contrast, outcome = topology_contrast(part.mixer), part.outcome
        try:
            est, seeds = estimate_contrast(evidence, scorer, contrast, outcome, resamples=resamples, seed=seed)
            rows.append((part, est, seeds, "" if est is not None else
                         "not testable: every per-question contrast is 0 (zero variance)"))
        except NoData as exc:
            rows.append((part, None, (), f"no data: {exc.what}"))
    tested = [r for r in rows if r[1] is not None]
    holm = dict(zip((r[0].id for r in tested), stats.holm([r[1].p_value for r in tested]))) if tested else {}
    m = len(tested)
    out = []
    for part, est, seeds, reason in rows:
        models = "+".join(evidence.model(t, part.mixer) for t in TOPOLOGIES) if seeds else "-"
        common = dict(claim_id=claim.id, claim_title=claim.title, sentence=claim.sentence, part_id=part.id,
                      part=part.label, topology=part.topology, model=models, evidence=evidence.track, scorer=scorer,
                      comparison=f"{contrast_label(part)}", benchmark="+".join(_benchmarks(part.outcome)),
                      domain="+".join(d for d, _ in OUTCOMES[part.outcome][1]), direction=part.direction,
                      family_size=m, mixer=part.mixer, family=part.family, primary=scorer == part.primary_scorer)
        if est is None:
            out.append(Verdict(**common, verdict="untestable" if seeds else "unavailable", note=reason,
                               n_seeds=len(seeds), seeds=seeds))
            continue
        p_holm = float(holm[part.id])
        out.append(Verdict(
            **common, verdict=decide(part.direction, est.ci_low, est.ci_high, p_holm), n=est.n,
            n_seeds=est.n_seeds, seeds=seeds, effect_pp=100 * est.effect, ci_low_pp=100 * est.ci_low,
            ci_high_pp=100 * est.ci_high, p_value=est.p_value, p_holm=p_holm,
            mde_pp=100 * stats.estimate_mde(est, ALPHA, POWER, m), n_a=est.n_a, n_b=est.n_b,
            note=cell_counts(evidence, scorer, part),
            seed_sd_pp=None if est.seed_sd is None else 100 * est.seed_sd, strata=strata_dicts(est),
            interval=f"items normal + seeds t({est.n_seeds - 1})" if est.item_var is not None
            else "bootstrap percentile"))
    return out


def cell_counts(evidence: Evidence, scorer: str, part) -> str:
    """'n per cell: parallel × Gated DeltaNet gsm8k 60, …': the questions each cell answered."""
    contrast = topology_contrast(part.mixer)
    _, names, counts, _ = contrast_strata(evidence, scorer, contrast, part.outcome)
    cells = [f"{t} × {MIXER_NAMES[m]}" for t, m, _ in contrast.weights]
    return "n per cell: " + "; ".join(f"{cell} " + ", ".join(f"{nm} {c[i]}" for nm, c in zip(names, counts))
                                      for i, cell in enumerate(cells))


def contrast_label(part) -> str:
    return f"[parallel − sequential] × {MIXER_NAMES[part.mixer]} of {OUTCOME_LABELS[part.outcome]}"


def _benchmarks(outcome: str) -> list[str]:
    return list(dict.fromkeys(b for _, benches in OUTCOMES[outcome][1] for b in benches))


def coverage(evidence: Evidence) -> list[dict]:
    """Per factorial cell: its model and the (condition, domain) runs it has, so the report can
    say which claims each cell can answer (the added cells run only what C2, C3 and C7 need)."""
    runs: dict[str, set] = {}
    for model, _, condition, domain, _ in evidence.keys():
        if condition != BASE:
            runs.setdefault(model, set()).add((condition, domain))
    return [{"model": key, "topology": cell["topology"], "mixer": cell["mixer"],
             "cell": f"{cell['topology']} × {MIXER_NAMES.get(cell['mixer'], cell['mixer'])}",
             "runs": sorted(f"{c} after {d}" for c, d in runs.get(key, ())), "n_runs": len(runs.get(key, ()))}
            for key, cell in sorted(evidence.cells.items(), key=lambda kv: (
                TOPOLOGIES.index(kv[1]["topology"]), MIXERS.index(kv[1]["mixer"])))]
