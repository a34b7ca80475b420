"""Forest plot of verdicts as an inline SVG string (no matplotlib, no JS, no external resources).

One row per verdict: effect point (pp) with its CI whisker, a vertical zero line, coloured by
verdict, labelled "claim · part · topology · evidence · scorer".
"""
from __future__ import annotations

import math
from xml.sax.saxutils import escape

COLOURS = {"supported": "#1a7f37", "refuted": "#cf222e", "inconclusive": "#9a6700",
           "untestable": "#8250df", "unavailable": "#6e7781"}
UNKNOWN_COLOUR = "#6e7781"

ROW_H = 22  # px per verdict row
TOP = 34  # room for the axis ticks
BOTTOM = 30  # room for the axis title
LABEL_W = 380  # left column: row labels
PLOT_W = 560  # the effect axis
TEXT_W = 190  # right column: "effect [lo, hi]"
PAD = 10
WIDTH = LABEL_W + PLOT_W + TEXT_W + 2 * PAD
MAX_LABEL = 56  # characters before the label is shortened (full text stays in <title>)


def _num(x) -> float | None:
    """A finite float or None (None, NaN, inf and non-numbers all become None)."""
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _fmt(x: float | None) -> str:
    """1-decimal pp with a typographic minus; '—' when missing."""
    if x is None:
        return "—"
    s = f"{x:.1f}"
    if s in ("-0.0", "0.0"):
        return "0.0"
    return s.replace("-", "−")


def row_label(v: dict) -> str:
    parts = [v.get("claim_id"), v.get("part_id") or v.get("part"), v.get("topology"),
             v.get("evidence"), v.get("scorer")]
    return " · ".join(str(p) if p not in (None, "") else "—" for p in parts)


def nice_ticks(lo: float, hi: float, target: int = 7) -> list[float]:
    """Round tick positions covering [lo, hi] with a 1/2/5 × 10^k step."""
    span = max(hi - lo, 1e-9)
    raw = span / max(target - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    last = math.ceil(hi / step) * step
    count = int(round((last - first) / step))
    return [round(first + i * step, 10) for i in range(count + 1)]


def _axis_range(verdicts: list[dict]) -> tuple[float, float]:
    vals = [0.0]
    for v in verdicts:
        for k in ("effect_pp", "ci_low_pp", "ci_high_pp"):
            x = _num(v.get(k))
            if x is not None:
                vals.append(x)
    lo, hi = min(vals), max(vals)
    if hi - lo < 1.0:
        lo, hi = lo - 1.0, hi + 1.0
    ticks = nice_ticks(lo, hi)
    return min(ticks[0], lo), max(ticks[-1], hi)


def _stripes(verdicts: list[dict]) -> list[str]:
    """Row stripes, and separators between claims."""
    out, prev_claim = [], None
    for i, v in enumerate(verdicts):
        y = TOP + i * ROW_H
        if i % 2 == 1:
            out.append(f'<rect x="0" y="{y}" width="{WIDTH}" height="{ROW_H}" fill="#f6f8fa"/>')
        claim = v.get("claim_id")
        if i > 0 and claim != prev_claim:
            out.append(f'<line x1="0" x2="{WIDTH}" y1="{y}" y2="{y}" stroke="#d0d7de"/>')
        prev_claim = claim
    return out


def _axis(lo: float, hi: float, n: int, sx, height: int, x0: float) -> list[str]:
    """Grid, ticks, the zero line and the axis title."""
    out = []
    y_top, y_bot = TOP, TOP + n * ROW_H
    for t in nice_ticks(lo, hi):
        if t < lo - 1e-9 or t > hi + 1e-9:
            continue
        x = sx(t)
        out.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{y_top}" y2="{y_bot}" '
                   f'stroke="#eaeef2"/>')
        label = _fmt(t).replace(".0", "") if float(t).is_integer() else _fmt(t)
        out.append(f'<text x="{x:.1f}" y="{TOP - 8}" text-anchor="middle" fill="#57606a">'
                   f'{escape(label)}</text>')
    zx = sx(0.0)
    out.append(f'<line class="zero" x1="{zx:.1f}" x2="{zx:.1f}" y1="{y_top - 4}" y2="{y_bot}" '
               f'stroke="#24292f" stroke-width="1.2" stroke-dasharray="4 3"/>')
    out.append(f'<text x="{x0 + PLOT_W / 2:.1f}" y="{height - 8}" text-anchor="middle" '
               f'fill="#24292f">effect (percentage points), whisker = CI</text>')
    return out


def _row(i: int, v: dict, sx, x0: float) -> list[str]:
    """One verdict's label, whisker, marker and numbers."""
    out = []
    yc = TOP + i * ROW_H + ROW_H / 2
    verdict = str(v.get("verdict") or "unknown").lower()
    colour = COLOURS.get(verdict, UNKNOWN_COLOUR)
    full = row_label(v)
    short = full if len(full) <= MAX_LABEL else full[: MAX_LABEL - 1] + "…"
    tip = f"{full}\n{v.get('part') or ''}\n{v.get('verdict_line') or verdict}"
    out.append(f'<g class="row verdict-{escape(verdict)}"><title>{escape(tip)}</title>')
    out.append(f'<text x="{PAD}" y="{yc + 4:.1f}" fill="#24292f">{escape(short)}</text>')
    eff = _num(v.get("effect_pp"))
    lo_ci, hi_ci = _num(v.get("ci_low_pp")), _num(v.get("ci_high_pp"))
    if lo_ci is not None and hi_ci is not None:
        a, b = sx(min(lo_ci, hi_ci)), sx(max(lo_ci, hi_ci))
        out.append(f'<line class="whisker" x1="{a:.1f}" x2="{b:.1f}" y1="{yc:.1f}" '
                   f'y2="{yc:.1f}" stroke="{colour}" stroke-width="2"/>')
        for x in (a, b):
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{yc - 4:.1f}" '
                       f'y2="{yc + 4:.1f}" stroke="{colour}" stroke-width="2"/>')
    if eff is not None:
        tiny = v.get("evidence") == "tiny"  # hollow: tiny organisms, not the real models
        style = (f'fill="#fff" stroke="{colour}" stroke-width="2"' if tiny
                 else f'fill="{colour}" stroke="#fff" stroke-width="1"')
        out.append(f'<circle class="marker verdict-{escape(verdict)}" cx="{sx(eff):.1f}" '
                   f'cy="{yc:.1f}" r="4.5" {style}/>')
        txt = f"{_fmt(eff)} [{_fmt(lo_ci)}, {_fmt(hi_ci)}]"
    else:
        txt = "no estimate"
    out.append(f'<text x="{x0 + PLOT_W + 14}" y="{yc + 4:.1f}" fill="{colour}" '
               f'font-variant-numeric="tabular-nums">{escape(txt)}</text>')
    out.append("</g>")
    return out


def forest_svg(verdicts: list[dict]) -> str:
    """Render the forest plot; returns an `<svg>` element string (empty-state text if no rows)."""
    n = len(verdicts)
    if n == 0:
        return '<p class="empty">No verdicts to plot.</p>'
    lo, hi = _axis_range(verdicts)
    x0 = PAD + LABEL_W
    height = TOP + n * ROW_H + BOTTOM

    def sx(val: float) -> float:
        return x0 + (val - lo) / (hi - lo) * PLOT_W

    out = [
        f'<svg class="forest" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" font-size="12">',
        "<title>Forest plot: effect (pp) with confidence interval per verdict</title>",
        *_stripes(verdicts), *_axis(lo, hi, n, sx, height, x0),
    ]
    for i, v in enumerate(verdicts):
        out += _row(i, v, sx, x0)
    out.append("</svg>")
    return "\n".join(out)
