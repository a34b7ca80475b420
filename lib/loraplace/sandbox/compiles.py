"""Which programs of a batch do not compile, found in one sandbox for the whole batch.

    syntax_errors(programs) -> [None | (exception name, message), ...], or None (not judged)

A program whose text (prompt + completion: what the worker compiles) raises SyntaxError -- or its
subclasses IndentationError, TabError -- ends `failed` before any of it runs (api: "failed ... also
while being defined: SyntaxError"), reason "SyntaxError: <message>" (`outcome.classify_exception`
of the worker's `exc_info`). Its own sandbox costs an interpreter, namespaces and a cgroup for
the worker's first act, `compile`, to raise. On a tiny organism's run two thirds of the distinct
programs are such (completions running on into the next prompt), so they were most of a run's
sandboxes. Here one sandbox compiles every program of a batch -- compiles only: nothing of them is
executed -- with the worker's own call on the same text (`compile(text, "<completion>", "exec")`,
no future flags, the same interpreter) and returns each exception's name and message as
`worker.exc_info` takes them (`str(e)[:300]`), so the result is the one its own sandbox would give.

Trust. The compiling sandbox is isolated like any other, and its answer counts only when that
isolation was full. Its reply is plain data, size-bounded before it is parsed, and checked for
shape. It can only *fail* a program: a program it reports as compiling is run in its own sandbox as
before, so nothing it reports can make a program pass. (Were a completion to take over the
interpreter through its compiler, it could fail other programs of its batch -- one run's programs
-- never pass one.) A batch it cannot judge (any error, its deadline, a malformed reply, isolation
short of full) returns None: the caller runs every program in its own sandbox.
"""
from __future__ import annotations

import marshal

from loraplace.sandbox import isolation as iso_mod
from loraplace.sandbox import plaindata
from loraplace.sandbox.checker import value_text
from loraplace.sandbox.outcome import Ended
from loraplace.sandbox.program import Program, build_program
from loraplace.sandbox.session import Session

SYNTAX_ERRORS = ("SyntaxError", "IndentationError", "TabError")
MSG_CHARS = 300  # worker.exc_info keeps this much of an exception's message
TIMEOUT_S = 20.0  # for a whole batch (a program compiles in well under a millisecond)
MAX_TEXT = 256 << 10  # a longer program is left to its own sandbox
LIMITS = {"memory": 1 << 30, "as": 2 << 30, "fsize": 16 << 20, "nproc": 64, "inodes": 4096}  # api.run_program's

# Run in the sandbox (trusted code, compiled there like a completion). An exception that is not a
# SyntaxError is not decided here ([""]): it may depend on the process's limits.
COMPILER = '''
def verdicts(texts):
    out = []
    for text in texts:
        try:
            compile(text, "<completion>", "exec", dont_inherit=True)
            out.append(None)
        except SyntaxError as e:
            out.append([str(type(e).__name__), str.__str__(str(e))[:300]])
        except BaseException:
            out.append([""])
    return out
'''


def _reply(raw, n: int):
    """The sandbox's list of n verdicts, checked for shape; None if it is anything else."""
    if not isinstance(raw, bytes) or len(raw) > 64 + n * (2 * MSG_CHARS + 64):
        return None
    try:
        value = plaindata.decode(value_text(raw))
    except plaindata.Malformed:
        return None
    if type(value) is not list or len(value) != n:
        return None
    out = []
    for v in value:
        if v is None or (type(v) is list and len(v) == 1 and v[0] == ""):
            out.append(None)
        elif (type(v) is list and len(v) == 2 and v[0] in SYNTAX_ERRORS and type(v[1]) is str
              and len(v[1]) <= MSG_CHARS):
            out.append((v[0], v[1]))
        else:
            return None
    return out


def syntax_errors(programs, *, mode: str = "auto") -> list[tuple[str, str] | None] | None:
    """For each program (a `Program`; anything else is left to run_program, which refuses it):
    (exception name, message) when its text does not compile, None when it does (or when the
    question is left to its own sandbox); None for the whole batch when it could not be judged
    with full isolation."""
    iso = iso_mod.probe(mode)
    if set(iso.features) != set(iso_mod.FEATURES):
        return None
    texts = [p.prompt + p.completion if isinstance(p, Program) else None for p in programs]
    asked = [i for i, t in enumerate(texts) if t is not None and len(t) <= MAX_TEXT]
    if not asked:
        return [None] * len(texts)
    limits = {**LIMITS, "nproc_rlimit": 2 * LIMITS["nproc"] if iso.cgroup else LIMITS["nproc"]}
    session = None
    try:
        session = Session(build_program(COMPILER, "", "", "verdicts"), iso, timeout=TIMEOUT_S, limits=limits,
                          tail_bytes=4096)
        session.ready()
        kind, raw = session.call(marshal.dumps([[[texts[i] for i in asked]], {}]))
        got = _reply(raw, len(asked)) if kind == "value" else None
    except (Ended, Exception):  # noqa: BLE001 -- the sandbox ended (a BaseException), a failed spawn,
        got = None  # anything: the batch is not judged here (an interrupt still propagates)
    finally:
        if session is not None:
            try:
                session.close()
            except (Ended, Exception):  # noqa: BLE001 -- a teardown error leaves the batch unjudged
                got = None
    if got is None or session is None or session.limit_hit or not set(iso_mod.FEATURES) <= session.features:
        return None
    out: list[tuple[str, str] | None] = [None] * len(texts)
    for i, verdict in zip(asked, got):
        out[i] = verdict
    return out
