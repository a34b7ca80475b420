"""The report's opening ("Which claims hold", one line per claim per track under the primary
scorer) and its provenance as tables: rendered from report dicts like test_report_html's."""
from __future__ import annotations

from loraplace.report.html import render_html
from test_report_html import sample_data


# ---- issue 24: the answer first, under the primary scorer; parts a track cannot judge counted ----
def _issue24_data() -> dict:
    data = sample_data(components=False, humaneval=False, tiny=False)
    vs = data["verdicts"]
    for v in vs:
        v["primary"] = v["scorer"] == "corrected"
    c1 = [v for v in vs if v["claim_id"] == vs[0]["claim_id"]]
    for v in c1:   # the first claim: every part of the first claim unavailable on this track
        v.update(verdict="unavailable", effect_pp=None, ci_low_pp=None, ci_high_pp=None, note="no data")
    incon = next(v for v in vs if v["verdict"] == "inconclusive" and v["primary"])
    incon.update(magnitude="excluded", claimed_pp=-14.8, about_these_runs=True)
    return data


def test_which_claims_hold_opens_with_one_line_per_claim_per_track_under_the_primary_scorer():
    data = _issue24_data()
    page = render_html(data)
    holds = page[page.index('id="holds"'):page.index('id="verdicts"')]
    headline = holds[holds.index('class="holds headline"'):holds.index("</table>")]
    claims = {v["claim_id"] for v in data["verdicts"]}
    assert headline.count("<tr>") == len(claims) + 1                      # header + one per claim (one track)
    assert headline.count("published · corrected") == len(claims) and "as-published" not in headline
    assert "claimed magnitude excluded in 1" in headline and "about these runs only" in headline
    primary = [v for v in data["verdicts"] if v["primary"]]
    for cid in claims:   # the answer is computed from the claim's primary verdicts
        mine = [v["verdict"] for v in primary if v["claim_id"] == cid]
        judged = [x for x in mine if x != "unavailable"]
        want = "cannot judge" if not judged else "holds" if all(x == "supported" for x in judged) else \
            "does not hold" if "refuted" in judged else "open"
        row = headline[headline.index(f'<span class="mono">{cid}</span>'):]
        assert f'">{want}</td>' in row[:row.index("</tr>")]


def test_parts_a_track_cannot_judge_collapse_into_one_count():
    data = _issue24_data()
    holds = render_html(data)
    holds = holds[holds.index('id="holds"'):holds.index('id="verdicts"')]
    missing = {v["part_id"] for v in data["verdicts"] if v["verdict"] == "unavailable"}
    n_primary_missing = sum(1 for v in data["verdicts"] if v["verdict"] == "unavailable" and v["primary"])
    assert f"published {n_primary_missing}." in holds
    assert all(f'<span class="mono">{p}</span>' not in holds.split('class="holds headline"')[1].split("</table>", 1)[1]
               for p in missing)
    parts = {v["part_id"] for v in data["verdicts"]} - missing
    assert holds.count("<tr><td><span class=\"mono\">") == len(parts)
    cols = holds[holds.rindex('<table class="holds">'):]
    assert cols.index("published · corrected") < cols.index("published · as-published")   # primary first
    assert "sensitivity" in cols and "claimed magnitude excluded" in cols


def test_provenance_shows_each_models_facts_as_run_in_a_table_not_a_dict():
    """The paper track's models: identity, class, condition set, and the precision and optimizer its
    runs used (train_info.json), beside what the recipe asked for; other facts as key: value rows."""
    d = sample_data(components=False, humaneval=False, tiny=False)
    d["provenance"]["sources"] = {"paper": {
        "models": {"my_jamba": {"source": "/m/jamba", "commit": None, "fingerprint": "ab12" * 16,
                                "model_class": "JambaForCausalLM", "condition_set": "harmonized"}},
        "ran": {"my_jamba": {"topology": "sequential", "condition_set": "harmonized", "device": "cpu",
                             "runs_trained": 18, "optimizer": ["adamw_torch"], "precision": ["float32"],
                             "requested": {"optimizer": "adamw_8bit", "bf16": True}}},
        "profile": {"name": "smoke", "rank": 16}, "protocol": {"name": "study"}}}
    page = render_html(d)
    row = page[page.index("<td class=\"mono\" title=\"/m/jamba\">my_jamba</td>"):]
    row = row[:row.index("</tr>")]
    for fact in ("JambaForCausalLM", "sequential", "harmonized", "ab12ab12ab12ab12", "float32", "adamw_torch", "cpu",
                 "adamw_8bit, bf16=True"):
        assert fact in row, fact
    assert "profile.rank" in page and "{&#39;name&#39;" not in page and "{'name'" not in page
