"""The evidence-track registry: the built-in tracks match their own profiles, loading is lazy,
and a fourth track is added from outside the library, following CONTRIBUTING.md's checklist
"Adding an evidence track" (a loader, one `register` call, nothing else edited)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loraplace.claims.registry import get_claim
from loraplace.evidence import registry

pytest_plugins = ["pytester"]
REPO = Path(__file__).resolve().parents[1]


def test_each_track_lists_the_profiles_its_own_design_defines():
    from loraplace.tracks.paper import plan as paper_plan
    from loraplace.tracks.tiny import design as tiny_design

    assert registry.get_track("tiny").accepted_profiles == tuple(tiny_design.PROFILES)
    assert registry.get_track("paper").profiles == tuple(paper_plan.PROFILES)
    assert registry.get_track("paper").aliases == paper_plan.ALIASES
    assert registry.get_track("published").profiles == ()


def test_an_unknown_track_names_the_registered_ones():
    with pytest.raises(ValueError, match=r"Unknown evidence track 'nope'\. Available: published, tiny, paper"):
        registry.get_track("nope")


def test_a_name_is_registered_once():
    with pytest.raises(ValueError, match="registered already"):
        registry.register(registry.Track("tiny", "again", "x:y"))


def test_the_plugin_and_the_registry_do_not_import_torch():
    code = ("import sys, loraplace.evidence.registry, loraplace.pytest_plugin.plugin, "
            "loraplace.pytest_plugin.fixtures; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(REPO / "lib"), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "False"


# Step 1 of the checklist: a loader returning `Evidence` (here: a planted C2 effect, 200 questions:
# the sequential model's recurrent-only run loses 60 of the base's 100 correct answers, the
# parallel one's gains 60).
TOY_TRACK = '''
from loraplace.evidence.records import Evidence, Record
from loraplace.study import MODELS

N = 200


def load(profile):
    assert profile == "smoke"
    records = []
    for m in MODELS.values():
        base = [1.0 if i % 2 else 0.0 for i in range(N)]
        if m.topology == "sequential":
            tuned = [0.0 if (i % 2 and i < 120) else s for i, s in enumerate(base)]
        else:
            tuned = [1.0 if (not i % 2 and i < 120) else s for i, s in enumerate(base)]
        for cond, domain, scores in (("base", "base", base), (m.condition("recurrent"), "gsm8k_train", tuned)):
            records += [Record(m.key, m.topology, cond, domain, 1, "gsm8k", f"gsm8k:{i}", s, sc)
                        for i, s in enumerate(scores) for sc in ("as-published", "corrected")]
    return Evidence("toy", records, models={m.topology: m.key for m in MODELS.values()},
                    roles={m.key: dict(m.conditions) for m in MODELS.values()})
'''
# Step 2: one `register` call, here from a conftest.
TOY_CONFTEST = '''
from loraplace.evidence.registry import Track, register

register(Track("toy", "a planted effect", "toytrack:load", profiles=("smoke",)))
'''


def test_a_fourth_track_registered_from_a_test_module_is_judged_end_to_end(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", f"{REPO / 'lib'}:{pytester.path}")
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(name, raising=False)
    (pytester.path / "toytrack.py").write_text(TOY_TRACK)
    pytester.makeconftest(TOY_CONFTEST)
    (pytester.path / "test_c2.py").write_text((REPO / "hypotheses" / "test_c2_recurrent_topology.py").read_text())
    report = pytester.path / "rep"
    result = pytester.runpytest_subprocess("-p", "loraplace.pytest_plugin.plugin", "-p", "loraplace.pytest_plugin.fixtures",
                                           "-p", "no:cacheprovider", "--evidence", "toy", "--profile", "smoke",
                                           "--scorer", "corrected", f"--report-dir={report}",
                                           "--bootstrap-resamples", "500")
    study = [p.id for p in get_claim("C2").parts if p.family == "study"]
    others = len(get_claim("C2").parts) - len(study)
    outcomes = result.parseoutcomes()
    # The study's two parts are supported (asserted); the factorial cells have no toy model: skipped.
    assert (outcomes.get("passed"), outcomes.get("skipped"), outcomes.get("failed")) == (len(study), others, None), \
        result.stdout.str()
    verdicts = {v["part_id"]: v for v in json.loads((report / "claims.json").read_text())["verdicts"]}
    assert {verdicts[p]["evidence"] for p in study} == {"toy"}
    assert [verdicts[p]["verdict"] for p in study] == ["supported", "supported"]
    # 60 of 200 questions move: -30 pp and +30 pp, computed here from the planted records
    assert [round(verdicts[p]["effect_pp"], 6) for p in study] == [-30.0, 30.0]


def test_a_track_receives_only_the_options_its_loader_names():
    seen = {}

    def loader(profile, cache_dir=None):
        seen.update(profile=profile, cache_dir=cache_dir)
        return "evidence"

    module = type(sys)("loraplace_toy_options")
    module.load = loader
    sys.modules[module.__name__] = module
    try:
        track = registry.Track("toy-options", "options", f"{module.__name__}:load", profiles=("smoke",))
        assert track.load(profile="smoke", cache_dir="/c", paper_data="/d", published_dir=None) == "evidence"
        assert seen == {"profile": "smoke", "cache_dir": "/c"}
    finally:
        del sys.modules[module.__name__]
