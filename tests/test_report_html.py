"""The self-contained HTML claims report: structure, escaping, formatting, atomic write."""
from __future__ import annotations

import copy
import json
import re

import pytest

from loraplace.report import html as report_html
from loraplace.report.forest import forest_svg, nice_ticks
from loraplace.report.html import fmt_ci, fmt_p, fmt_pct, fmt_pp, render_html, write_report

SEQ, PAR = "qwen3_5_0_8b_base", "falcon_h1_0_5b_base"
SCORERS = ("as-published", "corrected")

# (claim_id, title, sentence, [(part_id, topology, model, comparison, benchmark, direction, effect, half-width)])
CLAIMS = [
    ("C1", "Attention-only LoRA is a safe default",
     "Softmax-only adaptation never hurts held-out accuracy by more than 2 pp.",
     [("C1-seq", "sequential", SEQ, "softmax_only − base", "gsm8k", "positive", 3.1, 4.0),
      ("C1-par", "parallel", PAR, "softmax_only − base", "gsm8k", "positive", 6.2, 4.5)]),
    ("C2", "Recurrent adaptation: destructive in sequential, constructive in parallel",
     "GDN-only substantially degrades GSM8K under this setup (−14.8 pp), while Mamba-only helps.",
     [("C2-seq", "sequential", SEQ, "gdn_only − base", "gsm8k", "negative", -14.84, 9.4),
      ("C2-par", "parallel", PAR, "mamba_only − base", "gsm8k", "positive", 5.5, 6.1)]),
    ("C3", "MLP placement matches all-linear",
     "MLP-only recovers most of the all-linear gain at a fraction of the parameters.",
     [("C3-seq", "sequential", SEQ, "mlp_only − all_linear", "gsm8k", "zero", -0.8, 3.2),
      ("C3-par", "parallel", PAR, "mlp_only − all_linear", "gsm8k", "zero", -2.3, 3.9)]),
    ("C4", "Code training transfers to math",
     "Training on code improves GSM8K for the parallel hybrid only.",
     [("C4-seq", "sequential", SEQ, "all_linear − base", "gsm8k", "zero", 1.2, 5.0),
      ("C4-par", "parallel", PAR, "all_linear − base", "gsm8k", "positive", 8.9, 5.2)]),
    ("C5", "Placement matters more than rank",
     "Moving LoRA between component types changes accuracy more than quadrupling the rank.",
     [("C5-seq", "sequential", SEQ, "best − worst placement", "arc_easy", "positive", 11.0, 4.1),
      ("C5-par", "parallel", PAR, "best − worst placement", "arc_easy", "positive", -6.0, 3.0)]),
]


def _verdict(effect, half, direction):
    lo, hi = effect - half, effect + half
    if lo > 0 or hi < 0:
        sign_ok = (lo > 0) == (direction == "positive")
        return "supported" if sign_ok and direction != "zero" else "refuted"
    return "inconclusive"


def sample_data(*, components=True, humaneval=True, tiny=True) -> dict:
    """A realistic synthetic report: 5 claims × 2 topologies × 2 scorers (+ tiny), 2 models."""
    verdicts = []
    for cid, title, sentence, parts in CLAIMS:
        for part_id, topo, model, comp, bench, direction, eff, half in parts:
            for j, scorer in enumerate(SCORERS):
                e = eff + 1.3 * j
                v = _verdict(e, half, direction)
                p = max(1e-4, min(1.0, 0.05 * half / max(abs(e), 0.1)))
                verdicts.append({
                    "claim_id": cid, "claim_title": title, "sentence": sentence,
                    "part": f"{topo}: {comp} on {bench} after gsm8k_train", "part_id": part_id,
                    "topology": topo, "model": model, "evidence": "published", "scorer": scorer,
                    "comparison": comp, "benchmark": bench, "domain": "gsm8k_train",
                    "direction": direction, "n": 128, "n_seeds": 1, "effect_pp": e,
                    "ci_low_pp": e - half, "ci_high_pp": e + half, "p_value": p / 4,
                    "p_holm": p, "mde_pp": 2.8 * half / 1.96, "verdict": v,
                    "verdict_line": f"{part_id} [published/{scorer}] {v.upper()}: {comp} = {e:.1f} pp",
                    "note": "",
                })
    if tiny:
        verdicts.append({**verdicts[4], "evidence": "tiny", "scorer": "corrected", "n": 512,
                         "n_seeds": 3, "verdict": "supported", "note": "3 seeds, hierarchical bootstrap"})
    verdicts[0]["note"] = "as-published scorer truncates at the first newline"
    accuracy = []
    for model, topo, rec in ((SEQ, "sequential", "gdn_only"), (PAR, "parallel", "mamba_only")):
        rows = [("base", "base")] + [(d, c) for d in ("gsm8k_train", "code_train")
                                     for c in ("softmax_only", rec, "mlp_only", "all_linear")]
        for scorer_i, scorer in enumerate(SCORERS):
            for k, (domain, cond) in enumerate(rows):
                for b, bench in enumerate(("gsm8k", "arc_easy", "mmlu")):
                    accuracy.append({"model": model, "topology": topo, "evidence": "published",
                                     "scorer": scorer, "domain": domain, "condition": cond,
                                     "benchmark": bench, "n": 128,
                                     "accuracy": 0.30 + 0.02 * k + 0.1 * b + 0.047 * scorer_i})
    return {
        "schema": 1,
        "title": "loraplace — claims report",
        "generated_at": "2026-11-27T10:00:00Z",
        "verdicts": verdicts,
        "accuracy": accuracy,
        "components": [
            {"model": SEQ, "topology": "sequential",
             "per_component": {"attention": 50_331_648, "recurrent": 113_246_208, "mlp": 339_738_624,
                               "embedding/head": 254_279_680, "other": 49_152},
             "total_params": 757_645_312,
             "conditions": [{"condition": "softmax_only", "kind": "as-published", "modules": 24,
                             "trainable": 1_081_344, "share": 0.0014},
                            {"condition": "gdn_only", "kind": "as-published", "modules": 72,
                             "trainable": 3_538_944, "share": 0.0047}]},
        ] if components else None,
        "humaneval": [
            {"model": m, "condition": c, "scorer": s, "n": 164,
             "pass_at_1": 0.0 if c == "gdn_only" else 0.12 + 0.02 * i,
             "by_status": {"passed": 20, "failed": 140, "timeout": 4}}
            for m, conds in ((SEQ, ("base", "gdn_only")), (PAR, ("base", "mamba_only")))
            for i, c in enumerate(conds) for s in SCORERS
        ] if humaneval else None,
        "provenance": {
            "evidence": ["published", "tiny"] if tiny else ["published"],
            "data_source": "github.com/hecboar/lora-placement-hybrid", "data_commit": "4972e7b",
            "inputs": [{"path": f"results/eval_details/{m}_{c}.jsonl", "sha256": f"{i:064x}"}
                       for i, (m, c) in enumerate([(SEQ, "base"), (SEQ, "gdn_only"), (PAR, "base")])],
            "packages": {"numpy": "2.4.6", "scipy": "1.16.0", "jinja2": "3.1.6", "torch": "2.8.0"},
            "git_sha": "abc123def", "resamples": 10000, "seed": 3407, "wall_time_s": 4.2,
            "command": "pytest hypotheses/ --evidence published",
            "warnings": ["2 items missing from corrected re-score of falcon_h1_0_5b_base/mmlu"],
        },
    }


def _grouped(verdicts: list[dict]) -> list[dict]:
    """Verdicts in report order: grouped by claim (first appearance), stable within a claim."""
    order = list(dict.fromkeys(v["claim_id"] for v in verdicts))
    return sorted(verdicts, key=lambda v: order.index(v["claim_id"]))


def _rows(page: str) -> list[str]:
    return re.findall(r'<tr class="verdict-row .*?</tr>', page, flags=re.S)


@pytest.fixture(scope="module")
def data():
    return sample_data()


@pytest.fixture(scope="module")
def page(data):
    return render_html(data)


def test_every_verdict_row_present_with_matching_badge(data, page):
    rows = _rows(page)
    assert len(rows) == len(data["verdicts"])
    for row, v in zip(rows, _grouped(data["verdicts"])):
        assert f'data-verdict="{v["verdict"]}"' in row
        assert re.search(rf'<span class="badge badge-{v["verdict"]}">{v["verdict"]}</span>', row)
        assert f'data-part-id="{v["part_id"]}"' in row
    for cid, _title, sentence, _parts in CLAIMS:
        assert page.count(f'id="claim-{cid}"') == 1
        assert page.count(sentence) == 1  # quoted once per claim, not per row


def test_summary_counts(data, page):
    counts = {k: sum(v["verdict"] == k for v in data["verdicts"])
              for k in ("supported", "refuted", "inconclusive")}
    summary = re.search(r'<p class="summary".*?</p>', page, flags=re.S).group(0)
    for k, c in counts.items():
        assert f'<span class="badge badge-{k}">{c} {k}</span>' in summary
    assert f'{len(data["verdicts"])} verdicts' in summary


def test_forest_one_marker_per_verdict(data, page):
    svg = re.search(r"<svg.*?</svg>", page, flags=re.S).group(0)
    markers = re.findall(r'<circle class="marker verdict-(\w+)"', svg)
    assert len(markers) == len(data["verdicts"])
    assert markers == [v["verdict"] for v in _grouped(data["verdicts"])]
    assert svg.count('class="zero"') == 1
    assert "C2 · C2-seq · sequential · published · as-published" in svg


def test_forest_skips_marker_without_estimate_and_handles_empty():
    svg = forest_svg([{"claim_id": "C9", "verdict": "inconclusive", "effect_pp": None}])
    assert "<circle" not in svg and "no estimate" in svg
    assert "<svg" not in forest_svg([])


def test_html_is_self_contained(page):
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", page, flags=re.I)
    assert not re.search(r'(src|href|action|xlink:href)\s*=\s*["\']?\s*(https?:)?//', page, flags=re.I)
    assert "@import" not in page and "url(" not in page
    assert "http://" not in page and "https://" not in page


def test_note_is_escaped():
    d = sample_data(components=False, humaneval=False, tiny=False)
    d["verdicts"][1]["note"] = '<script>alert("x")</script> & <b>'
    d["verdicts"][1]["part"] = "<img src=x onerror=alert(1)>"
    page = render_html(d)
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;" in page


def test_numbers_formatted(page):
    row = _rows(page)[4]  # C2-seq, as-published: -14.84 ± 9.4
    assert 'data-part-id="C2-seq"' in row and "[published/as-published]" in row
    assert ">−14.8<" in row and "[−24.2, −5.4]" in row and ">128<" in row
    assert '<span class="s0">30.0</span> / <span class="s1">34.7</span>' in page  # base gsm8k


@pytest.mark.parametrize("p, text", [(0.0004, "<0.001"), (0.001, "0.00100"), (0.004, "0.00400"),
                                     (0.0123456, "0.0123"), (0.5, "0.500"), (1.0, "1.00"),
                                     (None, "—"), (float("nan"), "—"), ("x", "—")])
def test_fmt_p(p, text):
    assert fmt_p(p) == text


@pytest.mark.parametrize("x, text", [(-14.84, "−14.8"), (3.05, "3.0"), (-0.04, "0.0"), (0, "0.0"),
                                     (None, "—"), (float("inf"), "—")])
def test_fmt_pp(x, text):
    assert fmt_pp(x) == text


def test_fmt_misc():
    assert fmt_ci(-24.24, -5.46) == "[−24.2, −5.5]" and fmt_ci(None, None) == "—"
    assert fmt_pct(0.29687) == "29.7" and fmt_pct(None) == "—"
    ticks = nice_ticks(-24.2, 15.0)
    assert ticks[0] <= -24.2 and ticks[-1] >= 15.0 and 0 in ticks


def test_accuracy_matrix_base_row_first_both_scorers(page):
    acc = page[page.index('id="accuracy"'):page.index('id="components"')]
    assert acc.count('<table class="matrix">') == 2
    for block in acc.split("<h3>")[1:]:
        first = re.search(r"<tbody>\s*<tr([^>]*)><td>([^<]*)</td><td>([^<]*)</td>", block)
        assert first.group(1) == ' class="base"' and first.group(2) == "base"
        assert "<strong>as-published</strong> / <strong>corrected</strong>" in block


def test_tiny_marker_only_for_tiny(data, page):
    flag = "tiny organisms — not the real models"
    rows = _rows(page)
    for row, v in zip(rows, _grouped(data["verdicts"])):
        assert (flag in row) == (v["evidence"] == "tiny")
    assert flag not in render_html(sample_data(tiny=False))


def test_optional_sections_absent_and_present():
    with_all = render_html(sample_data())
    assert 'id="components"' in with_all and 'id="humaneval"' in with_all
    assert "1,081,344" in with_all and "0.140 %" in with_all
    without = render_html(sample_data(components=False, humaneval=False))
    assert 'id="components"' not in without and 'id="humaneval"' not in without
    assert 'href="#components"' not in without


def test_provenance_and_warnings(data, page):
    prov = page[page.index('id="provenance"'):]
    assert "4972e7b" in prov and "abc123def" in prov and "3407" in prov and "10,000" in prov
    assert prov.count("<details>") == 2
    for i in data["provenance"]["inputs"]:
        assert i["sha256"] in prov
    warning = data["provenance"]["warnings"][0]
    assert page.index(warning) < page.index('id="verdicts"')  # shown prominently at the top
    assert 'role="alert"' in page


def test_unavailable_verdict_and_sources():
    d = sample_data(components=False, humaneval=False, tiny=False)
    d["verdicts"].append({"claim_id": "C6", "part_id": "C6-par", "evidence": "paper", "scorer": "corrected",
                          "verdict": "unavailable", "note": "no GPU", "effect_pp": None})
    d["provenance"]["sources"] = {"published": {"data_commit": "4972e7b", "path": "/data/pub"}}
    d["provenance"]["inputs"][0]["evidence"] = "published"
    page = render_html(d)
    assert '<span class="badge badge-unavailable">1 unavailable</span>' in page
    assert 'data-verdict="unavailable"' in page and "/data/pub" in page
    assert "<th>Evidence</th><th>Path</th>" in page


def test_robust_to_missing_and_none():
    page = render_html({})
    assert "0 verdicts" in page and "No verdicts" in page
    sparse = {"verdicts": [{"claim_id": "C1", "verdict": "inconclusive", "effect_pp": None,
                            "ci_low_pp": float("nan"), "p_holm": None, "n": None, "note": None}],
              "accuracy": [{"model": "m", "scorer": "corrected", "domain": "base", "condition": "base",
                            "benchmark": "gsm8k", "accuracy": None}],
              "components": [{"model": "m"}], "humaneval": None,
              "provenance": {"inputs": None, "packages": None, "warnings": None, "resamples": None}}
    page = render_html(sparse)
    row = _rows(page)[0]
    assert row.count(">—<") >= 4 and "None" not in row and "nan" not in row.lower()
    assert "None" not in page


def test_write_report_atomic_roundtrip(tmp_path, data):
    out = tmp_path / "reports"
    jpath, hpath = write_report(data, out)
    assert (jpath, hpath) == (out / "claims.json", out / "claims.html")
    assert json.loads(jpath.read_text(encoding="utf-8")) == data
    text = jpath.read_text(encoding="utf-8")
    assert "—" in text and '\n  "accuracy"' in text  # UTF-8, pretty, sorted keys
    assert hpath.read_text(encoding="utf-8") == render_html(data)
    assert sorted(p.name for p in out.iterdir()) == ["claims.html", "claims.json"]  # no temp files


def test_write_report_failure_keeps_previous(tmp_path, data, monkeypatch):
    jpath, hpath = write_report(data, tmp_path)
    before = (jpath.read_bytes(), hpath.read_bytes())
    changed = copy.deepcopy(data)
    changed["title"] = "changed"

    def boom(_data):
        raise RuntimeError("render failed")

    monkeypatch.setattr(report_html, "render_html", boom)
    with pytest.raises(RuntimeError):
        write_report(changed, tmp_path)
    assert (jpath.read_bytes(), hpath.read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["claims.html", "claims.json"]


def test_write_report_numpy_values(tmp_path):
    np = pytest.importorskip("numpy")
    d = sample_data(components=False, humaneval=False, tiny=False)
    d["verdicts"][0]["effect_pp"] = np.float64(2.5)
    d["verdicts"][0]["n"] = np.int64(128)
    jpath, hpath = write_report(d, tmp_path)
    assert json.loads(jpath.read_text())["verdicts"][0]["effect_pp"] == 2.5
    assert ">2.5<" in hpath.read_text()


# ---- issue 13: which-claims-hold matrix, power plan, untestable, dropped items, Holm next to CIs ----

def _issue13_data() -> dict:
    data = sample_data(components=False, humaneval=False, tiny=False)
    vs = data["verdicts"]
    vs[1].update(verdict="untestable", effect_pp=None, ci_low_pp=None, ci_high_pp=None, p_holm=None,
                 note="not testable: the as-published scorer records pass@1 = 0")
    incon = next(v for v in vs if v["verdict"] == "inconclusive")
    incon.update(power_target_pp=-14.8, power_target="claimed", items_needed=4321, seeds_needed=None,
                 family_size=6, n_seeds=1, seeds=[3407],
                 strata=[{"name": "gsm8k", "n_a": 256, "n_b": 128, "n_paired": 22, "weight": 1.0,
                          "effect_pp": 1.0, "var_share": 1.0}], dropped=True)
    return data


def test_matrix_has_a_row_per_part_and_a_column_per_track_and_scorer():
    data = _issue13_data()
    page = render_html(data)
    holds = page[page.index('id="holds"'):page.index('id="verdicts"')]
    parts = {v["part_id"] for v in data["verdicts"]}
    assert holds.count("<tr><td><span class=\"mono\">") == len(parts)
    assert all(f"published · {s}" in holds for s in SCORERS)
    assert holds.count('class="cell"') == len(parts) * len(SCORERS)
    assert 'badge-untestable">untestable' in holds
    assert page.index('id="holds"') < page.index('id="verdicts"')     # at the top, before the long table


def test_power_section_lists_inconclusive_parts_with_their_plan():
    page = render_html(_issue13_data())
    power = page[page.index('id="power"'):page.index('id="forest"')]
    assert "4,321" in power and "(claimed)" in power and "one training run (seed 3407)" in power
    assert power.count("<tr><td>") == 1


def test_dropped_items_and_holm_explanation_are_shown():
    page = render_html(_issue13_data())
    assert "22 of 256/128" in page and 'class="dropped"' in page
    assert "not after the family" in page and "benchmarks weighted equally" in page
    assert "m = 6" in page


def test_unsandboxed_humaneval_numbers_are_marked_and_warned(monkeypatch):
    """Results executed without full isolation (--allow-unsandboxed) are counted per cell, marked in
    the HumanEval table and named in the report's warnings."""
    from loraplace.evidence.records import Evidence, Record
    from loraplace.report import build

    def rec(i, isolation):
        return Record(SEQ, "sequential", "gdn_only", "codealpaca", 1, "humaneval", f"humaneval:{i}", float(i % 2),
                      "corrected", {"status": "passed" if i % 2 else "failed", "isolation": isolation})

    loose = Evidence("published", [rec(0, "full"), rec(1, "partial (missing: seccomp)"), rec(2, "none")])
    tight = Evidence("published", [rec(0, "full"), rec(1, "full")])
    assert [r["unsandboxed"] for r in build.humaneval_table(loose)] == [2]
    assert [r["unsandboxed"] for r in build.humaneval_table(tight)] == [0]
    monkeypatch.setattr(build, "load_track", lambda track, **kw: loose)
    verdict = dict(sample_data(components=False, humaneval=False, tiny=False)["verdicts"][0], evidence="published")
    data = build.build_report([verdict], provenance={})
    assert any("2 HumanEval results were executed without full sandbox isolation" in w
               for w in data["provenance"]["warnings"])
    page = render_html(data)
    assert page.count("⚠ unsandboxed") == 1
    monkeypatch.setattr(build, "load_track", lambda track, **kw: tight)
    assert "⚠ unsandboxed" not in render_html(build.build_report([verdict], provenance={}))
