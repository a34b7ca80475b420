"""The report's mixer × topology section renders the 2×2 and the contrasts of `factorial.table`."""
from __future__ import annotations

import re

from loraplace.report.html import render_html


def _table() -> dict:
    cells = [{"topology": t, "mixer": m, "mixer_name": name, "model": f"tiny_{t[:3]}_{m}", "effect_pp": e,
              "ci_low_pp": e - 4.0, "ci_high_pp": e + 4.0, "p_value": 0.01, "n": 40, "n_seeds": 2, "note": ""}
             for (t, m, name), e in zip([("sequential", "gdn", "Gated DeltaNet"), ("sequential", "mamba2", "Mamba-2"),
                                         ("parallel", "gdn", "Gated DeltaNet"), ("parallel", "mamba2", "Mamba-2")],
                                        (-12.5, -7.5, 5.0, 10.0))]
    contrasts = [{"name": "topology | gdn", "label": "parallel − sequential, Gated DeltaNet", "effect_pp": 17.5,
                  "ci_low_pp": 9.0, "ci_high_pp": 26.0, "p_value": 0.001, "n": 40, "note": ""},
                 {"name": "interaction", "label": "topology contrast under Gated DeltaNet − under Mamba-2",
                  "effect_pp": None, "ci_low_pp": None, "ci_high_pp": None, "p_value": None, "n": 0,
                  "note": "not testable: every per-question difference is the same (zero variance)"}]
    coverage = [{"model": "tiny_seq_mamba2", "cell": "sequential × Mamba-2", "n_runs": 4,
                 "runs": ["full after codealpaca", "recurrent_only after gsm8k_train"]}]
    return {"evidence": "tiny", "scorer": "corrected", "coverage": coverage,
            "outcomes": [{"outcome": "gsm8k", "label": "recurrent-only − base on gsm8k after gsm8k_train",
                          "cells": cells, "contrasts": contrasts}]}


def test_the_section_shows_every_cell_and_contrast():
    page = render_html({"verdicts": [], "factorial": [_table()], "provenance": {}})
    section = page[page.index('<section id="factorial">'):]
    section = section[:section.index("</section>")]
    assert 'href="#factorial"' in page
    for model in ("tiny_seq_gdn", "tiny_seq_mamba2", "tiny_par_gdn", "tiny_par_mamba2"):
        assert model in section
    rows = re.findall(r"<tr><td>(sequential|parallel)</td>", section)
    assert rows == ["sequential", "parallel"]
    assert "parallel − sequential, Gated DeltaNet" in section and "zero variance" in section
    assert "sequential × Mamba-2" in section and "recurrent_only after gsm8k_train" in section


def test_no_section_without_a_factorial():
    page = render_html({"verdicts": [], "provenance": {}})
    assert '<section id="factorial">' not in page and 'href="#factorial"' not in page
