"""Host side of the checker process (loraplace.sandbox.checker): one per scorer thread, started on
first use, and the exchange that judges one item through it under the item's deadline.

    judge_item(program, session) -> (status, reason)

The scorer thread only moves bytes: it forwards each call the checker makes to the sandbox and
each reply, undecoded, back. Decoding and `check` run in the checker; if the item's deadline
passes while the checker works, the checker is killed (and replaced for the next item) and the
item is a timeout; no other item waits for it, and the scorer holds no lock meanwhile.
"""
from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
import time

from loraplace.sandbox import boot
from loraplace.sandbox.outcome import Ended

_MINE: dict = {}  # scorer thread id -> its Checker
_LOCK = threading.Lock()


class Checker:
    """One checker process (the thread that starts it owns it: it dies with that thread)."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-I", "-S", "-B", "-c", boot.BOOT],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        self.inbox = bytearray()
        self.send_raw(boot.payload("checker", ("outcome", "plaindata"), os.getpid()))

    def fileno(self) -> int:
        return self.proc.stdout.fileno()

    def send_raw(self, data: bytes) -> None:
        self.proc.stdin.write(data)

    def send(self, msg: tuple) -> None:
        import marshal

        data = marshal.dumps(msg)
        self.send_raw(len(data).to_bytes(4, "big") + data)

    def cpu_seconds(self) -> float:
        """The checker's CPU time so far (user + system), from /proc; 0.0 if unreadable."""
        try:
            with open(f"/proc/{self.proc.pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return 0.0

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:  # a write that could not complete (the checker died)
                pass


def _acquire() -> Checker:
    me = threading.get_ident()
    with _LOCK:
        c = _MINE.get(me)
    if c is None or c.proc.poll() is not None:
        c = Checker()
        with _LOCK:
            _MINE[me] = c
    return c


def _discard(c: Checker) -> None:
    c.kill()
    with _LOCK:
        for t in [t for t, mine in _MINE.items() if mine is c]:
            del _MINE[t]


def retire(threads=None) -> None:
    """End the checkers of these scorer threads (all if None): a batch is over. (A checker
    would die with its thread anyway; this reaps it, so no process is left running.)"""
    with _LOCK:
        gone = [c for t, c in _MINE.items() if threads is None or t in threads]
    for c in gone:
        _discard(c)


atexit.register(retire)


def judge_item(program, session) -> tuple[str, str, float]:
    """(status, reason, the checker's CPU seconds for this item) of `program`, whose sandbox
    `session` runs; raises nothing for what the program does."""
    try:
        session.ready()
    except Ended as e:
        return e.status, e.reason, 0.0
    checker = _acquire()
    cpu0, waiting = checker.cpu_seconds(), False
    try:
        session.attach(checker)
        checker.send(("item", program.prompt, program.test, program.entry_point))
        while True:
            msg = session.from_checker()
            if msg[0] == "done":
                return msg[1], msg[2], checker.cpu_seconds() - cpu0
            waiting = True
            reply = session.call(msg[1])
            waiting = False
            checker.send(reply)
    except Ended as e:
        if waiting:  # the checker waits for this reply: end its item, keep the process
            try:
                checker.send(("ended", e.status, e.reason))
                session.deadline = time.monotonic() + 0.5
                if session.from_checker()[0] == "done":
                    return e.status, e.reason, checker.cpu_seconds() - cpu0
            except (Ended, OSError):
                pass
        cpu = checker.cpu_seconds() - cpu0
        _discard(checker)  # it was working past the deadline, or would not stop: replaced
        return e.status, e.reason, cpu
    except BaseException:
        _discard(checker)
        raise
