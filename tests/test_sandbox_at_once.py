"""`run_many(at_once=...)`: how many of its workers may run a sandbox now, asked as each starts.

The tiny evaluation lends its HumanEval batch one CPU while the model still runs on the other,
and both once the model is done. The sandboxes here are stand-ins that record how many run at
once; whether a limit that grows is seen without any sandbox ending is decided by events, not by
timing. Then real sandboxes, gated to one at a time: hostile items end as their own results and
free their slot, and a sandbox finds nothing the one before it in the slot left."""
from __future__ import annotations

import threading

from loraplace.sandbox import api
from sandbox_cases import OK, WRONG, attack, needs_full, prog


def _stand_in(monkeypatch, body):
    state = {"running": 0, "most": 0}
    lock = threading.Lock()

    def run_program(p, timeout, **kwargs):
        with lock:
            state["running"] += 1
            state["most"] = max(state["most"], state["running"])
        try:
            body(p)
            return api.SandboxResult("passed", p, "", 0.0, True)
        finally:
            with lock:
                state["running"] -= 1

    monkeypatch.setattr(api, "run_program", run_program)
    return state


def test_no_more_sandboxes_run_at_once_than_the_limit_allows(monkeypatch):
    state = _stand_in(monkeypatch, lambda p: None)
    out = api.run_many([f"p{i}" for i in range(12)], workers=4, progress=False, allow_unsandboxed=True,
                       at_once=lambda: 1)
    assert [r.reason for r in out] == [f"p{i}" for i in range(12)]  # order kept
    assert state["most"] == 1


def test_a_limit_that_grows_lets_the_next_sandbox_start_while_one_runs(monkeypatch):
    wider, first, second = threading.Event(), threading.Event(), threading.Event()

    def body(p):
        if p == "first":  # holds its slot until the second sandbox has started beside it
            first.set()
            assert second.wait(30), "the second sandbox never started beside the first"
        else:
            second.set()

    state = _stand_in(monkeypatch, body)
    got = []
    runner = threading.Thread(target=lambda: got.extend(api.run_many(
        ["first", "second"], workers=2, progress=False, allow_unsandboxed=True,
        at_once=lambda: 2 if wider.is_set() else 1)))
    runner.start()
    assert first.wait(30)
    assert state["running"] == 1  # the limit still 1: the second waits
    wider.set()  # the limit grows while the first runs: nothing ends to announce it
    runner.join(60)
    assert not runner.is_alive() and [r.status for r in got] == ["passed", "passed"]
    assert state["most"] == 2 and second.is_set()


# --- the same gate with real sandboxes and hostile items ------------------------------------------
@needs_full
def test_hostile_items_of_a_gated_batch_end_as_their_own_results_and_free_their_slot():
    hang, exits, forged = (prog("    while True:\n        pass\n"), prog("    import os\n    os._exit(0)\n"),
                           attack("import sys\nsys.exit(0)\n"))
    got = api.run_many([hang, exits, forged, prog(OK), prog(WRONG)], workers=2, timeout=1.5, progress=False,
                       at_once=lambda: 1)
    assert [r.status for r in got[:2]] == ["timeout", "crashed"], got
    assert got[2].status != "passed" and got[4].status == "failed", got
    assert got[3].status == "passed", got[3]  # after all of them, one at a time


@needs_full
def test_a_sandbox_after_another_in_the_one_slot_finds_nothing_it_left():
    writer = attack("open('/tmp/leak', 'w').write('x')\nopen('leak', 'w').write('x')\n", body=OK)
    reader = prog("    import os\n    return x + 1 + os.path.exists('/tmp/leak') + os.path.exists('leak')\n")
    # one slot, two threads: the writer runs first or second, so at least two readers run after it
    got = api.run_many([writer, reader, reader, reader], workers=2, progress=False, at_once=lambda: 1)
    assert got[0].status == "passed", got[0]  # it did write both files
    assert [r.status for r in got[1:]] == ["passed"] * 3, got[1:]
