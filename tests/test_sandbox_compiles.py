"""`sandbox.compiles`: the programs of a batch that do not compile, found in one sandbox, get the
result their own sandbox gives them; nothing else is decided there; a reply that is not what the
compiling code returns is not believed; and `programs.execute` runs only the rest."""
from __future__ import annotations

import dataclasses
import json

import pytest

from loraplace.sandbox import api as sandbox
from loraplace.sandbox import compiles
from loraplace.sandbox import isolation as iso_mod
from loraplace.sandbox.outcome import classify_exception
from loraplace.scoring import programs as pg

TEST = "def check(candidate):\n    assert candidate(1) == 2\n"
PROMPT = "def f(x):\n"
COMPLETIONS = {
    "passes": "    return x + 1\n",
    "fails": "    return x\n",
    "raises while defined": "    return x + 1\nundefined_name\n",
    "invalid syntax": "    return x +\n",
    "unexpected indent": "    return x + 1\n        y = 2\n",
    "mixed tabs": "    if x:\n\treturn 2\n        return 2\n",
    "unterminated string": "    return 'x\n",
    "return outside a function": "    return x + 1\nreturn 3\n",
    "deep nesting": "    return " + "(" * 300 + "1" + ")" * 300 + "\n",
    "runs into the next prompt": "    return x + 1\n\ndef g(y):\n    \"\"\"Return y.\n",
    "null byte": "    return x + 1\x00\n",
    "deep unary chain": "    return " + "-" * 100_000 + "1\n",
}
PROGRAMS = {name: sandbox.build_program(PROMPT, c, TEST, "f") for name, c in COMPLETIONS.items()}


@pytest.fixture(scope="module")
def own_sandbox():
    """Each program's result in a sandbox of its own (api.run_program: the reference)."""
    return dict(zip(PROGRAMS, sandbox.run_many(list(PROGRAMS.values()), workers=2, progress=False)))


def test_a_program_that_does_not_compile_gets_its_own_sandboxs_result(own_sandbox):
    found = compiles.syntax_errors(list(PROGRAMS.values()))
    assert found is not None, "the compiling sandbox was not fully isolated here"
    decided = {name: v for name, v in zip(PROGRAMS, found) if v is not None}
    for name, (exc, msg) in decided.items():
        res = own_sandbox[name]
        assert (res.status, res.reason) == ("failed", classify_exception({"type": exc, "msg": msg})[1]), name
    # every text that does not compile with a SyntaxError is decided; nothing that compiles is
    for name, program in PROGRAMS.items():
        try:
            compile(program.prompt + program.completion, "<completion>", "exec", dont_inherit=True)
            syntax = False
        except SyntaxError:
            syntax = True
        except Exception:  # noqa: BLE001 -- e.g. RecursionError: left to its own sandbox
            syntax = False
        assert (name in decided) == syntax, name
    assert {"invalid syntax", "unexpected indent", "mixed tabs", "unterminated string",
            "return outside a function", "runs into the next prompt"} <= set(decided)
    assert not {"passes", "fails", "raises while defined"} & set(decided)


def test_a_reply_that_is_not_the_compilers_is_not_believed():
    def raw(text: str) -> bytes:
        return b'["value",' + json.dumps(text).encode() + b"]"

    good = '[null,["SyntaxError","invalid syntax (<completion>, line 2)"]]'
    assert compiles._reply(raw(good), 2) == [None, ("SyntaxError", "invalid syntax (<completion>, line 2)")]
    assert compiles._reply(raw('[[""],null]'), 2) == [None, None]  # not a SyntaxError: left to its sandbox
    for forged in ('[null]',  # one verdict short
                   '[null,["AssertionError","x"]]',  # not a compile error
                   '[null,["SyntaxError","' + "x" * 301 + '"]]',  # longer than exc_info keeps
                   '[null,["SyntaxError",1]]', '{"a":1}', '[null,["SyntaxError","a","b"]]', 'not json'):
        assert compiles._reply(raw(forged), 2) is None, forged
    assert compiles._reply(raw('[null,null]') + b" " * 10_000, 2) is None  # larger than n verdicts can be


def test_without_full_isolation_nothing_is_decided(monkeypatch):
    real = iso_mod.probe("auto")
    less = dataclasses.replace(real, features=tuple(f for f in real.features if f != "seccomp"))
    monkeypatch.setattr(iso_mod, "probe", lambda mode="auto": less)
    assert compiles.syntax_errors([PROGRAMS["invalid syntax"]]) is None


def test_execute_runs_in_sandboxes_of_their_own_only_the_programs_that_compile(tmp_path, monkeypatch, own_sandbox):
    monkeypatch.setattr(pg, "_MEMO", {})
    monkeypatch.setattr(pg, "_PENDING", {})
    ran: list[str] = []
    real = sandbox.run_many

    def recording(progs, **kw):
        ran.extend(progs)
        return real(progs, **kw)

    monkeypatch.setattr(sandbox, "run_many", recording)
    names = ["invalid syntax", "passes", "unterminated string", "fails", "invalid syntax"]
    got = pg.execute([PROGRAMS[n] for n in names], timeout=3.0, cache_dir=tmp_path)
    assert [r["status"] for r in got] == [own_sandbox[n].status for n in names]
    assert sorted(set(ran)) == sorted({PROGRAMS["passes"], PROGRAMS["fails"]})  # the pass twice: the pending rule
    assert ran.count(PROGRAMS["passes"]) == 2 and ran.count(PROGRAMS["fails"]) == 1
    stored = [e for e in tmp_path.glob("??/*.json")]
    assert len(stored) == 4  # every distinct program's settled outcome, the syntax errors' too
    monkeypatch.setattr(pg, "_MEMO", {})
    monkeypatch.setattr(pg, "_PENDING", {})
    ran.clear()
    again = pg.execute([PROGRAMS[n] for n in names], timeout=3.0, cache_dir=tmp_path)  # a later process
    assert [r["status"] for r in again] == [r["status"] for r in got]
    assert ran == [PROGRAMS["passes"]]  # only the pending pass is run again (and confirmed)


@pytest.mark.parametrize("hijacked", [
    "import os\ndef verdicts(texts):\n    os._exit(0)\n",  # the compiling interpreter dies mid-batch
    "def verdicts(texts):\n    while True:\n        pass\n",  # it never answers
    "def verdicts(texts):\n    return [['SyntaxError', 'x']] * (len(texts) + 1)\n",  # one verdict too many
])
def test_a_compiling_sandbox_taken_over_decides_nothing_and_every_program_runs(tmp_path, monkeypatch, own_sandbox,
                                                                               hijacked):
    monkeypatch.setattr(compiles, "COMPILER", hijacked)
    monkeypatch.setattr(compiles, "TIMEOUT_S", 2.0)
    monkeypatch.setattr(pg, "_MEMO", {})
    monkeypatch.setattr(pg, "_PENDING", {})
    names = ["invalid syntax", "passes", "fails", "unterminated string"]
    assert compiles.syntax_errors([PROGRAMS[n] for n in names]) is None
    got = pg.execute([PROGRAMS[n] for n in names], timeout=3.0, cache_dir=tmp_path)
    assert [(r["status"], r["passed"]) for r in got] == [(own_sandbox[n].status, own_sandbox[n].passed) for n in names]
