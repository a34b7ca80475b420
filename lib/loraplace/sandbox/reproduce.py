"""Which outcomes are reproduced, so that a cache may keep them: the rule, and the runs it costs.

    settle(results, rerun, timeout, earlier={}) -> results, each storable one carrying `confirmed`

`results` are dicts with at least `status`, `score`, `reason` and `cpu_s` (the sandbox's CPU
plus its checker's for the item, SandboxResult.cpu_s), one per item of one *scoring* (one
`execute_cached` / `execute` call); `rerun(indices)` runs those items once more in fresh
sandboxes and returns their dicts; `earlier` maps an index to the *pending* pass that an earlier
scoring observed for that item (its run in `results` is then the confirming run). The rule:

  failed    stored after one run ("one-run"): a failure scores 0, and so does a program whose
            runs disagree (flaky), so no further run could change the score.
  timeout   stored after one run only if its CPU reached the whole time limit ("cpu-bound"):
            the sandbox's cgroup quota is one CPU, so it would time out on an idle machine too
            (api.run_program lets it run on to show this, however loaded the machine). Any other
            timeout is not evidence of anything but load: it is run again.
  passed    reported after a second run in a fresh sandbox passes too, but then only *pending*
            ("pending"): a cache keeps it as an observation that it never serves as a result.
            The next scoring runs the item once more, in a fresh sandbox: a pass confirms it
            ("reproduced": from then on served), a disagreeing run makes it flaky.
  crashed / blocked   stored when a second run repeats the status ("repeated").
  flaky     a pass and, in another run (of this scoring, or the pending pass of an earlier
            one), a failed, cpu-bound timeout, crash or block: the runs disagree. Score 0 (it
            counts as failed), reason naming both runs; stored as flaky, never as a pass
            ("disagree").
Anything else is returned (the latest informative run) but not stored, and runs again next time:
a pass beside a timeout that may be load's, a crash beside a block. A sandbox the host could not
start ("sandbox not started": a failed spawn) is no evidence about the program either: like a
timeout of load, it is run again and never stored, and never makes a pass flaky. A confirming run that is
such a timeout (run twice in its scoring) leaves the pending pass pending and returns it.

Why a pass waits for a second scoring: within one scoring two runs bound how often a flaky
program passes both (a 50 % flaky one: 1 in 4 cold scorings), they cannot exclude it; were such
a pass stored, every later scoring would be served it. Pending, it is served to nobody: the
scoring that observed it reports it (from its own runs), and a later scoring that would have
been served it runs it instead. A program passing with probability p is stored as passed with
probability p³ (three agreeing runs in two scorings; 1 in 8 at p = 1/2), and no scoring ever
reads a pass from a cache that only one scoring observed.

Cost: every passing program runs twice in the scoring that first meets it (on the released
completions, about a third of the distinct programs), and once more in the next scoring that
meets it (its first warm scoring); plus one run for every timeout that was not CPU-bound and
every crash or block. Failures and CPU-bound timeouts cost one run, once.
"""
from __future__ import annotations

CONFIRMATIONS = ("one-run", "cpu-bound", "reproduced", "repeated", "disagree")
PENDING = "pending"  # a pass observed within one scoring: never served, confirmed by the next


def cpu_bound(res: dict, timeout: float) -> bool:
    return res["status"] == "timeout" and (res.get("cpu_s") or 0.0) >= timeout


def _settled(res: dict, timeout: float) -> str | None:
    """The confirmation one run gives, if any."""
    if res["status"] == "failed":
        return "one-run"
    if cpu_bound(res, timeout):
        return "cpu-bound"
    return None


NOT_STARTED = "sandbox not started"  # sandbox.api.NOT_STARTED: the host failed, not the program


def _not_run(res: dict) -> bool:
    """The host could not start the sandbox (a failed spawn: EMFILE, EAGAIN...): no evidence."""
    return res["status"] == "crashed" and str(res.get("reason", "")).startswith(NOT_STARTED)


def _informative(res: dict, timeout: float) -> bool:
    """Not a timeout that load alone could explain, nor a sandbox the host never started."""
    return (res["status"] != "timeout" or cpu_bound(res, timeout)) and not _not_run(res)


def _disagree(first: dict, second: dict) -> dict:
    return {**first, "status": "flaky", "score": 0, "confirmed": "disagree",
            "reason": f"runs disagree: {first['status']} ({first['reason'][:80]}), then "
                      f"{second['status']} ({second['reason'][:80]})"}


def _combine(first: dict, second: dict, timeout: float) -> dict:
    """Two runs of one scoring."""
    settled = _settled(second, timeout)
    if first["status"] == "passed" or second["status"] == "passed":
        other = second if first["status"] == "passed" else first
        if other["status"] == "passed":
            return {**second, "confirmed": PENDING}
        if _informative(other, timeout):
            return _disagree(first, second)
        return {k: v for k, v in (first if first["status"] == "passed" else second).items()
                if k != "confirmed"}
    if settled:
        return {**second, "confirmed": settled}
    if (second["status"] == first["status"] and second["status"] in ("crashed", "blocked")
            and not _not_run(first) and not _not_run(second)):
        return {**second, "confirmed": "repeated"}
    return dict(second) if _informative(second, timeout) or not _informative(first, timeout) else dict(first)


def _confirm(pending: dict, run: dict, timeout: float) -> dict:
    """An earlier scoring's pending pass and this scoring's run of the same item."""
    if run["status"] == "passed":
        return {**run, "confirmed": "reproduced"}
    if _informative(run, timeout):
        return _disagree(pending, run)
    return {**pending, "confirmed": PENDING}  # no evidence either way: still pending


def settle(results: list[dict], rerun, timeout: float, earlier: dict | None = None) -> list[dict]:
    """Apply the rule: run again what one run does not settle; mark what may be stored
    (`confirmed`: one of CONFIRMATIONS, or PENDING for a pass a cache must not serve)."""
    earlier = earlier or {}
    out = [dict(r) for r in results]
    again = []
    for i, r in enumerate(out):
        if i in earlier:
            if _informative(r, timeout):
                out[i] = _confirm(earlier[i], r, timeout)
            else:
                again.append(i)
            continue
        how = _settled(r, timeout)
        if how:
            r["confirmed"] = how
        else:
            again.append(i)
    if again:
        for i, second in zip(again, rerun(again)):
            out[i] = (_confirm(earlier[i], second, timeout) if i in earlier
                      else _combine(out[i], second, timeout))
    return out
