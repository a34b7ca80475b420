"""The report's answer, first: which claims hold, per evidence track, under the primary scorer.

`headline` gives one line per claim (C1–C7) per track, counting its parts' verdicts under each
part's pre-registered primary scorer (`loraplace.claims.registry.PRIMARY_SCORER`); the parts a
track cannot judge (no data) are one count per track, not a row each. `matrix` is the detail
below it: one row per claim part that some track can judge, one column per track × scorer,
the primary scorer's columns first and the others marked as sensitivity analyses.
"""
from __future__ import annotations

from typing import Any

from loraplace.claims.registry import PRIMARY_SCORER
from loraplace.vocab import DECIDED

DASH = "—"
MISSING = "unavailable"


def _primary(v: dict) -> bool:
    """A verdict under its part's primary scorer (older data without the flag: the registry's one)."""
    return bool(v.get("primary", v.get("scorer") == PRIMARY_SCORER))


def _key(v: dict, name: str) -> str:
    return v.get(name) or DASH


def _line(rows: list[dict]) -> dict:
    """Counts of one claim on one track: decided verdicts, untestable, magnitude excluded, cannot judge."""
    counts = {k: sum(1 for v in rows if v.get("verdict") == k) for k in (*DECIDED, "untestable", MISSING)}
    judged = len(rows) - counts[MISSING]
    parts = [f"{counts[k]} {k}" for k in (*DECIDED, "untestable") if counts[k]]
    excluded = sum(1 for v in rows if v.get("magnitude") == "excluded")
    if excluded:
        parts.append(f"claimed magnitude excluded in {excluded}")
    conditional = sum(1 for v in rows if v.get("about_these_runs"))
    if conditional:
        parts.append(f"{conditional} about these runs only (fewer than 3 seeds)")
    holds = "holds" if judged and counts["supported"] == judged else (
        "does not hold" if counts["refuted"] else "open" if judged else "cannot judge")
    return {"holds": holds, "judged": judged, "missing": counts[MISSING],
            "text": (", ".join(parts) if parts else "no part judged") + f" (of {judged} part{'s' * (judged != 1)})"}


def headline(verdicts: list[dict]) -> list[dict]:
    """One row per claim: its title and, per track, the primary scorer's line (see `_line`)."""
    primary = [v for v in verdicts if _primary(v)]
    tracks = list(dict.fromkeys(_key(v, "evidence") for v in primary))
    out = []
    for claim in dict.fromkeys(_key(v, "claim_id") for v in primary):
        mine = [v for v in primary if _key(v, "claim_id") == claim]
        cells = []
        for track in tracks:
            rows = [v for v in mine if _key(v, "evidence") == track]
            if rows:
                cells.append({"evidence": track, "scorer": _key(rows[0], "scorer"), **_line(rows)})
        out.append({"claim_id": claim, "title": mine[0].get("claim_title") or "", "tracks": cells})
    return out


def cannot_judge(verdicts: list[dict]) -> list[tuple[str, int]]:
    """Per track: how many claim parts it has no data for (under the primary scorer)."""
    out: dict[str, int] = {}
    for v in verdicts:
        if _primary(v) and v.get("verdict") == MISSING:
            out[_key(v, "evidence")] = out.get(_key(v, "evidence"), 0) + 1
    return sorted(out.items())


def _cell(v: dict | None, fmt_effect) -> dict | None:
    if v is None:
        return None
    return {"verdict": str(v.get("verdict") or "unknown").lower(), "effect": fmt_effect(v),
            "title": v.get("verdict_line") or "", "excluded": v.get("magnitude") == "excluded"}


def matrix(verdicts: list[dict], fmt_effect) -> dict[str, Any]:
    """Rows: claim parts some track can judge; columns: track × scorer, primary scorers first."""
    cols = list(dict.fromkeys((_key(v, "evidence"), _key(v, "scorer"), _primary(v))
                              for v in sorted(verdicts, key=lambda v: not _primary(v))))
    rows = []
    for part_id in dict.fromkeys(_key(v, "part_id") for v in verdicts):
        mine = [v for v in verdicts if _key(v, "part_id") == part_id]
        if all(v.get("verdict") == MISSING for v in mine):
            continue
        by_col = {(_key(v, "evidence"), _key(v, "scorer"), _primary(v)): v for v in mine}
        cells = [_cell(by_col.get(c), fmt_effect) for c in cols]
        rows.append({"claim_id": mine[0].get("claim_id"), "part_id": part_id, "part": mine[0].get("part"),
                     "cells": [None if c and c["verdict"] == MISSING else c for c in cells]})
    return {"cols": [{"evidence": ev, "scorer": sc, "primary": p} for ev, sc, p in cols], "rows": rows,
            "cannot_judge": cannot_judge(verdicts)}
