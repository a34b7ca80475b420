"""Is `recommend`'s answer on a tiny organism consistent with the tiny track's C1 and C4 verdicts?

    verdicts = claim_verdicts(cache, profile, "tiny_falcon_h1", "gsm8k_train")   # C1 / C4 parts
    checks = consistent(result, verdicts)                                          # [(rule, ok, why)]

The verdicts are the suite's own (`judging.evaluate.evaluate` on `claims.registry` C1 and C4)
over an Evidence made of the organism's cached tiny-track runs for that domain only (created by
`recommend`, never here: a missing run is `tracks.tiny.track.Missing`). The organism plays its
topology's part (the study's pair does so in a full session; Bamba and the Falcon-H1 × GDN cell
are put in their topology's place here). Holm runs over the parts this evidence holds, a smaller
family than a full session's: a verdict here is at most as strict as there.

Consistency rules (recommend and the claims use different families and levels, so only a
contradiction with confidence on either side counts):

* C1 supported (attention-only beats full on target)  ->  full is not recommended;
* C1 refuted (full beats attention-only)               ->  attention-only is not recommended;
* C1-budget supported                                  ->  no other budget-matched placement is;
* C4 supported (attention-only degrades least)         ->  attention-only is not excluded for forgetting;
* an inconclusive or unavailable part constrains nothing.
"""
from __future__ import annotations

from loraplace.claims.registry import get_claim
from loraplace.evidence.records import Evidence
from loraplace.judging.evaluate import evaluate
from loraplace.models.controls import CONTROL_ROLES
from loraplace.tracks.tiny import track as tiny
from loraplace.tracks.tiny.design import ROLE_OF

SCORER = "corrected"


def evidence_of(cache, p, organism: str, domain: str, conditions) -> Evidence:
    """The organism's cached base and runs of `domain` (every seed of `p`) as one tiny Evidence."""
    base = tiny.ensure_base(cache, p, organism, allow_create=False)
    records = list(base.records)
    for cond in conditions:
        for seed in p.seeds:
            recs, _ = tiny.ensure_run(cache, p, base, cond, domain, seed, allow_create=False)
            records += recs
    roles = {role: cond for cond, role in ROLE_OF.items()} | dict(CONTROL_ROLES)
    key = base.spec.key
    return Evidence("tiny", records, models={base.topology: key}, roles={key: roles},
                    cells={key: {"topology": base.topology, "mixer": base.spec.mixer}},
                    condition_sets={key: "harmonized"})


def claim_verdicts(cache, p, organism: str, domain: str, conditions, *, resamples: int = 2000,
                   seed: int = 3407) -> list:
    """C1's and C4's verdicts on this organism and domain (the parts with evidence here)."""
    ev = evidence_of(cache, p, organism, domain, conditions)
    topology = next(iter(ev.models))
    out = []
    for cid in ("C1", "C4"):
        out += [v for v in evaluate(get_claim(cid), ev, SCORER, resamples=resamples, seed=seed)
                if v.topology == topology and v.domain == domain and v.verdict != "unavailable"]
    return out


def consistent(result: dict, verdicts) -> list[tuple[str, bool, str]]:
    """[(rule, holds, why)] of the module's rules on `recommend`'s result."""
    answer = result["answer"]
    chosen = [answer["winner"]] if answer["outcome"] == "winner" else []
    status = {r["candidate"]: r["status"] for r in result["table"]}
    out = []
    for v in verdicts:
        kind = v.part_id.split("-")[-1]
        said = f"{v.part_id} {v.verdict} ({v.effect_pp:+.1f} pp [{v.ci_low_pp:+.1f}, {v.ci_high_pp:+.1f}])" \
            if v.effect_pp is not None else f"{v.part_id} {v.verdict}"
        if v.verdict not in ("supported", "refuted"):
            out.append((said, True, "constrains nothing"))
        elif v.claim_id == "C1" and kind == "budget":
            bad = [c for c in chosen if c.startswith("budget_") and c != "budget_attention_only"]
            out.append((said, v.verdict != "supported" or not bad, f"recommended: {chosen or 'no single winner'}"))
        elif v.claim_id == "C1" and kind != "random":
            loser = "full" if v.verdict == "supported" else "attention_only"
            out.append((said, loser not in chosen, f"recommended: {chosen or 'no single winner'}"))
        elif v.claim_id == "C4" and v.verdict == "supported":
            out.append((said, status.get("attention_only") != "forgets",
                        f"attention_only's status: {status.get('attention_only')}"))
        else:
            out.append((said, True, "constrains nothing here"))
    return out
