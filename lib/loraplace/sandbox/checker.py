"""The checker process: runs the official `check` of one item at a time (stdlib only).

The scorer (loraplace.sandbox.checking) starts it as `python -I -S -B -c boot.BOOT` and sends, on
its stdin, this file's, outcome.py's and plaindata.py's code objects, marshalled; then items. It never
runs completion code: it decodes the values the sandbox returned (plaindata.decode) and runs
`check` on them (outcome.judge). Everything it does with those values -- decoding a 16 MB reply,
building a set the sandbox chose, a comparison `check` makes -- happens here, in a process the
scorer kills when the item's deadline passes, so no value can stall the scorer or another item.
It dies with the scorer thread that started it (PR_SET_PDEATHSIG) and on EOF of its stdin.

Messages (4-byte big-endian length + marshal, both ways, between trusted processes):
  scorer -> checker   ("item", prompt, test, entry_point)
                      ("value", the sandbox's raw ["value", json_text] message, bytes) |
                      ("raised", info) | ("ended", status, reason)
  checker -> scorer   ("call", marshalled [args, kwargs]) | ("done", status, reason)
"""
import ctypes
import marshal
import os
import resource
import signal
import sys

MEMORY = 4 << 30  # address space of the checker: a decoded reply is at most ~MAX_NODES values


def _read_exact(fd, n):
    buf = b""
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def read_msg(fd):
    head = _read_exact(fd, 4)
    body = None if head is None else _read_exact(fd, int.from_bytes(head, "big"))
    if body is None:
        os._exit(0)  # the scorer is gone
    return marshal.loads(body)


def write_msg(fd, msg):
    data = marshal.dumps(msg)
    data = len(data).to_bytes(4, "big") + data
    while data:
        data = data[os.write(fd, data):]


def value_text(body):
    """The plain-data text of the sandbox's raw `["value", text]` message (parsed here, not in
    the scorer); None (which plaindata.decode refuses) for anything else."""
    import json

    try:
        msg = json.loads(body.decode("ascii"), object_pairs_hook=list)
    except (ValueError, RecursionError):
        return None
    return msg[1] if type(msg) is list and len(msg) == 2 and type(msg[1]) is str else None


def caller(pd, Ended, rd, wr):
    """The candidate proxy's transport: arguments out as plain data, a decoded value back."""
    def call(args, kwargs):
        try:  # exactly the builtin values the sandbox would decode from plaindata's JSON
            plain = pd.decode(pd.encode([list(args), dict(kwargs)]))
        except (pd.Unencodable, pd.Malformed) as e:
            raise Ended("crashed", f"the test passed arguments that are not plain data: {e}") from None
        write_msg(wr, ("call", marshal.dumps(plain)))
        reply = read_msg(rd)
        if reply[0] == "value":
            try:
                return "value", pd.decode(value_text(reply[1]))
            except pd.Malformed as e:
                raise Ended("crashed", f"malformed value from the sandbox: {e}"[:200]) from None
        if reply[0] == "raised":
            return "raised", reply[1]
        raise Ended(reply[1], reply[2])
    return call


def main(codes, parent):
    """codes: (outcome.py, plaindata.py) code objects; parent: the scorer's pid."""
    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(0)
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    mods = []
    for name, code in zip(("outcome", "plaindata"), codes):
        mod = type(sys)(name)
        exec(code, mod.__dict__)
        mods.append(mod)
    outcome, pd = mods
    rd, wr = 0, os.dup(1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # a stray print cannot corrupt the protocol
    call = caller(pd, outcome.Ended, rd, wr)
    while True:
        _, prompt, test, entry = read_msg(rd)
        try:
            status, reason = outcome.judge(prompt, test, entry, call)
        except MemoryError:
            status, reason = "crashed", "the checker ran out of memory judging the values returned"
        write_msg(wr, ("done", status, reason))
