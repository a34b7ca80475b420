"""Only missing data may become an "unavailable" verdict (a skip); a data bug fails the test."""
from __future__ import annotations

import math

import pytest

from loraplace.claims.registry import get_claim
from loraplace.evidence.records import Evidence, NoData, Record
from loraplace.judging.evaluate import evaluate
from loraplace.study import MODELS

pytest_plugins = ["pytester"]


def _evidence(base_scores=(1.0, 0.0, 1.0, 0.0), tuned_scores=(1.0, 1.0, 0.0, 0.0), drop_parallel=False) -> Evidence:
    records = []
    for m in MODELS.values():
        if drop_parallel and m.topology == "parallel":
            continue
        for cond, domain, scores in (("base", "base", base_scores),
                                     (m.condition("recurrent"), "gsm8k_train", tuned_scores)):
            records += [Record(m.key, m.topology, cond, domain, 1, "gsm8k", f"gsm8k:{i}", s, "corrected")
                        for i, s in enumerate(scores)]
    return Evidence("published", records, models={m.topology: m.key for m in MODELS.values()},
                    roles={m.key: dict(m.conditions) for m in MODELS.values()})


def test_missing_records_are_unavailable_with_the_reason():
    verdicts = {v.part_id: v for v in evaluate(get_claim("C2"), _evidence(drop_parallel=True), "corrected",
                                                 resamples=200, seed=0)}
    assert verdicts["C2-par"].verdict == "unavailable" and "No published records" in verdicts["C2-par"].note
    assert verdicts["C2-seq"].verdict != "unavailable"
    with pytest.raises(NoData):
        _evidence().scores("nope", "corrected", "base", "base", "gsm8k")


def test_a_nan_score_is_an_error_not_a_verdict():
    with pytest.raises(ValueError, match="NaN"):
        evaluate(get_claim("C2"), _evidence(tuned_scores=(1.0, math.nan, 0.0, 0.0)), "corrected",
                 resamples=200, seed=0)


CONFTEST = '''
import math
import pytest
import loraplace.pytest_plugin.fixtures as fc
from loraplace.evidence.records import Evidence, Record
from loraplace.study import MODELS


def _nan_track(track, **kw):
    records = []
    for m in MODELS.values():
        for cond, domain, scores in (("base", "base", (1.0, 0.0, 1.0)),
                                     (m.condition("recurrent"), "gsm8k_train", (1.0, math.nan, 0.0))):
            records += [Record(m.key, m.topology, cond, domain, 1, "gsm8k", f"gsm8k:{i}", s, sc)
                        for i, s in enumerate(scores) for sc in ("as-published", "corrected")]
    return Evidence("published", records, models={m.topology: m.key for m in MODELS.values()},
                    roles={m.key: dict(m.conditions) for m in MODELS.values()})


fc.load_track = _nan_track
'''


def test_an_injected_nan_makes_the_hypothesis_suite_fail(pytester, monkeypatch):
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    monkeypatch.setenv("PYTHONPATH", str(repo))
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeconftest(CONFTEST)
    (pytester.path / "test_c2.py").write_text((repo / "hypotheses" / "test_c2_recurrent_topology.py").read_text())
    result = pytester.runpytest_subprocess("-p", "loraplace.pytest_plugin.plugin", "-p", "loraplace.pytest_plugin.fixtures",
                                           "-p", "no:cacheprovider", "--evidence", "published", "--verdicts",
                                           "record", f"--report-dir={pytester.path / 'rep'}",
                                           "--bootstrap-resamples", "100")
    outcomes = result.parseoutcomes()
    assert result.ret != 0 and outcomes.get("skipped", 0) == 0 and outcomes.get("passed", 0) == 0
    n_parts = len(get_claim("C2").parts)  # the NaN breaks the claim's evaluation: every part x 2 scorers fails
    assert outcomes.get("failed", 0) + outcomes.get("errors", 0) + outcomes.get("error", 0) == 2 * n_parts
    result.stdout.fnmatch_lines(["*NaN*"])
