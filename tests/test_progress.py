"""Build progress: the event API (`loraplace.progress.events`), its rendering (`progress_render`) and,
end to end in pytest subprocesses, that a long session fixture's phases reach the terminal --
on a terminal (pty), in a log (pipe), with -q, under xdist, from a spawned worker process --
and that --no-progress shows nothing."""
from __future__ import annotations

import io
import math
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from loraplace.progress import events as progress
from loraplace.progress.render import Renderer, Tail, clock

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]


class Events:
    def __init__(self):
        self.events = []

    def event(self, ev):
        self.events.append(ev)


@pytest.fixture
def sink():
    s = Events()
    progress.install(s)
    yield s
    progress.install(None)


def test_phase_reports_start_updates_and_end(sink):
    with progress.phase("tiny[smoke] fine-tuning", 3, unit="run") as ph:
        ph.advance(current="a")
        ph.advance(2, current="b")
    kinds = [e["kind"] for e in sink.events]
    assert kinds == ["start", "update", "update", "end"]
    assert [e["done"] for e in sink.events] == [0, 1, 3, 3]
    assert sink.events[-1]["current"] == "b" and sink.events[0]["total"] == 3


def test_disabled_phase_and_null_sink_report_nothing(sink):
    with progress.phase("x", 2, enabled=False) as ph:
        ph.advance()
    assert sink.events == []
    progress.install(progress.NullSink())
    progress.phase("x", 2).advance()  # nothing to see, nothing raised


def test_environment_names_a_file_sink(tmp_path, monkeypatch):
    monkeypatch.setattr(progress, "_SINK", None)
    monkeypatch.setenv(progress.ENV, str(tmp_path))
    with progress.phase("pretrain tiny_qwen3_5", 1200, unit="step", minor=True) as ph:
        ph.advance()
    progress.note("plan")
    monkeypatch.setattr(progress, "_SINK", None)
    out = io.StringIO()
    r = Renderer(out, live=False, plain_every=1e9)
    assert Tail(tmp_path, r).poll() == 3  # start, end, note: an update within 0.5 s of the last is dropped
    assert "plan" in out.getvalue()
    monkeypatch.setenv(progress.ENV, "")  # set but empty: report nothing
    assert isinstance(progress.current_sink(), progress.NullSink)


def _feed(r: Renderer, minor=False):
    r.event({"kind": "note", "text": "building 2 bases"})
    for kind, done in (("start", 0), ("update", 1), ("update", 2), ("end", 2)):
        r.event({"kind": kind, "phase": "tiny[smoke] bases", "id": "1", "done": done, "total": 2,
                 "unit": "base", "current": f"b{done}", "minor": minor, "source": ""})


def test_plain_lines_start_and_final_and_quiet_keeps_one_line_per_phase():
    out = io.StringIO()
    _feed(Renderer(out, live=False, plain_every=1e9))
    lines = out.getvalue().splitlines()
    assert lines[0] == "building 2 bases"
    assert lines[1].startswith("tiny[smoke] bases  0/2 base")
    assert lines[2].startswith("tiny[smoke] bases  2/2 base in ")
    assert "\r" not in out.getvalue()
    quiet = io.StringIO()
    _feed(Renderer(quiet, live=False, quiet=True, plain_every=1e9))
    assert quiet.getvalue().splitlines()[1:] == [lines[2]]


def test_plain_lines_repeat_when_due():
    out = io.StringIO()
    r = Renderer(out, live=False, plain_every=0.0)
    r.event({"kind": "start", "phase": "p", "id": "1", "done": 0, "total": 4, "unit": "", "current": ""})
    r.tick()
    r.tick()
    assert out.getvalue().count("p  0/4") == 3  # the start line, then one per tick that is due
    quiet = io.StringIO()
    q = Renderer(quiet, live=False, quiet=True, plain_every=0.0)
    q.event({"kind": "start", "phase": "p", "id": "1", "done": 0, "total": 4, "unit": "", "current": ""})
    q.tick()
    assert quiet.getvalue() == ""  # -q: no start line, and a status line only every QUIET_EVERY_S


def test_live_line_rewrites_in_place_and_keeps_only_major_final_lines():
    out = io.StringIO()
    r = Renderer(out, live=True, width=lambda: 60, live_every=0.0)
    _feed(r)
    text = out.getvalue()
    assert "\rtiny[smoke] bases  1/2 base  [b1]" in text
    assert text.endswith("tiny[smoke] bases  2/2 base in 0s\n")  # the live line becomes the final one
    assert all(len(seg.replace("\x1b[K", "")) <= 59 for seg in text.split("\r"))  # fits the width
    minor = io.StringIO()
    m = Renderer(minor, live=True, width=lambda: 60, live_every=0.0)
    _feed(m, minor=True)
    assert "\rtiny[smoke] bases 1/2" in minor.getvalue()
    assert " in 0s" not in minor.getvalue()  # an entry inside a phase leaves no line behind
    assert r.release() is True and m.release() is True  # both wrote since pytest last did
    assert minor.getvalue().endswith("\r\x1b[K")  # m's live line was still open: erased
    assert r.release() is False and m.release() is False


def test_eta_from_rate_and_clock():
    assert clock(59) == "59s" and clock(61) == "1m01s" and clock(3700) == "1h01m"
    r = Renderer(io.StringIO(), live=False, plain_every=1e9)
    r.event({"kind": "start", "phase": "p", "id": "1", "done": 0, "total": 10, "unit": "", "current": ""})
    st = r.phases["1"]
    assert st.eta() is None  # nothing finished: no rate yet
    st.started -= 10.0
    st.done = 5
    assert 9.0 <= st.eta() <= 11.0  # 2 s a unit, 5 left


FAKE_CONFTEST = '''
pytest_plugins = ["loraplace.pytest_plugin.plugin"]
import multiprocessing
import time

import pytest

from loraplace.progress import events as progress
def child(n):
    with progress.phase("fake[smoke] child phase", n, unit="step") as ph:
        for i in range(n):
            time.sleep(0.05)
            ph.advance(current=f"child step {i}")
    return n


@pytest.fixture(scope="session")
def built(request):
    progress.note("loraplace fake[smoke]: building 3 entries; ~1 s here")
    with progress.phase("fake[smoke] pretraining bases", 3, unit="base") as ph:
        for i in range(3):
            time.sleep(0.05)
            ph.advance(current=f"entry {i}")
    if request.config.getoption("--fake-child"):
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            assert pool.apply(child, (3,)) == 3
    return 3


def pytest_addoption(parser):
    parser.addoption("--fake-child", action="store_true")
'''

FAKE_TESTS = '''
def test_a(built):
    assert built == 3


def test_b(built):
    assert built == 3
'''


@pytest.fixture
def fake(pytester, monkeypatch):
    pytester.makeconftest(FAKE_CONFTEST)
    pytester.makepyfile(test_fake=FAKE_TESTS)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO / "lib"), str(REPO), str(pytester.path)]))
    monkeypatch.delenv(progress.ENV, raising=False)
    for key in [k for k in os.environ if k.startswith("PYTEST_XDIST")]:
        monkeypatch.delenv(key)
    return pytester


FINAL = "fake[smoke] pretraining bases  3/3 base in "


def test_session_fixture_progress_reaches_a_log(fake):
    res = fake.runpytest_subprocess("-p", "no:cacheprovider", "--fake-child")
    res.assert_outcomes(passed=2)
    out = res.stdout.str()
    assert "loraplace fake[smoke]: building 3 entries" in out
    assert "fake[smoke] pretraining bases  0/3 base" in out and FINAL in out
    assert "fake[smoke] child phase  3/3 step in " in out  # from the spawned process, via its file
    assert out.index(FINAL) < out.index("2 passed")
    assert "\r" not in out  # a log gets plain lines


def test_quiet_keeps_one_line_per_phase(fake):
    res = fake.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    res.assert_outcomes(passed=2)
    out = res.stdout.str()
    assert FINAL in out and "0/3 base" not in out


def test_no_progress_shows_nothing(fake):
    res = fake.runpytest_subprocess("-p", "no:cacheprovider", "--no-progress", "--fake-child")
    res.assert_outcomes(passed=2)
    assert "fake[smoke]" not in res.stdout.str() + res.stderr.str()


def test_under_xdist_the_controller_shows_each_workers_phases(fake):
    pytest.importorskip("xdist")
    res = fake.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    res.assert_outcomes(passed=2)
    out = res.stdout.str()
    assert f"[gw0] {FINAL}" in out and f"[gw1] {FINAL}" in out
    assert "[gw0] loraplace fake[smoke]: building" in out


def test_a_terminal_gets_a_live_line(fake):
    """In a pseudo-terminal: the line is rewritten in place and ends as one line."""
    primary, secondary = pty.openpty()
    env = dict(os.environ, COLUMNS="120")
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider"], cwd=fake.path,
                            stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary, env=env)
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(primary)
    assert proc.wait(timeout=120) == 0
    out = b"".join(chunks).decode("utf-8", "replace")
    assert "\rfake[smoke] pretraining bases  0/3 base" in out  # updates within 0.25 s are skipped
    assert out.index("\rfake[smoke] pretraining bases  0/3 base") < out.index(FINAL)
    tail = out[out.index(FINAL):]
    assert "test_fake.py" in tail and ".." in tail  # pytest's own line restored after ours


def test_tiny_plan_line_says_what_is_missing_and_roughly_how_long(tmp_path, monkeypatch):
    from loraplace.tracks.tiny import build as tiny_build
    from loraplace.tracks.tiny import track as tiny
    from loraplace.train.cache import Cache

    monkeypatch.setattr(tiny_build.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    cold = tiny_build.plan_line(tiny.profile("smoke"), Cache(tmp_path), workers=2)
    # 4 organisms; the study pair: 6 conditions x 3 domains x 2 seeds, the added cells: 4 runs x 2 seeds
    assert "0 of 4 bases to pretrain (1200 steps each) (4 installed from the shipped pretrained files)" in cold
    assert f"up to {2 * 36 + 2 * 8} fine-tuning runs" in cold
    fast = tiny_build.REFERENCE_MINUTES["smoke"]
    assert f"roughly {fast}-{round(fast * tiny_build.SLOW_DAY)} min on idle CPUs" in cold and "longer now" not in cold
    monkeypatch.setattr(tiny_build.shipped, "lookup", lambda key: None)  # e.g. other library versions
    unshipped = tiny_build.plan_line(tiny.profile("smoke"), Cache(tmp_path), workers=2)
    slow = fast + tiny_build.PRETRAIN_MINUTES
    assert "4 of 4 bases to pretrain (1200 steps each), up to" in unshipped
    assert f"roughly {slow}-{round(slow * tiny_build.SLOW_DAY)} min on idle CPUs" in unshipped
    monkeypatch.setattr(Cache, "has", lambda self, kind, spec: True)  # bases cached
    monkeypatch.setattr(tiny_build.os, "getloadavg", lambda: (99.0, 0.0, 0.0))
    warm_bases = tiny_build.plan_line(tiny.profile("default"), Cache(tmp_path), workers=2)
    assert "0 of 4 bases" in warm_bases and "longer now (load 99.0" in warm_bases
    assert "`--profile smoke` takes a few minutes" in warm_bases


def test_a_crowded_line_goes_compact_and_parallel_phases_show_no_eta():
    r = Renderer(io.StringIO(), live=True, width=lambda: 80, live_every=0.0)
    r.event({"kind": "start", "phase": "tiny[smoke] pretraining + base eval", "id": "1", "done": 1, "total": 2,
             "unit": "base", "current": "parallel", "eta": False})
    r.event({"kind": "start", "phase": "tiny[smoke] fine-tuning + eval", "id": "2", "done": 0, "total": 72,
             "unit": "run", "current": ""})
    r.event({"kind": "start", "phase": "pretrain tiny_qwen3_5", "id": "3", "done": 600, "total": 1200,
             "minor": True})
    r.phases["1"].started -= 60
    r.phases["3"].started -= 60
    full = r.status()
    assert "[parallel]" in full and "ETA" not in full.split(" · ")[0]  # 1 of 2 done, yet no rate-based ETA
    short = r.status(width=100)
    assert len(full) > 100 and "[parallel]" not in short
    assert short.split(" · ") == ["tiny[smoke] pretraining + base eval 1/2", "tiny[smoke] fine-tuning + eval 0/72",
                                  "pretrain tiny_qwen3_5 600/1200 ETA 1m00s"]


REAL_CONFTEST = '''
pytest_plugins = ["loraplace.pytest_plugin.plugin"]
import dataclasses

import pytest

from loraplace.tracks.tiny import track as tiny

from loraplace.tracks.tiny import build as tiny_build
from loraplace.train.cache import Cache

MICRO = dataclasses.replace(
    tiny.PROFILES["smoke"], name="micro", hidden_size=32, pretrain_steps=4, pretrain_batch=2, pretrain_seq_len=63,
    seq_len=47, finetune_steps=2, finetune_batch=2, seeds=(0,), items=tiny.item_counts(3, 2, 3), max_new_tokens=4,
    code_tokens=4)


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    root = tmp_path_factory.getbasetemp().parent / "shared-cache"  # one cache for every xdist worker
    return tiny_build.build_tiny(MICRO, cache=Cache(root), workers=2)
'''


def test_a_real_cold_build_under_xdist_reports_from_its_spawned_workers(pytester, monkeypatch):
    """The real tiny builder (a micro profile) in two xdist workers, each filling the shared cache
    with two spawned processes: the controller shows every worker's plan and phases."""
    pytest.importorskip("xdist")
    pytester.makeconftest(REAL_CONFTEST)
    pytester.makepyfile(test_real="def test_a(built):\n    assert built.records\n\n\n"
                                  "def test_b(built):\n    assert built.records\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO / "lib"), str(REPO), str(pytester.path)]))
    monkeypatch.delenv(progress.ENV, raising=False)
    for key in [k for k in os.environ if k.startswith("PYTEST_XDIST")]:
        monkeypatch.delenv(key)
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", timeout=900)
    res.assert_outcomes(passed=2)
    out = res.stdout.str()
    assert "loraplace tiny[micro]: building into" in out and "4 of 4 bases to pretrain" in out
    assert "tiny[micro] pretraining + base eval  4/4 base in " in out
    assert "tiny[micro] fine-tuning + eval  " in out and "run in " in out


def test_the_eta_is_damped_against_a_sudden_change_of_rate(monkeypatch):
    """One slow unit (a base among runs, a load spike) moves the shown ETA gradually, and it keeps
    counting down between events."""
    from loraplace.progress import render

    now = [1000.0]
    monkeypatch.setattr(render.time, "monotonic", lambda: now[0])
    st = render._State({"phase": "p", "done": 0, "total": 100})
    now[0] += 100.0
    st.done = 10
    assert st.eta() == pytest.approx(900.0)  # 10 s a unit, 90 left
    now[0] += 10.0  # nothing finished for 10 s: the raw estimate jumps
    raw = st.raw_eta()
    shown = st.eta()
    assert raw == pytest.approx(990.0)
    expected = 890.0 + (990.0 - 890.0) * (1 - math.exp(-10.0 / max(render.ETA_TAU_S, 890.0 / 4)))
    assert shown == pytest.approx(expected) and shown < raw
    now[0] += 1.0  # a second later, no new information: it counts down toward the raw estimate only slowly
    assert abs(st.eta() - shown) < 5.0
