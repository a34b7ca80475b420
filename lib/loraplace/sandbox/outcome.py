"""The outcome of one program (its status: passed, failed, …), decided where the completion
cannot reach. ("Verdict" is a claim's outcome, `loraplace.judging`; a program has an outcome.)

    judge(prompt, test, entry_point, call) -> (status, reason)      (in the checker process)
    classify_exception(info) -> (status, reason)                      (anywhere)

The official `check(candidate)` runs in the checker process (loraplace.sandbox.checker: a child of
the scorer that never imports, execs or unpickles anything the completion wrote, and that the
scorer kills when the item's deadline passes). `candidate` is a proxy: each call sends its
arguments to the sandbox as plain data (through the scorer), the sandbox calls the completion's
entry point, and the return value comes back as plain data, decoded strictly
(loraplace.sandbox.plaindata) into builtin values. So:

  - the test code, its expected values and the checker never enter the sandbox: a completion
    cannot trace, patch or skip `check`, read its constants, or replace `assert`;
  - what comes back is a value, never an outcome: an object with an always-true `__eq__` cannot
    cross (only builtin types exist on this side), and a forged message is at most a forged
    *value*, which the official assertions then judge like any other;
  - no nonce is needed: there is no "I passed" message to forge. A completion that writes the
    right values for the test's calls (it could know them: HumanEval is public) behaves exactly
    as a lookup-table solution would under the official harness; that is a value, not an outcome;
  - whatever the values make `check` do (a hash flood, a huge comparison) costs the checker
    process, under the item's deadline, never the scorer or another item.

The prompt (trusted, from the problem set) is exec'd in the checker too, so tests that call the
prompt's helpers (`poly`, `encode_cyclic`) find them; the entry point's own name is bound to the
proxy, as the official harness would bind it to the completion's function (HumanEval/33 uses it).

Differences from exec'ing everything in one process, all of them only for code no test here
relies on: arguments are copies (the candidate's in-place mutation of an argument is not seen by
`check`), returned values are their builtin base types (a Counter arrives as a dict), and a
value that is not plain data (a generator, a custom object) fails the item as `failed`.
Exceptions the candidate raises are re-raised here as the builtin exception class of that name
(else `CandidateError`), so `check` sees an exception either way. What the sandbox says about its
own exceptions never makes an item `blocked`: only host-side facts do (the sandbox cgroup's
memory and pids events, loraplace.sandbox.session).

This file imports only `builtins` (it is shipped, compiled, to the checker process).
"""
import builtins


class Ended(BaseException):
    """The sandbox ended the item (timeout, crash, limit). BaseException: `check` cannot catch it."""

    def __init__(self, status: str, reason: str):
        super().__init__(status, reason)
        self.status, self.reason = status, reason


class CandidateError(Exception):
    """The candidate raised an exception that has no builtin class of the same name."""


def classify_exception(info: dict) -> tuple:
    """(status, reason) of an exception the completion raised, from its plain description:
    always `failed` (the sandbox's own account of an exception is not a host-side fact)."""
    exc, msg = info["type"], info["msg"]
    if exc == "AssertionError":
        return "failed", "assertion failed" + (f": {msg[:200]}" if msg else "")
    return "failed", f"{exc}: {msg}"[:200]


# never re-raised as themselves: an iterator protocol in `check` (all(map(candidate, ...)),
# list(map(...)), for x in map(...)) would read StopIteration as "no more items" and stop early
NOT_REBUILT = ("StopIteration", "StopAsyncIteration")


def _rebuild(info: dict) -> Exception:
    cls = getattr(builtins, info["type"], None) if info["type"] not in NOT_REBUILT else None
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            return cls(info["msg"])
        except Exception:  # noqa: BLE001 -- e.g. UnicodeDecodeError needs five arguments
            pass
    return CandidateError(f"{info['type']}: {info['msg']}")


def _compile_prompt(prompt: str):
    """The prompt's code (helpers, imports); a prompt ending in a bare signature gets a body."""
    try:
        return compile(prompt, "<prompt>", "exec")
    except SyntaxError:
        return compile(prompt + "    pass\n", "<prompt>", "exec")


def judge(prompt: str, test: str, entry_point: str, call) -> tuple:
    """Run `test`'s check against the sandboxed candidate: `call(args, kwargs)` returns
    ("value", v) or ("raised", info), or raises Ended."""
    g = {"__name__": "__check__", "__builtins__": builtins}
    try:
        exec(_compile_prompt(prompt), g)
        exec(compile(test, "<test>", "exec"), g)
        check = g["check"]
    except Exception as e:  # noqa: BLE001 -- the problem set itself is broken
        return "crashed", f"the official test does not load: {type(e).__name__}: {e}"[:200]
    last = {}

    def candidate(*args, **kwargs):
        kind, payload = call(args, kwargs)
        if kind == "value":
            return payload
        last["reason"] = "candidate raised " + classify_exception(payload)[1]
        raise _rebuild(payload)

    g[entry_point] = candidate
    try:
        check(candidate)
    except Ended as e:
        return e.status, e.reason
    except AssertionError as e:
        return "failed", "assertion failed" + (f": {str(e)[:200]}" if str(e) else "")
    except Exception as e:  # noqa: BLE001 -- any other failure of the checks is a fail
        return "failed", last.get("reason") or f"{type(e).__name__}: {str(e)[:200]}"
    return "passed", "all checks returned"
