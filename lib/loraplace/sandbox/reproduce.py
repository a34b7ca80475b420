"""Which outcomes are reproduced, so that a cache may keep them: the rule, and the runs it costs.

    settle(results, rerun, timeout) -> results, each storable one carrying `confirmed`

`results` are dicts with at least `status`, `score`, `reason` and `cpu_s` (the sandbox's CPU
plus its checker's for the item, SandboxResult.cpu_s); `rerun(indices)` runs those items once
more in fresh sandboxes and returns their dicts. The rule:

  failed    stored after one run ("one-run"): a failure scores 0, and so does a program whose
            runs disagree (flaky), so no second run could change the score.
  timeout   stored after one run only if its CPU reached the whole time limit ("cpu-bound"):
            the sandbox's cgroup quota is one CPU, so it would time out on an idle machine too
            (api.run_program lets it run on to show this, however loaded the machine). Any other
            timeout is not evidence of anything but load: it is run again.
  passed    stored only when a second run, in a fresh sandbox, passes too ("twice").
  crashed / blocked   stored when a second run repeats the status ("repeated").
  flaky     a pass and, in the other run, a failed, cpu-bound timeout, crash or block: the runs
            disagree. Score 0 (it counts as failed), reason naming both runs; stored as flaky,
            never as a pass ("disagree").
Anything else is returned (the latest informative run) but not stored, and runs again next time:
a pass beside a timeout that may be load's, a crash beside a block.

Cost: every passing program runs twice (on the released completions, about a third of the
distinct programs), plus one run for every timeout that was not CPU-bound and every crash or
block. A flaky program that passed twice in a row is stored as passed: two runs bound how often
that happens (a 50 % flaky program: 1 in 4 cold scorings), they cannot exclude it.
"""
from __future__ import annotations

CONFIRMATIONS = ("one-run", "cpu-bound", "twice", "repeated", "disagree")


def cpu_bound(res: dict, timeout: float) -> bool:
    return res["status"] == "timeout" and (res.get("cpu_s") or 0.0) >= timeout


def _settled(res: dict, timeout: float) -> str | None:
    """The confirmation one run gives, if any."""
    if res["status"] == "failed":
        return "one-run"
    if cpu_bound(res, timeout):
        return "cpu-bound"
    return None


def _informative(res: dict, timeout: float) -> bool:
    """Not a timeout that load alone could explain."""
    return res["status"] != "timeout" or cpu_bound(res, timeout)


def _combine(first: dict, second: dict, timeout: float) -> dict:
    settled = _settled(second, timeout)
    if first["status"] == "passed" or second["status"] == "passed":
        other = second if first["status"] == "passed" else first
        if other["status"] == "passed":
            return {**second, "confirmed": "twice"}
        if _informative(other, timeout):
            return {**first, "status": "flaky", "score": 0, "confirmed": "disagree",
                    "reason": f"runs disagree: {first['status']} ({first['reason'][:80]}), then "
                              f"{second['status']} ({second['reason'][:80]})"}
        return {k: v for k, v in (first if first["status"] == "passed" else second).items()
                if k != "confirmed"}
    if settled:
        return {**second, "confirmed": settled}
    if second["status"] == first["status"] and second["status"] in ("crashed", "blocked"):
        return {**second, "confirmed": "repeated"}
    return dict(second) if _informative(second, timeout) or not _informative(first, timeout) else dict(first)


def settle(results: list[dict], rerun, timeout: float) -> list[dict]:
    """Apply the rule: run again what one run does not settle; mark what may be stored."""
    out = [dict(r) for r in results]
    again = []
    for i, r in enumerate(out):
        how = _settled(r, timeout)
        if how:
            r["confirmed"] = how
        else:
            again.append(i)
    if again:
        for i, second in zip(again, rerun(again)):
            out[i] = _combine(out[i], second, timeout)
    return out
