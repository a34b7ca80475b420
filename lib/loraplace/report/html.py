"""Self-contained HTML claims report (+ claims.json) from the report data dict.

`render_html(data)` turns the dict (see the data contract in the suite's design notes) into one
HTML page with inline CSS and an inline SVG forest plot — no scripts, no external resources.
`write_report(data, out_dir)` writes `claims.json` and `claims.html` atomically.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from loraplace.report import holds
from loraplace.report.forest import forest_svg
from loraplace.report.provenance import model_rows, source_lines
from loraplace.vocab import DECIDED

TEMPLATE_DIR = Path(__file__).parent / "templates"
TEMPLATE = "claims.html.j2"
DASH = "—"
MINUS = "−"


# ---------------------------------------------------------------------------- formatting
def _num(x: Any) -> float | None:
    """A finite float, or None for None / NaN / inf / non-numbers (bools are not numbers)."""
    if x is None or isinstance(x, (bool, jinja2.Undefined)):
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _minus(s: str) -> str:
    return s.replace("-", MINUS)


def fmt_pp(x: Any, digits: int = 1) -> str:
    """Percentage points, 1 decimal, typographic minus; '—' when missing."""
    f = _num(x)
    if f is None:
        return DASH
    s = f"{f:.{digits}f}"
    if float(s) == 0:
        s = s.lstrip("-")
    return _minus(s)


def fmt_ci(lo: Any, hi: Any) -> str:
    if _num(lo) is None and _num(hi) is None:
        return DASH
    return f"[{fmt_pp(lo)}, {fmt_pp(hi)}]"


def fmt_p(p: Any) -> str:
    """p-value with 3 significant digits; '<0.001' below that; '—' when missing."""
    f = _num(p)
    if f is None:
        return DASH
    if f < 0.001:
        return "<0.001"
    return f"{f:#.3g}".rstrip(".")


def fmt_pct(x: Any, digits: int = 1) -> str:
    """A proportion in [0, 1] shown as a percentage number (no % sign)."""
    f = _num(x)
    return DASH if f is None else f"{100 * f:.{digits}f}"


def fmt_int(x: Any) -> str:
    f = _num(x)
    if f is None:
        return DASH
    return _minus(f"{int(round(f)):,}") if float(f).is_integer() else _minus(f"{f:,.2f}")


def fmt_seconds(x: Any) -> str:
    f = _num(x)
    if f is None:
        return DASH
    if f < 120:
        return f"{f:.1f} s"
    return f"{f / 60:.1f} min" if f < 7200 else f"{f / 3600:.2f} h"


def ratio(a: Any, b: Any) -> float | None:
    fa, fb = _num(a), _num(b)
    return None if fa is None or not fb else fa / fb


def dash(x: Any) -> Any:
    """'—' for None / empty / NaN, the value otherwise."""
    if x is None or isinstance(x, jinja2.Undefined) or (isinstance(x, str) and not x.strip()):
        return DASH
    if isinstance(x, float) and not math.isfinite(x):
        return DASH
    return x


# ---------------------------------------------------------------------------- view model
def _ordered(items, key) -> list:
    """Distinct values of key(item) in order of first appearance."""
    seen: dict = {}
    for it in items:
        seen.setdefault(key(it), None)
    return list(seen)


def _verdict(v: dict) -> str:
    return str(v.get("verdict") or "unknown").lower()


def _claim_groups(verdicts: list[dict]) -> list[dict]:
    groups: dict[Any, dict] = {}
    for v in verdicts:
        cid = v.get("claim_id") or DASH
        g = groups.setdefault(cid, {"claim_id": cid, "claim_title": v.get("claim_title"),
                                    "sentences": [], "rows": [], "counts": Counter()})
        if not g["claim_title"] and v.get("claim_title"):
            g["claim_title"] = v["claim_title"]
        s = (v.get("sentence") or "").strip()
        if s and s not in g["sentences"]:
            g["sentences"].append(s)
        g["rows"].append(v)
        g["counts"][_verdict(v)] += 1
    return list(groups.values())


def _factorial_tables(tables: list[dict]) -> list[dict]:
    """Per track × scorer × outcome: the 2×2 grid (rows topology, columns mixer) and the contrasts."""
    out = []
    for t in tables:
        for o in t.get("outcomes") or []:
            cells = {(c.get("topology"), c.get("mixer")): c for c in o.get("cells") or []}
            mixers = list(dict.fromkeys(c.get("mixer") for c in o.get("cells") or []))
            names = {c.get("mixer"): c.get("mixer_name") for c in o.get("cells") or []}
            grid = [{"topology": topo, "cells": [cells.get((topo, m)) for m in mixers]}
                    for topo in dict.fromkeys(c.get("topology") for c in o.get("cells") or [])]
            out.append({"evidence": t.get("evidence"), "scorer": t.get("scorer"), "label": o.get("label"),
                        "mixers": [names[m] for m in mixers], "grid": grid, "contrasts": o.get("contrasts") or [],
                        "coverage": t.get("coverage") or []})
    return out


def _row_sort_key(row: tuple[str, str]) -> tuple[int, ...]:
    domain, condition = row
    return (0 if (domain == "base" or condition == "base") else 1,)


def _accuracy_matrices(acc: list[dict]) -> list[dict]:
    """One matrix per (model, evidence): rows (domain, condition), cols benchmark, cells per scorer."""
    out = []
    for model, evidence in _ordered(acc, lambda a: (a.get("model"), a.get("evidence"))):
        recs = [a for a in acc if (a.get("model"), a.get("evidence")) == (model, evidence)]
        scorers = _ordered(recs, lambda a: a.get("scorer") or DASH)
        benchmarks = _ordered(recs, lambda a: a.get("benchmark") or DASH)
        rows = _ordered(recs, lambda a: (a.get("domain") or DASH, a.get("condition") or DASH))
        rows.sort(key=_row_sort_key)  # stable: base first, others keep their order
        cell = {(a.get("domain") or DASH, a.get("condition") or DASH, a.get("benchmark") or DASH,
                 a.get("scorer") or DASH): a for a in recs}
        table = []
        for domain, condition in rows:
            cells = []
            for b in benchmarks:
                hits = [cell.get((domain, condition, b, s)) for s in scorers]
                ns = sorted({fmt_int(h.get("n")) for h in hits if h and h.get("n") is not None})
                cells.append({"vals": [fmt_pct(h.get("accuracy")) if h else DASH for h in hits],
                              "n": ", ".join(ns)})
            table.append({"domain": domain, "condition": condition, "cells": cells,
                          "is_base": domain == "base" or condition == "base"})
        out.append({"model": model or DASH, "evidence": evidence,
                    "topology": next((a.get("topology") for a in recs if a.get("topology")), None),
                    "scorers": scorers, "benchmarks": benchmarks, "rows": table})
    return out


def _humaneval_tables(he: list[dict]) -> list[dict]:
    out = []
    for model in _ordered(he, lambda h: h.get("model") or DASH):
        recs = [h for h in he if (h.get("model") or DASH) == model]
        scorers = _ordered(recs, lambda h: h.get("scorer") or DASH)
        rows = []
        for cond in _ordered(recs, lambda h: h.get("condition") or DASH):
            cells = []
            for s in scorers:
                h = next((r for r in recs if (r.get("condition") or DASH) == cond
                          and (r.get("scorer") or DASH) == s), None)
                status = ", ".join(f"{k}: {v}" for k, v in ((h or {}).get("by_status") or {}).items())
                cells.append({"value": fmt_pct(h.get("pass_at_1")) if h else DASH,
                              "n": fmt_int(h.get("n")) if h else DASH, "status": status,
                              "unsandboxed": int((h or {}).get("unsandboxed") or 0)})
            rows.append({"condition": cond, "cells": cells})
        out.append({"model": model, "scorers": scorers, "rows": rows})
    return out


def _evidence_sources(data: dict) -> list[str]:
    prov = data.get("provenance") or {}
    ev = prov.get("evidence")
    if isinstance(ev, str):
        ev = [ev]
    if not ev:
        ev = _ordered(data.get("verdicts") or [], lambda v: v.get("evidence"))
    return [str(e) for e in ev if e]


def _effect_text(v: dict) -> str:
    effect = _num(v.get("effect_pp"))
    if effect is None:
        return DASH
    return f"{fmt_pp(effect)} %" if v.get("direction") == "floor" else f"{'+' if effect > 0 else ''}{fmt_pp(effect)} pp"


def _power_rows(verdicts: list[dict]) -> list[dict]:
    """Inconclusive parts: the questions (and seeds) needed for 80 % power at their Holm level."""
    return [v for v in verdicts if _verdict(v) == "inconclusive" and _num(v.get("power_target_pp")) is not None]


def _runs(v: dict) -> str:
    """'one training run (seed 3407)' / '3 training runs' — the seeds behind a verdict."""
    seeds, n = v.get("seeds") or [], _num(v.get("n_seeds"))
    if n == 1:
        return f"one training run (seed {seeds[0]})" if seeds else "one training run"
    return f"{int(n)} training runs" if n else ""


def build_view(data: dict) -> dict:
    """Everything the template needs, precomputed (grouping, ordering, counts)."""
    data = data or {}
    verdicts = [v for v in (data.get("verdicts") or []) if isinstance(v, dict)]
    groups = _claim_groups(verdicts)
    ordered = [v for g in groups for v in g["rows"]]  # table order == forest order
    counts = Counter(_verdict(v) for v in verdicts)
    prov = dict(data.get("provenance") or {})
    warnings = prov.get("warnings") or []
    if isinstance(warnings, str):
        warnings = [warnings]
    packages = prov.get("packages") or {}
    evidence = _evidence_sources(data)
    inputs = [i for i in (prov.get("inputs") or []) if isinstance(i, dict)]
    return {
        "title": data.get("title") or "loraplace — claims report",
        "generated_at": data.get("generated_at"),
        "schema": data.get("schema"),
        "evidence": evidence,
        "has_tiny": "tiny" in evidence or any(v.get("evidence") == "tiny" for v in verdicts),
        "n_verdicts": len(verdicts),
        "counts": {k: counts.get(k, 0) for k in DECIDED},
        "extra_counts": sorted((k, c) for k, c in counts.items() if k not in DECIDED),
        "groups": groups,
        "headline": holds.headline(ordered),
        "matrix": holds.matrix(ordered, _effect_text),
        "power": _power_rows(ordered),
        "forest": Markup(forest_svg(ordered)),
        "accuracy": _accuracy_matrices([a for a in (data.get("accuracy") or []) if isinstance(a, dict)]),
        "components": [c for c in (data.get("components") or []) if isinstance(c, dict)],
        "humaneval": _humaneval_tables([h for h in (data.get("humaneval") or []) if isinstance(h, dict)]),
        "factorial": _factorial_tables([f for f in (data.get("factorial") or []) if isinstance(f, dict)]),
        "prov": prov,
        "inputs": inputs,
        "inputs_have_evidence": any(i.get("evidence") for i in inputs),
        "sources": source_lines(prov.get("sources")),
        "model_rows": model_rows(prov.get("sources")),
        "packages": sorted(packages.items()) if isinstance(packages, dict) else [],
        "warnings": [str(w) for w in warnings],
    }


# ---------------------------------------------------------------------------- rendering
def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), autoescape=True,
                             undefined=jinja2.ChainableUndefined, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(pp=fmt_pp, ci=fmt_ci, pval=fmt_p, pct=fmt_pct, num=fmt_int, ratio=ratio,
                       seconds=fmt_seconds, dash=dash, runs=_runs)
    return env


def render_html(data: dict) -> str:
    """The full, self-contained HTML page for the report data dict."""
    return _env().get_template(TEMPLATE).render(v=build_view(data))


def _json_default(o: Any) -> Any:
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    if hasattr(o, "tolist"):  # numpy arrays and scalars
        return o.tolist()
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; a report is for everyone to read
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_report(data: dict, out_dir: Path) -> tuple[Path, Path]:
    """Write `claims.json` and `claims.html` into out_dir (atomically); returns (json, html)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # render both first, so a failure leaves any previous report untouched
    text_json = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False,
                           default=_json_default) + "\n"
    text_html = render_html(data)
    json_path, html_path = out_dir / "claims.json", out_dir / "claims.html"
    _atomic_write_text(json_path, text_json)
    _atomic_write_text(html_path, text_html)
    return json_path, html_path
