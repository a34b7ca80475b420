"""Assemble the report's data (the contract of `claims.json`) from verdicts and evidence."""
from __future__ import annotations

from collections import defaultdict

from loraplace.evidence.records import Evidence
from loraplace.evidence.registry import TRACKS, load_track
from loraplace.vocab import VERDICTS

TITLE = "loraplace — which claims of “Where Should LoRA Go?” hold"
_ORDER = {v: i for i, v in enumerate(VERDICTS)}


def accuracy_matrix(evidence: Evidence) -> list[dict]:
    """Mean score per model × scorer × domain × condition × benchmark (over items and seeds)."""
    sums: dict[tuple, list] = defaultdict(lambda: [0.0, 0])
    topology = {}
    for r in evidence.records:
        cell = sums[(r.model, r.scorer, r.domain, r.condition, r.benchmark)]
        cell[0] += r.score
        cell[1] += 1
        topology[r.model] = r.topology
    return [
        {"model": m, "topology": topology[m], "evidence": evidence.track, "scorer": s, "domain": d,
         "condition": c, "benchmark": b, "n": n, "accuracy": total / n}
        for (m, s, d, c, b), (total, n) in sorted(sums.items())
    ]


def humaneval_table(evidence: Evidence) -> list[dict]:
    """pass@1 and sandbox outcomes per model × condition × scorer of the HumanEval records."""
    cells: dict[tuple, list] = defaultdict(list)
    for r in evidence.records:
        if r.benchmark == "humaneval":
            cells[(r.model, r.condition, r.scorer)].append(r)
    rows = []
    for (model, condition, scorer), recs in sorted(cells.items()):
        statuses = defaultdict(int)
        for r in recs:
            statuses[r.extra.get("status", "not-executed")] += 1
        # executed without full isolation (--allow-unsandboxed): every such number is marked
        unsandboxed = sum(1 for r in recs if r.extra.get("isolation") not in (None, "full"))
        rows.append({"model": model, "condition": condition, "scorer": scorer, "evidence": evidence.track,
                     "n": len(recs), "pass_at_1": sum(r.score for r in recs) / len(recs), "by_status": dict(statuses),
                     "unsandboxed": unsandboxed})
    return rows


def components(model_keys: tuple[str, ...] = ("qwen3_5_0_8b_base", "falcon_h1_0_5b_base"), rank: int = 16,
               *, cache=None) -> list[dict]:
    """Per model: parameters per component type, and every condition's modules and trainable count
    (cached in `cache`, a `train.cache.Cache`, by config, code and transformers version)."""
    from loraplace.models.accounting_cache import cached_accounting

    return cached_accounting("components", {"models": list(model_keys), "rank": rank},
                             lambda: _components(model_keys, rank), cache=cache)


def _components(model_keys: tuple[str, ...], rank: int) -> list[dict]:
    return [component_row(key, rank) for key in model_keys]


def component_row(model: str, rank: int, name: str | None = None) -> dict:
    """One model's parameters per component type and every condition's modules and trainable count,
    under each condition set it has (the study's exists for the study's two architectures only)."""
    from loraplace.models.accounting import base_params
    from loraplace.models.placement import STUDY_CONDITIONS, build_conditions, model_taxonomy

    tx = model_taxonomy(model)
    total = base_params(tx)
    kinds = ("study", "harmonized") if tx.model_type in STUDY_CONDITIONS else ("harmonized",)
    conditions = [{"condition": n, "kind": kind, "role": c.role, "modules": len(c.modules),
                   "trainable": c.trainable, "share": c.trainable / total}
                  for kind in kinds for n, c in build_conditions(tx, kind, rank).items()]
    return {"model": name or model, "model_class": tx.model_class, "topology": tx.topology,
            "per_component": tx.param_counts(), "total_params": total, "rank": rank, "conditions": conditions}


def _cached_components(track_options: dict | None, selected) -> list[dict]:
    """The study's two models (cached), and with the paper track on models of one's own, those."""
    from loraplace.train.cache import Cache

    options = track_options or {}
    rows = components(cache=Cache(options.get("cache_dir")))
    if "paper" in selected and options.get("paper_models"):
        from loraplace.tracks.paper.models import HUB_IDS, config_path, resolve_models

        rows += [component_row(config_path(ref), 16, name=ref.key)
                 for t, ref in resolve_models(list(options["paper_models"])).items() if ref.source != HUB_IDS[t]]
    return rows


def _factorial(evidence: Evidence, verdicts: list[dict], provenance: dict) -> list[dict]:
    """The 2×2 section (cells and contrasts, `loraplace.judging.factorial.table`) per scorer judged on a
    track with all four cells, bootstrapped like the verdicts; with the runs each cell lacks."""
    from loraplace.judging import factorial
    scorers = sorted({v["scorer"] for v in verdicts if v["evidence"] == evidence.track})
    out = []
    for scorer in scorers:
        table = factorial.table(evidence, scorer, resamples=int(provenance.get("resamples") or 10_000),
                                seed=int(provenance.get("seed") if provenance.get("seed") is not None else 3407))
        if table is not None:
            table["coverage"] = factorial.coverage(evidence)
            out.append(table)
    return out


def _reproduction(loaded: dict, provenance: dict) -> dict | None:
    """The paper re-run paired with the released outputs (`report.reproduction`), when both were judged."""
    if "paper" not in loaded or "published" not in loaded:
        return None
    from loraplace.report.reproduction import reproduction

    seed = provenance.get("seed")
    return reproduction(loaded["paper"], loaded["published"], seed=3407 if seed is None else int(seed))


def build_report(verdicts: list[dict], *, provenance: dict, track_options: dict | None = None) -> dict:
    """The report dict: verdicts, accuracy matrices and provenance of every track judged.

    `track_options` are `load_track`'s keyword arguments (published_dir, profile, cache_dir).
    """
    tracks = sorted({v["evidence"] for v in verdicts} & set(TRACKS))
    accuracy, inputs, sources, humaneval, factorial_tables = [], [], {}, [], []
    loaded = {}
    warnings = list(provenance.get("warnings") or [])  # the run's own (e.g. kernel slow path)
    for track in tracks:
        evidence = load_track(track, **(track_options or {}))
        loaded[track] = evidence
        accuracy += accuracy_matrix(evidence)
        humaneval += humaneval_table(evidence)
        factorial_tables += _factorial(evidence, verdicts, provenance)
        inputs += [dict(i, evidence=track) for i in evidence.inputs]
        sources[track] = evidence.source
        warnings += evidence.warnings
    loose = sum(h["unsandboxed"] for h in humaneval)
    if loose:
        warnings.append(f"{loose} HumanEval results were executed without full sandbox isolation "
                        "(--allow-unsandboxed); their pass@1 cells are marked ⚠")
    unavailable = sorted({v["note"] for v in verdicts if v["verdict"] == "unavailable"})
    warnings += [f"not judged: {u}" for u in unavailable]
    repro = _reproduction(loaded, provenance)
    published = sources.get("published", {})
    verdicts = sorted(verdicts, key=lambda v: (v["claim_id"], v["part_id"], v["evidence"], v["scorer"]))
    return {
        "schema": 1,
        "title": TITLE,
        "generated_at": provenance.get("generated_at"),
        "verdicts": verdicts,
        "accuracy": accuracy,
        "components": (_cached_components(track_options, provenance.get("evidence") or tracks)
                       if any(v["claim_id"] == "C5" for v in verdicts) else None),
        "humaneval": humaneval or None,
        "factorial": factorial_tables or None,
        "provenance": dict(provenance, data_source=published.get("data_source"),
                           data_commit=published.get("data_commit"), sources=sources,
                           inputs=inputs, warnings=warnings, **({"reproduction": repro} if repro else {})),
    }
