"""The paper track's facts of a run, as it ran: what each adapter's train_info.json records
(optimizer used, precision, steps, trainer), gathered per model for the report's provenance --
not the recipe's request (8-bit Adam and bf16 are asked for; a CPU run gets neither)."""
from __future__ import annotations

import json

from loraplace.evidence.records import sha256_text


def train_info(session, run) -> dict | None:
    """The run's adapter's train_info.json, or None for a base evaluation or an adapter not cached."""
    if run.is_base:
        return None
    spec = session.adapter_spec(run, sha256_text("\n\0".join(session.texts_of(run))))
    info = session.cache.path("paper-adapter", spec) / "train_info.json"
    return json.loads(info.read_text()) if info.is_file() else None


def ran(session) -> dict:
    """Per model: condition set, device, and the optimizers, precisions and trainers its runs used."""
    out = {}
    for topology, info in session.infos.items():
        done = [t for t in (train_info(session, r) for r in session.runs if r.topology == topology) if t]
        out[info.ref.key] = {
            "topology": topology, "model_class": info.model_class, "condition_set": info.condition_set,
            "device": session.device, "runs_trained": len(done),
            "optimizer": sorted({t.get("optimizer_used", "?") for t in done}),
            "precision": sorted({"bf16" if t.get("bf16") else "float32" for t in done}),
            "trainer": sorted({str(t.get("trainer", "?")) for t in done}),
            "requested": {"optimizer": session.p.optimizer, "bf16": session.p.bf16}}
    return out
