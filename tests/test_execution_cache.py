"""The content-addressed HumanEval execution cache (loraplace.scoring.execution)."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest

from loraplace.scoring import execution as ec
from loraplace.scoring import humaneval

T = 3.0  # the default limit: an honest program passes within it on a loaded machine too (the
# infinite loop burns it once, on the cold call)


@pytest.fixture(scope="module")
def items():
    probs = humaneval.load_problems()
    return [("HumanEval/0", probs["HumanEval/0"]["canonical_solution"]),   # passes
            ("HumanEval/2", "    return 42\n"),                             # fails
            ("HumanEval/4", "    while True:\n        pass\n")]             # times out


def _strip(res):
    return [{k: v for k, v in r.items() if k != "cached"} for r in res]


def _entries(cache_dir: Path):
    return sorted(cache_dir.glob("??/*.json"))


def test_cold_then_warm(items, tmp_path, monkeypatch):
    cold = ec.execute_cached(items, "corrected", cache_dir=tmp_path, workers=2, timeout=T,
                             progress=False)
    assert [r["task_id"] for r in cold] == [t for t, _ in items]
    assert [r["status"] for r in cold] == ["passed", "failed", "timeout"]
    assert [r["score"] for r in cold] == [1, 0, 0]
    assert not any(r["cached"] for r in cold)
    assert set(cold[0]) == set(ec.RESULT_KEYS) | {"cached"}
    assert len(_entries(tmp_path)) == 3  # the infinite loop used its CPU: stored as confirmed
    k = ec.cache_key(*items[2], "corrected", T)
    doc = json.loads((tmp_path / k[:2] / f"{k}.json").read_text())
    assert doc["result"]["confirmed"] in ec.CONFIRMATIONS
    # the first warm call runs the pass once more (it was pending), and only the pass
    real, ran = humaneval.score_rows, []

    def counting(rows, *a, **kw):
        ran.extend(r["task_id"] for r in rows)
        return real(rows, *a, **kw)

    monkeypatch.setattr(humaneval, "score_rows", counting)
    first_warm = ec.execute_cached(items, "corrected", cache_dir=tmp_path, workers=2, timeout=T,
                                   progress=False)
    assert ran == [items[0][0]] and [r["cached"] for r in first_warm] == [False, True, True]
    assert _strip(first_warm)[1:] == _strip(cold)[1:] and first_warm[0]["status"] == "passed"

    def boom(*a, **k):
        raise AssertionError("score_rows must not run on a warm cache")

    monkeypatch.setattr(humaneval, "score_rows", boom)
    warm = ec.execute_cached(items, "corrected", cache_dir=tmp_path, workers=2, timeout=T,
                             progress=False)
    assert all(r["cached"] for r in warm)
    assert _strip(warm) == _strip(first_warm)
    # order follows the input; a repeated item is served from the same entry
    rev = ec.execute_cached(items[::-1] + items[:1], "corrected", cache_dir=tmp_path, timeout=T,
                            progress=False)
    assert _strip(rev) == _strip(warm[::-1] + warm[:1])


def test_entry_layout_has_no_completion_text(items, tmp_path):
    ec.execute_cached(items[:1], "corrected", cache_dir=tmp_path, timeout=T, progress=False)
    (path,) = _entries(tmp_path)
    key = ec.cache_key(*items[0], "corrected", T)
    assert path == tmp_path / key[:2] / f"{key}.json"
    doc = json.loads(path.read_text())
    assert doc["key"] == key and "completion" not in doc["inputs"]
    assert doc["inputs"]["sandbox_version"] == ec.SANDBOX_VERSION
    assert doc["inputs"]["completion_sha256"] == hashlib.sha256(items[0][1].encode("utf-8")).hexdigest()
    assert not list(tmp_path.glob("??/.tmp-*"))  # atomic writes leave no temp files


def test_corrupt_entry_is_reexecuted_with_a_warning(items, tmp_path):
    two = [items[1], ("HumanEval/3", "    return None\n")]  # two failures: served once stored
    ec.execute_cached(two, "corrected", cache_dir=tmp_path, timeout=T, progress=False)
    bad = tmp_path / (k := ec.cache_key(*two[1], "corrected", T))[:2] / f"{k}.json"
    bad.write_text('{"key": "trunc')
    with pytest.warns(RuntimeWarning, match="unreadable"):
        res = ec.execute_cached(two, "corrected", cache_dir=tmp_path, timeout=T, progress=False)
    assert [r["cached"] for r in res] == [True, False]
    assert res[1]["status"] == "failed"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # repaired: no warning, all cached
        again = ec.execute_cached(two, "corrected", cache_dir=tmp_path, timeout=T, progress=False)
    assert all(r["cached"] for r in again)


def _fake(statuses_by_call):
    """A score_rows stand-in: call n returns statuses_by_call[n] for its rows."""
    calls = []

    def score_rows(rows, scorer, **kw):
        statuses = statuses_by_call[len(calls)]
        calls.append((len(rows), kw.get("workers")))
        return [{"task_id": r["task_id"], "score": int(s == "passed"), "status": s, "reason": s,
                 "stderr_tail": "", "duration_s": 0.1, "network_isolated": True,
                 "isolation": "full", "cpu_s": 0.0} for r, s in zip(rows, statuses)]
    return score_rows, calls


def test_what_one_run_does_not_settle_runs_again_before_storing(items, tmp_path, monkeypatch):
    """Round 1: a timeout that did not use its CPU (load?), a crash, another such timeout.
    Round 2 gives pass, fail, timeout: a single pass beside a timeout is returned, not stored;
    the fail is stored (one run settles a failure); the unconfirmed timeout is not stored."""
    fake, calls = _fake([["timeout", "crashed", "timeout"], ["passed", "failed", "timeout"]])
    monkeypatch.setattr(humaneval, "score_rows", fake)
    res = ec.execute_cached(items, "corrected", cache_dir=tmp_path, timeout=T, progress=False)
    assert calls == [(3, None), (3, None)]
    assert [r["status"] for r in res] == ["passed", "failed", "timeout"]
    stored = {json.loads(p.read_text())["result"]["status"] for p in _entries(tmp_path)}
    assert stored == {"failed"}
    fake, calls = _fake([["crashed"], ["crashed"]])
    monkeypatch.setattr(humaneval, "score_rows", fake)
    other = [("HumanEval/5", "    pass\n")]
    assert ec.execute_cached(other, "corrected", cache_dir=tmp_path, timeout=T,
                             progress=False)[0]["status"] == "crashed"
    assert len(_entries(tmp_path)) == 2  # a repeated crash is stored


def _alternating(start: str):
    """A 50 %-flaky program, deterministically: its runs alternate pass / fail from `start`."""
    state = {"n": 0 if start == "passed" else 1}

    def score_rows(rows, scorer, **kw):
        out = []
        for r in rows:
            s = "passed" if state["n"] % 2 == 0 else "failed"
            state["n"] += 1
            out.append({"task_id": r["task_id"], "score": int(s == "passed"), "status": s,
                        "reason": s, "stderr_tail": "", "duration_s": 0.1, "network_isolated": True,
                        "isolation": "full", "cpu_s": 0.01})
        return out
    return score_rows


@pytest.mark.parametrize("start", ["passed", "failed"])
def test_a_flaky_program_scored_twice_into_one_cache_never_returns_a_cached_pass(
        items, tmp_path, monkeypatch, start):
    monkeypatch.setattr(humaneval, "score_rows", _alternating(start))
    first = ec.execute_cached(items[:1], "corrected", cache_dir=tmp_path, timeout=T, progress=False)
    second = ec.execute_cached(items[:1], "corrected", cache_dir=tmp_path, timeout=T, progress=False)
    for r in first + second:
        assert not (r["cached"] and r["status"] == "passed"), r
        assert r["score"] == 0, r  # flaky and failed both count as failed
    assert first[0]["status"] == ("flaky" if start == "passed" else "failed")
    assert second[0]["cached"] and second[0]["status"] == first[0]["status"]


def test_a_pass_is_stored_pending_after_a_second_run_agrees(items, tmp_path, monkeypatch):
    fake, calls = _fake([["passed"], ["passed"], ["passed"]])
    monkeypatch.setattr(humaneval, "score_rows", fake)
    res = ec.execute_cached(items[:1], "corrected", cache_dir=tmp_path, timeout=T, progress=False)
    assert len(calls) == 2 and res[0]["status"] == "passed" and not res[0]["cached"]
    (path,) = _entries(tmp_path)
    assert json.loads(path.read_text())["result"]["confirmed"] == "pending"
    res = ec.execute_cached(items[:1], "corrected", cache_dir=tmp_path, timeout=T, progress=False)
    assert len(calls) == 3 and res[0]["status"] == "passed" and not res[0]["cached"]
    assert json.loads(path.read_text())["result"]["confirmed"] == "reproduced"


def test_a_timeout_that_used_its_whole_limit_in_cpu_is_not_rerun(items, tmp_path, monkeypatch):
    """The batch lets a timeout run on to show it is CPU-bound (confirm_cpu_s); one whose
    sandbox then reports its whole limit in CPU is stored as such; the other (90 % of its
    limit: an honest program starved by load) runs again, and is not stored as a timeout
    unless that run used its whole limit."""
    calls = []

    def fake(rows, scorer, **kw):
        calls.append((len(rows), kw.get("workers"), kw.get("confirm_cpu_s", 0.0)))
        cpu = [T, 0.9 * T] if len(calls) == 1 else [0.9 * T] * len(rows)
        return [{"task_id": r["task_id"], "score": 0, "status": "timeout", "reason": "t",
                 "stderr_tail": "", "duration_s": T, "network_isolated": True,
                 "isolation": "full", "cpu_s": c} for r, c in zip(rows, cpu)]
    monkeypatch.setattr(humaneval, "score_rows", fake)
    res = ec.execute_cached(items[:2], "corrected", cache_dir=tmp_path, timeout=T, progress=False)
    assert calls == [(2, None, ec.CONFIRM_FOR * T), (1, None, ec.CONFIRM_FOR * T)]
    assert [r["status"] for r in res] == ["timeout", "timeout"]
    stored = sorted(json.loads(p.read_text())["result"]["confirmed"] for p in _entries(tmp_path))
    assert stored == ["cpu-bound"]


def test_a_timeout_that_sleeps_is_never_stored(tmp_path):
    """Sleeping past the limit leaves the CPU unused: nothing shows the timeout is not load's,
    so it is not stored (it runs again each time), however idle or loaded the machine."""
    sleepy = ("HumanEval/2", "    import time\n    time.sleep(5)\n    return 0.5\n")
    res = ec.execute_cached([sleepy], "corrected", cache_dir=tmp_path, timeout=T, progress=False)
    assert res[0]["status"] == "timeout" and not _entries(tmp_path)


def test_unsandboxed_results_are_never_stored(items, tmp_path, monkeypatch):
    fake, _ = _fake([["passed"], ["passed"]])

    def weak(rows, scorer, **kw):
        return [{**r, "isolation": "none", "network_isolated": False} for r in fake(rows, scorer, **kw)]
    monkeypatch.setattr(humaneval, "score_rows", weak)
    res = ec.execute_cached(items[:1], "corrected", cache_dir=tmp_path, timeout=T, progress=False)
    assert res[0]["isolation"] == "none" and not _entries(tmp_path)


@pytest.mark.parametrize("field,value", [("score", 1), ("score", 2), ("status", "weird"),
                                         ("isolation", "none"), ("score", True),
                                         ("status", "timeout"), ("reason", None)])
def test_entries_are_validated_on_load(items, tmp_path, field, value):
    ec.execute_cached(items[1:2], "corrected", cache_dir=tmp_path, timeout=T, progress=False)
    (path,) = _entries(tmp_path)
    doc = json.loads(path.read_text())
    doc["result"][field] = value  # the entry says "failed" with score 0: each edit breaks it
    path.write_text(json.dumps(doc))
    with pytest.warns(RuntimeWarning, match="malformed or non-deterministic"):
        res = ec.execute_cached(items[1:2], "corrected", cache_dir=tmp_path, timeout=T,
                                progress=False)
    assert res[0]["status"] == "failed" and not res[0]["cached"]


def test_an_edited_entry_fails_its_checksum(items, tmp_path):
    ec.execute_cached(items[1:2], "corrected", cache_dir=tmp_path, timeout=T, progress=False)
    (path,) = _entries(tmp_path)
    doc = json.loads(path.read_text())
    assert doc["checksum"] == ec._checksum(doc["key"], doc["inputs"], doc["result"])
    doc["result"]["stderr_tail"] = "edited"  # still a valid result: only the checksum tells
    path.write_text(json.dumps(doc))
    with pytest.warns(RuntimeWarning, match="checksum"):
        res = ec.execute_cached(items[1:2], "corrected", cache_dir=tmp_path, timeout=T,
                                progress=False)
    assert res[0]["status"] == "failed" and not res[0]["cached"]


@pytest.mark.parametrize("content", ["[]", "null", '"x"', "1", "[" * 100_000 + "]" * 100_000,
                                     '{"key": ' * 50_000 + "1" + "}" * 50_000, "directory",
                                     "oversized"])
def test_malformed_entries_are_missing_with_a_warning(items, tmp_path, content):
    ec.execute_cached(items[1:2], "corrected", cache_dir=tmp_path, timeout=T, progress=False)
    (path,) = _entries(tmp_path)
    path.unlink()
    if content == "directory":
        path.mkdir()
    elif content == "oversized":
        path.write_text(" " * (ec.MAX_ENTRY_BYTES + 1) + "{}")
    else:
        path.write_text(content)
    with pytest.warns(RuntimeWarning, match="execution cache"):
        res = ec.execute_cached(items[1:2], "corrected", cache_dir=tmp_path, timeout=T,
                                progress=False)
    assert res[0]["status"] == "failed" and not res[0]["cached"]


def test_lone_surrogate_does_not_lose_the_batch(items, tmp_path):
    bad = ("HumanEval/0", "    return '\ud800'\n")
    res = ec.execute_cached([items[0], bad, items[1]], "corrected", cache_dir=tmp_path, timeout=T,
                            progress=False)
    assert [r["status"] for r in res] == ["passed", "failed", "failed"]
    assert len(_entries(tmp_path)) == 3


def test_key_depends_on_every_input(items):
    t, c = items[1]
    base = ec.cache_key(t, c, "corrected", 3.0)
    assert base == ec.cache_key(t, c, "corrected", 3)  # 3 and 3.0 are one timeout
    others = {ec.cache_key(t, c, "as-published", 3.0), ec.cache_key(t, c, "corrected", 1.0),
              ec.cache_key(t, c + " ", "corrected", 3.0), ec.cache_key("HumanEval/3", c, "corrected", 3.0)}
    assert base not in others and len(others) == 4


def test_sandbox_version_salts_the_key(items, monkeypatch):
    before = ec.cache_key(*items[0], "corrected", 3.0)
    monkeypatch.setattr(ec, "SANDBOX_VERSION", ec.SANDBOX_VERSION + "-next")
    assert ec.cache_key(*items[0], "corrected", 3.0) != before


def test_other_scorer_or_timeout_executes_again(items, tmp_path):
    ec.execute_cached(items[:1], "corrected", cache_dir=tmp_path, timeout=T, progress=False)
    raw = ec.execute_cached(items[:1], "as-published", cache_dir=tmp_path, timeout=T, progress=False)
    longer = ec.execute_cached(items[:1], "corrected", cache_dir=tmp_path, timeout=2.0, progress=False)
    assert not raw[0]["cached"] and not longer[0]["cached"]
    assert len(_entries(tmp_path)) == 3


def test_as_published_executes_through_the_cache_too(items, tmp_path):
    """as-published executes the raw completion (one meaning in every track): cached like corrected."""
    res = ec.execute_cached(items, "as-published", cache_dir=tmp_path, progress=False)
    assert all(r["status"] != "not-executed" for r in res) and _entries(tmp_path)
    assert set(res[0]) >= set(ec.RESULT_KEYS) | {"cached"}
    with pytest.raises(ValueError):
        ec.execute_cached(items, "nope", cache_dir=tmp_path)


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("LORAPLACE_CACHE_DIR", str(tmp_path / "a"))
    assert ec.default_cache_dir() == tmp_path / "a" / "humaneval"
    monkeypatch.delenv("LORAPLACE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert ec.default_cache_dir() == tmp_path / "x" / "loraplace" / "humaneval"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert ec.default_cache_dir() == tmp_path / "h" / ".cache" / "loraplace" / "humaneval"


# Each racer wraps score_rows to append one line per executed item to a shared log (O_APPEND
# writes of one short line are atomic), waits at a barrier file, then runs the same batch.
RACER = textwrap.dedent("""
    import json, os, sys, time
    from loraplace.scoring import execution as ec
    from loraplace.scoring import humaneval
    cache, log, go, out = sys.argv[1:5]
    items = [tuple(x) for x in json.loads(sys.stdin.read())]
    real = humaneval.score_rows
    def counting(rows, *a, **k):
        with open(log, "a") as f:
            for r in rows:
                f.write(f"{os.getpid()} {r['task_id']}\\n")
        return real(rows, *a, **k)
    humaneval.score_rows = counting
    while not os.path.exists(go):
        time.sleep(0.01)
    res = ec.execute_cached(items, "corrected", cache_dir=cache, workers=1, timeout=3.0,
                            progress=False)
    with open(out, "w") as f:
        json.dump(res, f)
""")


def test_two_racing_processes_execute_each_item_once(items, tmp_path):
    cache, log, go = tmp_path / "cache", tmp_path / "executed.log", tmp_path / "go"
    payload = json.dumps(items)
    procs = []
    for n in range(2):
        p = subprocess.Popen([sys.executable, "-c", RACER, str(cache), str(log), str(go),
                              str(tmp_path / f"out{n}.json")], stdin=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONWARNINGS": "error"})
        p.stdin.write(payload)
        p.stdin.close()
        procs.append(p)
    time.sleep(1.0)  # both import and reach the barrier
    go.touch()
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    executed = [line.split() for line in log.read_text().splitlines()]
    by_item = {t: [pid for pid, tt in executed if tt == t] for _, t in executed}
    # the fail and the timeout ran once, in one process; the pass twice in the process that
    # claimed it (pending), then once in the other, after (its first warm call: it confirms)
    passed, *others = [t for t, _ in items]
    assert sorted(by_item) == sorted(t for t, _ in items)
    assert all(len(by_item[t]) == 1 for t in others), by_item
    first, *_, last = by_item[passed]
    assert len(by_item[passed]) == 3 and by_item[passed].count(first) == 2 and last != first
    outs = [json.loads((tmp_path / f"out{n}.json").read_text()) for n in range(2)]
    same = [[{k: v for k, v in r.items() if k != "duration_s"} for r in _strip(o)] for o in outs]
    assert same[0] == same[1]  # (the pass's duration is its own run's in each)
    assert sorted(r["cached"] for o in outs for r in o) == [False] * 4 + [True] * 2
    assert len(_entries(cache)) == 3


def test_the_cli_scores_through_the_tracks_cache(items, tmp_path, capsys, monkeypatch):
    """`loraplace humaneval-score FILE --cache-dir DIR` writes the entries the published track
    reads (same keys) and, warm (after the call that confirms the pending pass), executes
    nothing."""
    from loraplace import cli

    f = tmp_path / "x__humaneval.jsonl"
    f.write_text("".join(json.dumps({"task_id": t, "completion": c}) + "\n" for t, c in items[:2]))
    cache = tmp_path / "cache"
    args = ["humaneval-score", str(f), "--json", "--cache-dir", str(cache), "--timeout", "3"]
    assert cli.main(args) == 0
    cold = json.loads(capsys.readouterr().out)
    assert cold["by_status"] == {"failed": 1, "passed": 1}
    assert {p.stem for p in _entries(cache)} == {ec.cache_key(t, c, "corrected", 3.0) for t, c in items[:2]}

    def boom(*a, **k):
        raise AssertionError("score_rows must not run on a warm cache")

    assert cli.main(args) == 0  # first warm call: the pass runs once more (pending before)
    assert json.loads(capsys.readouterr().out) == cold
    monkeypatch.setattr(humaneval, "score_rows", boom)
    assert cli.main(args) == 0
    assert json.loads(capsys.readouterr().out) == cold
