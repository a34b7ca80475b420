"""The report's provenance as facts in tables, not dicts: one row per model a track ran (identity,
class, topology, condition set, and for the paper track the precision, optimizer and device its
runs actually used, from each adapter's train_info.json), and every other source fact as a
`key.sub: value` line."""
from __future__ import annotations

from typing import Any

MODEL_KEYS = ("models", "ran", "organisms")  # shown in the models table, not as lines
DASH = "—"


def _join(values) -> str:
    return ", ".join(str(v) for v in values) if values else DASH


def model_rows(sources: Any) -> list[dict]:
    """One row per (track, model) from the tracks' evidence sources."""
    rows = []
    for track, src in sorted((sources or {}).items()) if isinstance(sources, dict) else ():
        if not isinstance(src, dict):
            continue
        ran = src.get("ran") or {}
        for key, m in (src.get("models") or {}).items():
            if not isinstance(m, dict):
                continue
            r = ran.get(key) or {}
            identity = m.get("commit") or m.get("fingerprint") or DASH
            rows.append({"track": track, "model": key, "source": m.get("source") or DASH,
                         "model_class": m.get("model_class") or DASH, "topology": r.get("topology") or DASH,
                         "condition_set": m.get("condition_set") or DASH, "identity": str(identity)[:16],
                         "precision": _join(r.get("precision")), "optimizer": _join(r.get("optimizer")),
                         "device": r.get("device") or src.get("device") or DASH,
                         "runs": r.get("runs_trained", DASH),
                         "requested": (f"{r['requested'].get('optimizer')}, bf16={r['requested'].get('bf16')}"
                                       if isinstance(r.get("requested"), dict) else DASH)})
        for key, spec in (src.get("organisms") or {}).items():
            if isinstance(spec, dict):
                base = (src.get("bases") or {}).get(key) or {}
                rows.append({"track": track, "model": key, "source": "tiny organism (pretrained here)",
                             "model_class": spec.get("model_class") or DASH, "topology": spec.get("topology") or DASH,
                             "condition_set": "harmonized", "identity": str(base.get("sha256") or DASH)[:16],
                             "precision": "float32", "optimizer": "AdamW (fused; train/lora.py)", "device": "cpu",
                             "runs": DASH,
                             "requested": DASH})
    return rows


def _flat(prefix: str, value, out: list, depth: int) -> None:
    if isinstance(value, dict) and depth < 2:
        for k, v in sorted(value.items(), key=lambda kv: str(kv[0])):
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out, depth + 1)
    elif isinstance(value, (list, tuple)) and all(not isinstance(x, (dict, list)) for x in value):
        out.append((prefix, _join(value)))
    elif isinstance(value, (dict, list, tuple)):
        out.append((prefix, f"{len(value)} entries"))
    else:
        out.append((prefix, DASH if value is None or value == "" else str(value)))


def source_lines(sources: Any) -> list[tuple[str, list[tuple[str, str]]]]:
    """(track, [(key, value)]) per track: every source fact but the models', flattened."""
    if not isinstance(sources, dict):
        return []
    out = []
    for track, src in sorted(sources.items(), key=lambda kv: str(kv[0])):
        items: list = []
        if isinstance(src, dict):
            for k, v in sorted(src.items(), key=lambda kv: str(kv[0])):
                if k not in MODEL_KEYS and k != "bases":
                    _flat(str(k), v, items, 1)
        else:
            items.append(("", DASH if src is None else str(src)))
        out.append((str(track), items))
    return out
