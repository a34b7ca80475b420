"""Nothing outlives the scorer: killed mid-batch (SIGKILL, SIGTERM, SIGINT), by an exception, or
after a failed spawn, it leaves no sandbox process, no checker and no cgroup behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loraplace.sandbox import api as sandbox
from loraplace.sandbox import isolation as iso_mod
from loraplace.sandbox import session as session_mod
from sandbox_cases import ISO, OK, needs_full, prog

TESTS = Path(__file__).parent
# The scorer as a user runs it in a terminal: Ctrl-C raises KeyboardInterrupt. A job started in
# the background by a non-interactive shell (a CI runner's) inherits SIGINT ignored, and Python
# then leaves it ignored, so the scorer installs the default handler itself.
SCORER = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from loraplace.sandbox import api as sandbox
from sandbox_cases import prog
sleeper = prog("    import time\\n    time.sleep(120)\\n")
sandbox.run_many([sleeper] * 6, workers=3, timeout=120, progress=False)
"""


def _cgroups(pid: int) -> list[Path]:
    return [d for parent in iso_mod.cgroup_parents(ISO.cgroup) for d in parent.glob(f"loraplace-{pid}-*")]


def _descendants(root: int) -> set[int]:
    parent = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat", "rb") as f:
                    parent[int(p)] = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    out, todo = set(), [root]
    while todo:
        kids = [p for p, pp in parent.items() if pp == todo[-1]]
        todo.pop()
        out.update(kids)
        todo.extend(kids)
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"  # a zombie has ended
    except OSError:
        return False


def _kill_mid_batch_and_check(scorer: subprocess.Popen, sig) -> None:
    """Once 3 sandboxes of `scorer` sleep, send `sig`; 5 s after it has ended no process it
    started and no cgroup of its is left."""
    deadline = time.monotonic() + 60
    per_sandbox = len(iso_mod.cgroup_parents(ISO.cgroup))  # v1: one directory per controller
    while len(_cgroups(scorer.pid)) < 3 * per_sandbox and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # the sleepers are defined and waiting in `check`
    procs = _descendants(scorer.pid)
    assert _cgroups(scorer.pid) and len(procs) >= 6, procs  # 3 sandboxes at least
    scorer.send_signal(sig)
    scorer.wait(timeout=30)
    end = time.monotonic() + 5
    while (_cgroups(scorer.pid) or any(map(_alive, procs))) and time.monotonic() < end:
        time.sleep(0.1)
    assert _cgroups(scorer.pid) == []
    assert [p for p in procs if _alive(p)] == []


@needs_full
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_killing_the_scorer_mid_batch_leaves_nothing_after_5s(sig):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    scorer = subprocess.Popen([sys.executable, "-c", SCORER], env=env, stderr=subprocess.DEVNULL)
    try:
        _kill_mid_batch_and_check(scorer, sig)
    finally:
        if scorer.poll() is None:
            scorer.kill()


@needs_full
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killing_humaneval_score_with_a_cache_mid_batch_leaves_nothing_after_5s(sig, tmp_path):
    """The command a user runs, `loraplace humaneval-score FILE --cache-dir DIR`, killed while 3
    sandboxes sleep: no process, no cgroup; after SIGTERM no claim is left in the cache either
    (after SIGKILL the claims name a dead process, which binds nobody)."""
    import json

    f = tmp_path / "sleepers__humaneval.jsonl"
    f.write_text("".join(json.dumps({"task_id": "HumanEval/2", "completion":
                                     f"    import time\n    time.sleep(120 + {k})\n"}) + "\n"
                         for k in range(6)))
    cache = tmp_path / "cache"
    scorer = subprocess.Popen([sys.executable, "-m", "loraplace.cli", "humaneval-score", str(f),
                               "--cache-dir", str(cache), "--timeout", "120", "--workers", "3",
                               "--json"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _kill_mid_batch_and_check(scorer, sig)
        if sig == signal.SIGTERM:
            assert scorer.returncode == 128 + signal.SIGTERM
            assert list(cache.glob("claims/*.claim")) == []
    finally:
        if scorer.poll() is None:
            scorer.kill()


@needs_full
def test_an_exception_in_the_batch_kills_its_live_sandboxes(monkeypatch):
    """An exception out of run_many (here: the progress bar fails on the first item) ends the
    other items at once and removes their cgroups."""
    from loraplace.progress import events

    real = events.phase

    class Boom(Exception):
        pass

    def phase(*a, **k):
        bar = real(*a, **k)

        def advance(*_a, **_k):
            raise Boom()
        bar.advance = advance
        return bar

    monkeypatch.setattr(events, "phase", phase)
    sleeper = prog("    import time\n    time.sleep(120)\n")
    t0 = time.monotonic()
    with pytest.raises(Boom):
        sandbox.run_many([prog(OK), sleeper, sleeper], workers=3, timeout=120, progress=False)
    assert time.monotonic() - t0 < 60  # not the sleepers' 120 s
    assert _cgroups(os.getpid()) == [] and not session_mod.LIVE


@needs_full
def test_a_failed_spawn_leaks_no_fd_and_no_cgroup(monkeypatch):
    def fail(*a, **k):
        raise OSError(24, "Too many open files")

    before = set(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(session_mod.subprocess, "Popen", fail)
    r = sandbox.run_program(prog(OK))
    assert r.status == "crashed" and "Too many open files" in r.reason, r
    assert r.reason.startswith(sandbox.NOT_STARTED), r  # the program never ran: no evidence
    assert set(os.listdir("/proc/self/fd")) <= before
    assert _cgroups(os.getpid()) == [] and not session_mod.LIVE
