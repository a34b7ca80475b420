"""`execution.execute` (the tiny and paper tracks' sandbox path) keeps reproduced outcomes on disk:
a later process runs none of the programs an earlier one settled, reads back exactly what it
would have run, and never trusts a damaged entry."""
from __future__ import annotations

import json
import warnings

import pytest

from loraplace.sandbox import api as sandbox
from loraplace.scoring import execution as ec
from loraplace.scoring import programs as pg

TEST = "def check(candidate):\n    assert candidate(1) == 2\n"
PASS = sandbox.build_program("def f(x):\n", "    return x + 1\n", TEST, "f")
FAIL = sandbox.build_program("def f(x):\n", "    return x\n", TEST, "f")
CRASH_ON_IMPORT = sandbox.build_program("def f(x):\n", "    import this_module_does_not_exist\n    return x + 1\n",
                                        "import this_module_does_not_exist\n" + TEST, "f")


def _new_process(monkeypatch):
    """What a fresh worker process sees: an empty in-process memo."""
    monkeypatch.setattr(pg, "_MEMO", {})
    monkeypatch.setattr(pg, "_PENDING", {})


def _no_sandbox(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a cached program ran again")
    monkeypatch.setattr(sandbox, "run_many", refuse)


def test_a_later_process_reads_settled_programs_back_without_running_them(tmp_path, monkeypatch):
    _new_process(monkeypatch)
    cold = pg.execute([PASS, FAIL, PASS], timeout=2.0, cache_dir=tmp_path)
    assert [r["status"] for r in cold] == ["passed", "failed", "passed"]
    assert [r["passed"] for r in cold] == [True, False, True]
    assert len(list(tmp_path.glob("??/*.json"))) == 2  # one entry per distinct program
    # the pass is pending: the next process runs it once more (in a fresh sandbox), not the failure
    _new_process(monkeypatch)
    ran = []
    real = sandbox.run_many
    monkeypatch.setattr(sandbox, "run_many", lambda progs, **kw: ran.extend(progs) or real(progs, **kw))
    assert pg.execute([FAIL, PASS], timeout=2.0, cache_dir=tmp_path) == [cold[1], cold[0]]
    assert ran == [PASS]
    _new_process(monkeypatch)
    _no_sandbox(monkeypatch)
    assert pg.execute([FAIL, PASS], timeout=2.0, cache_dir=tmp_path) == [cold[1], cold[0]]


def test_the_program_text_is_not_stored_and_the_key_holds_timeout_and_sandbox_version(tmp_path, monkeypatch):
    _new_process(monkeypatch)
    pg.execute([FAIL], timeout=2.0, cache_dir=tmp_path)
    (entry,) = tmp_path.glob("??/*.json")
    text = entry.read_text()
    assert "return x" not in text
    doc = json.loads(text)
    assert doc["inputs"]["sandbox_version"] == ec.SANDBOX_VERSION and doc["inputs"]["timeout"] == 2.0
    assert pg.program_key(FAIL, 2.0)[0] != pg.program_key(FAIL, 3.0)[0]
    # the same text, split otherwise between completion and test, is another program
    i = TEST.index("\n")
    moved = sandbox.build_program(FAIL.prompt, FAIL.completion + "\n" + TEST[:i], TEST[i + 1:], "f")
    assert str(moved) == str(FAIL) and pg.program_key(moved, 2.0)[0] != pg.program_key(FAIL, 2.0)[0]
    monkeypatch.setattr(ec, "SANDBOX_VERSION", "another")  # read by program_key at call time
    assert pg.program_key(FAIL, 2.0)[0] != doc["key"]


def test_a_damaged_entry_is_run_again_with_a_warning(tmp_path, monkeypatch):
    _new_process(monkeypatch)
    first = pg.execute([FAIL], timeout=2.0, cache_dir=tmp_path)
    (entry,) = tmp_path.glob("??/*.json")
    doc = json.loads(entry.read_text())
    doc["result"]["status"], doc["result"]["score"] = "passed", 1  # forged: fails its checksum
    entry.write_text(json.dumps(doc))
    _new_process(monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = pg.execute([FAIL], timeout=2.0, cache_dir=tmp_path)
    assert again == first
    assert any("re-executing" in str(w.message) for w in caught)


def test_unsandboxed_outcomes_are_never_stored(tmp_path, monkeypatch):
    _new_process(monkeypatch)
    real = sandbox.run_many

    def weak(programs, **kw):
        return [sandbox.SandboxResult(**{**r.__dict__, "isolation": ()}) for r in real(programs, **kw)]
    monkeypatch.setattr(sandbox, "run_many", weak)
    pg.execute([FAIL, CRASH_ON_IMPORT], timeout=2.0, cache_dir=tmp_path)
    assert not list(tmp_path.glob("??/*.json"))


@pytest.mark.parametrize("program", [CRASH_ON_IMPORT])
def test_what_one_run_does_not_settle_is_stored_only_once_reproduced(tmp_path, monkeypatch, program):
    _new_process(monkeypatch)
    runs = []
    real = sandbox.run_many

    def counting(programs, **kw):
        runs.append(len(programs))
        return real(programs, **kw)
    monkeypatch.setattr(sandbox, "run_many", counting)
    pg.execute([program], timeout=2.0, cache_dir=tmp_path)
    stored = list(tmp_path.glob("??/*.json"))
    doc = json.loads(stored[0].read_text()) if stored else None
    if doc is not None:
        assert doc["result"]["confirmed"] in ec.STORED_AS[doc["result"]["status"]]
        if doc["result"]["confirmed"] != "one-run":
            assert len(runs) >= 2  # a second run before it was stored
