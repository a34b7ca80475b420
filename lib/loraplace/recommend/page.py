"""`recommend`'s result as a self-contained HTML page (Jinja2), beside its JSON."""
from __future__ import annotations

import json
from pathlib import Path

import jinja2

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "report" / "templates"


def render(result: dict) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), autoescape=True,
                             undefined=jinja2.ChainableUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("recommend.html.j2").render(r=result)


def write(result: dict, out_dir: Path) -> tuple[Path, Path]:
    """recommend.json and recommend.html in `out_dir`; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html, js = out_dir / "recommend.html", out_dir / "recommend.json"
    js.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")
    html.write_text(render(result), encoding="utf-8")
    return js, html
