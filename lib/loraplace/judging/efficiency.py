"""C5 — parameter efficiency, by exact arithmetic on the real-size architectures (no bootstrap).

"[attention-only outperforms full-model adaptation] with 5-10x fewer trainable parameters."
The ratio full ÷ attention-only of trainable LoRA parameters (r=16) is counted on Qwen3.5-0.8B
and Falcon-H1-0.5B built on the meta device from their configs, for the study's own condition
definitions and for harmonized ones (attention includes o_proj, lm_head never adapted). The
paper's "5-10x" is a rounded statement, so the ratio is compared after rounding to one decimal.
The counts are cached by config, code and transformers version (`models/accounting_cache.py`).

With `--evidence paper` and models of one's own, the same parts are judged on those models too
(`model`/`name`: a config path and the model's key; part ids `C5-seq-harmonized@<model>`): their own
ratio, under the condition set they run with; the study's set exists only for its two architectures.
"""
from __future__ import annotations

from loraplace.claims.registry import Part, get_claim
from loraplace.judging.verdict import Verdict
from loraplace.study import model_for_topology

RATIO_RANGE = (5.0, 10.0)
RANK = 16
C5 = get_claim("C5")  # in the registry, direction "range", one part per topology x condition set


def verdict(part: Part, *, cache=None, model: str | None = None, name: str | None = None) -> Verdict:
    """`cache`: a `train.cache.Cache` for the study models' counts (default: the default cache).
    `model`: another model's config path (counted directly, not cached), `name` its key."""
    from loraplace.models.accounting_cache import cached_parameter_ratio
    from loraplace.models.placement import STUDY_CONDITIONS, model_taxonomy, parameter_ratio

    condition_set = part.condition_set
    common = dict(claim_id=C5.id, claim_title=C5.title, sentence=C5.sentence,
                  part_id=part.id if model is None else f"{part.id}@{name or model}",
                  part=part.label if model is None else f"{part.label}, on {name or model}",
                  topology=part.topology, evidence="architecture", scorer=condition_set, benchmark="—", domain="—",
                  direction=f"{RATIO_RANGE[0]:g}–{RATIO_RANGE[1]:g}×")
    if model is None:
        model = name = model_for_topology(part.topology).key
        r = cached_parameter_ratio(model, condition_set, RANK, cache=cache)
    else:
        model_type = model_taxonomy(model).model_type
        if condition_set == "study" and model_type not in STUDY_CONDITIONS:
            return Verdict(**common, model=name or model, comparison="—", verdict="unavailable",
                           note=f"no data: the study ran no {model_type} model, so it has no study condition set "
                                f"for {name or model} (its harmonized part is judged)")
        r = parameter_ratio(model, condition_set, rank=RANK)
    name = name or model
    lo, hi = RATIO_RANGE
    shown = round(r["ratio"], 1)
    outcome = "supported" if lo <= shown <= hi else "refuted"
    note = (f"full ({r['full_condition']}) {r['full']:,} ÷ attention-only ({r['attention_condition']}) "
            f"{r['attention_only']:,} = {r['ratio']:.2f}× at r={RANK}; claimed {lo:g}–{hi:g}×")
    note = f"{name}: {note}"
    return Verdict(**common, model=name, comparison=f"{r['full_condition']} ÷ {r['attention_condition']}",
                   verdict=outcome, note=note)
