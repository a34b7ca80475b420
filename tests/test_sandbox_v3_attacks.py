"""Attacks on sandbox v3 by an adversary who has read its source: frames the scorer must not
parse, stale or unsolicited frames, values that break the checker, a forged CPU-limit death,
and the reused checker process. Every completion here is hostile on purpose."""
from __future__ import annotations

import json

from loraplace.sandbox import api as sandbox
from loraplace.scoring import execution as ec
from sandbox_cases import OK, attack, needs_full, prog, run

pytestmark = needs_full


def frames_on_every_fd(*bodies: str, then: str = "") -> str:
    """Module-level code writing raw frames (4-byte length + body) on every open fd > 2."""
    return ("import os\n"
            f"for body in {list(bodies)!r}:\n"
            "    b = body.encode()\n"
            "    for fd in [int(f) for f in os.listdir('/proc/self/fd') if int(f) > 2]:\n"
            "        try:\n"
            "            os.write(fd, len(b).to_bytes(4, 'big') + b)\n"
            "        except OSError:\n"
            "            pass\n" + then)


def test_an_oversized_message_of_a_small_kind_is_not_parsed():
    r = run(attack(frames_on_every_fd('["raised","X",[],null,"' + "a" * 100_000 + '"]')))
    assert r.status == "crashed" and "limit for its kind" in r.reason, r


def test_a_json_object_in_a_frame_is_refused():
    r = run(attack(frames_on_every_fd('["ready",{"k":1}]')))
    assert r.status == "crashed" and "malformed" in r.reason, r


def test_unsolicited_values_before_ready_never_pass():
    r = run(attack(frames_on_every_fd('["value","2"]', '["value","6"]', '["ready"]')))
    assert r.status == "crashed", r


def test_values_that_break_the_checker_end_that_item_only():
    deep = '["value","' + "[" * 200 + "]" * 200 + '"]'
    not_str = '["value",[1,2]]'
    bad = [prog(frames_on_every_fd(b, then="import time\ntime.sleep(30)\n").replace("\n", "\n    ")
                .join(["    ", "\n"])) for b in (deep, not_str)]
    res = sandbox.run_many([bad[0], prog(OK), bad[1], prog(OK)], workers=1, timeout=5.0,
                           progress=False)
    assert [r.status for r in res] == ["crashed", "passed", "crashed", "passed"], res
    assert all("malformed value" in r.reason for r in (res[0], res[2])), res


def test_a_self_inflicted_cpu_limit_death_is_never_cached(tmp_path):
    """SIGXCPU sent by the program to itself reads as a CPU-limit timeout, but its CPU never
    reached the limit: not stored, however often it repeats."""
    item = ("HumanEval/2", "    import os, signal\n    os.kill(os.getpid(), signal.SIGXCPU)\n")
    res = ec.execute_cached([item], "corrected", cache_dir=tmp_path, timeout=2.0, progress=False)
    # (on a very loaded machine it may not even get to run before its wall-clock limit)
    assert res[0]["status"] == "timeout", res
    assert not list(tmp_path.glob("??/*.json"))


def test_a_program_that_passes_only_sometimes_is_never_stored_as_a_pass_after_disagreeing(tmp_path):
    """Pass on even uids, spin on odd ones (the uid is fresh and random per sandbox): whatever
    the two runs give, a stored entry is a pass only if both runs passed, and a pass beside a
    CPU-bound timeout is flaky."""
    item = ("HumanEval/2", "    import os\n    while os.getuid() % 2:\n        pass\n"
                           "    return number % 1.0\n")
    res = ec.execute_cached([item], "corrected", cache_dir=tmp_path, timeout=2.0, progress=False)
    entries = list(tmp_path.glob("??/*.json"))
    for path in entries:
        stored = json.loads(path.read_text())["result"]
        assert stored["status"] in ("passed", "flaky", "timeout"), stored
        if stored["status"] == "passed":
            assert stored["confirmed"] == "pending"  # one scoring saw it: never served
    assert res[0]["status"] in ("passed", "flaky", "timeout"), res


def test_stop_iteration_cannot_end_an_iterator_protocol_in_check_early():
    """A check that consumes map(candidate, ...) would read a re-raised StopIteration as the
    end of the inputs: all(map(...)) of nothing is True. The candidate's StopIteration arrives
    as CandidateError instead."""
    check = ("def check(candidate):\n"
             "    assert all(map(lambda x: candidate(x) == x + 1, [1, 5]))\n")
    for exc in ("StopIteration", "StopAsyncIteration"):
        r = run(prog(f"    raise {exc}\n", test=check))
        assert r.status == "failed" and exc in r.reason, r  # re-raised as itself: passed
    assert run(prog(OK, test=check)).status == "passed"
