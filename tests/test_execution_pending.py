"""A pass one scoring observed is pending: never served from a cache, confirmed or made flaky by
the next scoring's run (loraplace.sandbox.reproduce, loraplace.scoring.execution). The rule with
fake runs, then with genuinely random programs in the real sandbox."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from loraplace.sandbox import reproduce
from loraplace.scoring import execution as ec
from loraplace.scoring import humaneval
from sandbox_cases import needs_full

T = 1.0


def run_of(status: str, cpu: float = 0.01) -> dict:
    return {"status": status, "score": int(status == "passed"), "reason": status, "cpu_s": cpu}


PENDING_PASS = {**run_of("passed"), "confirmed": "pending", "reason": "earlier"}


def settle_with(first: list[dict], reruns: list[dict], earlier=None):
    asked = []

    def rerun(idx):
        asked.append(list(idx))
        return [reruns[i] for i in idx]
    return reproduce.settle(first, rerun, T, earlier), asked


# --- the rule, with fake runs -------------------------------------------------------------------
def test_two_passes_in_one_scoring_are_reported_but_only_pending():
    out, asked = settle_with([run_of("passed")], [run_of("passed")])
    assert asked == [[0]] and out[0]["status"] == "passed" and out[0]["confirmed"] == "pending"
    assert "pending" not in reproduce.CONFIRMATIONS


@pytest.mark.parametrize("run,expected", [
    (run_of("passed"), ("passed", "reproduced")),
    (run_of("failed"), ("flaky", "disagree")),
    (run_of("timeout", cpu=T), ("flaky", "disagree")),     # CPU-bound: the program's own
    (run_of("crashed"), ("flaky", "disagree")),
    (run_of("blocked"), ("flaky", "disagree")),
])
def test_a_later_scoring_runs_a_pending_pass_once(run, expected):
    out, asked = settle_with([run], [], earlier={0: PENDING_PASS})
    assert asked == []  # one run, no second one in this scoring
    assert (out[0]["status"], out[0]["confirmed"]) == expected
    assert out[0]["score"] == int(expected[0] == "passed")
    if expected[0] == "flaky":
        assert "passed (earlier)" in out[0]["reason"]


def test_a_confirming_run_that_only_shows_load_runs_again_then_stays_pending():
    load = run_of("timeout", cpu=0.1 * T)
    out, asked = settle_with([load], [run_of("passed")], earlier={0: PENDING_PASS})
    assert asked == [[0]] and out[0]["confirmed"] == "reproduced"
    out, asked = settle_with([load], [run_of("failed")], earlier={0: PENDING_PASS})
    assert out[0]["status"] == "flaky"
    out, asked = settle_with([load], [load], earlier={0: PENDING_PASS})
    assert out[0]["status"] == "passed" and out[0]["confirmed"] == "pending"


def test_a_sandbox_the_host_never_started_is_no_evidence():
    """A failed spawn (EMFILE, EAGAIN on a machine under pressure) says nothing about the
    program: it never makes a pass flaky, and is never stored, however often it repeats."""
    from loraplace.sandbox.api import NOT_STARTED

    not_started = {**run_of("crashed"), "reason": f"{NOT_STARTED}: OSError: [Errno 24] Too many open files"}
    out, asked = settle_with([not_started], [not_started])
    assert asked == [[0]] and "confirmed" not in out[0]
    out, _ = settle_with([run_of("passed")], [not_started])
    assert out[0]["status"] == "passed" and "confirmed" not in out[0]  # reported, not stored
    out, _ = settle_with([not_started], [not_started], earlier={0: PENDING_PASS})
    assert out[0]["status"] == "passed" and out[0]["confirmed"] == "pending"
    crash = run_of("crashed")  # the program's own crash still disagrees with a pass
    out, _ = settle_with([crash], [], earlier={0: PENDING_PASS})
    assert out[0]["status"] == "flaky"


def test_pending_results_are_never_valid_results():
    res = {"task_id": "HumanEval/0", "score": 1, "status": "passed", "reason": "ok",
           "stderr_tail": "", "duration_s": 0.1, "network_isolated": True, "isolation": "full"}
    for how in ("pending", "twice", None, "one-run"):
        assert not ec.valid_result({**res, "confirmed": how}), how
    assert ec.valid_result({**res, "confirmed": "reproduced"})
    assert ec.valid_pending({**res, "confirmed": "pending"}) and ec.valid_pending({**res, "confirmed": "twice"})
    assert not ec.valid_pending({**res, "status": "failed", "score": 0, "confirmed": "pending"})


# --- through execute_cached, with fake runs -----------------------------------------------------
ITEM = [("HumanEval/0", "    return False\n")]


def scripted(statuses: list[str]):
    """A score_rows stand-in whose n-th executed row gets statuses[n]."""
    ran = []

    def score_rows(rows, scorer, **kw):
        out = []
        for r in rows:
            s = statuses[len(ran)]
            ran.append(s)
            out.append({"task_id": r["task_id"], "score": int(s == "passed"), "status": s,
                        "reason": s, "stderr_tail": "", "duration_s": 0.1,
                        "network_isolated": True, "isolation": "full", "cpu_s": 0.01})
        return out
    return score_rows, ran


def entry(cache: Path) -> dict:
    (path,) = sorted(cache.glob("??/*.json"))
    return json.loads(path.read_text())


def score(cache: Path) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a pending entry is no malformed one
        (res,) = ec.execute_cached(ITEM, "corrected", cache_dir=cache, timeout=T, progress=False)
    return res


@pytest.mark.parametrize("then,stored", [("passed", "reproduced"), ("failed", "disagree")])
def test_pass_pass_then_a_later_scoring_confirms_or_disagrees(tmp_path, monkeypatch, then, stored):
    fake, ran = scripted(["passed", "passed", then])
    monkeypatch.setattr(humaneval, "score_rows", fake)
    first = score(tmp_path)
    assert (first["status"], first["cached"]) == ("passed", False) and len(ran) == 2
    assert entry(tmp_path)["result"]["confirmed"] == "pending"
    assert ec._load(sorted(tmp_path.glob("??/*.json"))[0], entry(tmp_path)["key"]) is None
    second = score(tmp_path)
    assert len(ran) == 3 and not second["cached"]
    assert second["status"] == ("passed" if then == "passed" else "flaky")
    assert entry(tmp_path)["result"]["confirmed"] == stored
    third = score(tmp_path)  # served now, whatever it is
    assert len(ran) == 3 and third["cached"] and third["status"] == second["status"]


def test_a_pass_stored_by_the_rule_before_is_read_as_pending(tmp_path, monkeypatch):
    """Entries of passes stored as "twice" (sandbox-2026-3-reproduced: two runs of one scoring)
    keep their key; they are read, quietly, as pending and confirmed by one run."""
    fake, ran = scripted(["passed", "passed", "passed"])
    monkeypatch.setattr(humaneval, "score_rows", fake)
    score(tmp_path)
    (path,) = sorted(tmp_path.glob("??/*.json"))
    doc = json.loads(path.read_text())
    doc["result"]["confirmed"] = "twice"
    doc["checksum"] = ec._checksum(doc["key"], doc["inputs"], doc["result"])
    path.write_text(json.dumps(doc))
    res = score(tmp_path)
    assert len(ran) == 3 and not res["cached"] and entry(tmp_path)["result"]["confirmed"] == "reproduced"


def test_a_pending_entry_that_fails_its_checksum_is_scored_cold(tmp_path, monkeypatch):
    fake, ran = scripted(["passed", "passed", "passed", "passed"])
    monkeypatch.setattr(humaneval, "score_rows", fake)
    score(tmp_path)
    (path,) = sorted(tmp_path.glob("??/*.json"))
    doc = json.loads(path.read_text())
    doc["result"]["confirmed"] = "reproduced"  # promoted by hand: the checksum says no
    path.write_text(json.dumps(doc))
    with pytest.warns(RuntimeWarning, match="checksum"):
        (res,) = ec.execute_cached(ITEM, "corrected", cache_dir=tmp_path, timeout=T, progress=False)
    assert len(ran) == 4 and not res["cached"]  # two runs: a cold scoring, pending again
    assert entry(tmp_path)["result"]["confirmed"] == "pending"


def test_execute_memoises_a_pass_only_once_a_later_call_ran_it(monkeypatch, tmp_path):
    from loraplace.sandbox import api as sandbox
    from loraplace.sandbox.isolation import FEATURES
    from loraplace.scoring import programs

    ran = []
    statuses = ["passed", "passed", "failed"]

    def run_many(programs, **kw):
        out = []
        for _ in programs:
            s = statuses[len(ran)]
            ran.append(s)
            out.append(sandbox.SandboxResult(s, s, "", 0.1, True, "", FEATURES, 0.01))
        return out

    monkeypatch.setattr(sandbox, "run_many", run_many)
    monkeypatch.setattr(programs, "_MEMO", {})
    monkeypatch.setattr(programs, "_PENDING", {})
    assert programs.execute(["a program"], timeout=T, cache_dir=tmp_path)[0]["status"] == "passed" and len(ran) == 2
    assert programs.execute(["a program"], timeout=T, cache_dir=tmp_path)[0]["status"] == "flaky" and len(ran) == 3
    assert programs.execute(["a program"], timeout=T, cache_dir=tmp_path)[0]["status"] == "flaky" and len(ran) == 3
    monkeypatch.setattr(programs, "_MEMO", {})  # a new process: the flaky outcome read from disk
    monkeypatch.setattr(programs, "_PENDING", {})
    assert programs.execute(["a program"], timeout=T, cache_dir=tmp_path)[0]["status"] == "flaky" and len(ran) == 3


# --- genuinely random programs in the real sandbox ------------------------------------------------
# Each decides once per sandbox, from a real source of randomness, whether to answer right
# (HumanEval/2: truncate_number); `k` makes every program distinct (its own cache entry).
COINS = ("__import__('random').random() < 0.5",
         "__import__('os').urandom(1)[0] < 128",
         "__import__('secrets').randbits(1) == 1")
RANDOM = ("    global _coin\n"
          "    try:\n"
          "        _coin\n"
          "    except NameError:\n"
          "        _coin = ({coin}) + 0 * {k}\n"
          "    return number % 1.0 if _coin else -1.0\n")
PAIRS = 24  # under the rule before (a pass stored after two runs of one scoring) each pair
# returned a cached pass in its second scoring with probability 1/4: all 24 avoid it with
# probability (3/4)**24 < 0.001


@needs_full
def test_a_random_program_scored_twice_into_one_cache_never_returns_a_cached_pass(tmp_path):
    items = [("HumanEval/2", RANDOM.format(coin=COINS[k % len(COINS)], k=k)) for k in range(PAIRS)]
    first = ec.execute_cached(items, "corrected", cache_dir=tmp_path, timeout=3.0, progress=False)
    assert not any(r["cached"] for r in first)
    for path in tmp_path.glob("??/*.json"):  # what one scoring stored: nothing to serve as a pass
        stored = json.loads(path.read_text())["result"]
        assert stored["status"] != "passed" or stored["confirmed"] == "pending", stored
    second = ec.execute_cached(items, "corrected", cache_dir=tmp_path, timeout=3.0, progress=False)
    for r in first + second:
        assert r["status"] in ("passed", "failed", "flaky", "timeout"), r
        assert r["score"] == int(r["status"] == "passed"), r
    assert [r for r in second if r["cached"] and r["status"] == "passed"] == []
