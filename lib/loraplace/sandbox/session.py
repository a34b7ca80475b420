"""One sandbox's lifetime, host side: spawn it, exchange framed messages with its worker and with
the item's checker process under one deadline (draining its stdout / stderr), learn why it died,
tear it down (process group, cgroup, work dir however deep), and say which limit its cgroup's
counters show it ran into. Used by loraplace.sandbox.api; see worker.py and checker.py for the
other ends, and frames.py for how the sandbox's messages are read (bounded, nothing hashed; a
returned value passed on unparsed to the checker). To the sandbox go marshalled builtin values
(the host's own data: the worker's code and config, a call's arguments); with the checker (a
trusted process) marshal both ways.
"""
from __future__ import annotations

import marshal
import os
import secrets
import selectors
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

from loraplace.sandbox import boot, cleanup, frames
from loraplace.sandbox import isolation as iso_mod
from loraplace.sandbox.outcome import Ended, classify_exception
from loraplace.sandbox.program import Program


class _Tail:
    def __init__(self, cap: int):
        self.cap, self.buf = cap, bytearray()

    def add(self, chunk: bytes) -> None:
        self.buf += chunk
        if len(self.buf) > 2 * self.cap:
            del self.buf[: len(self.buf) - self.cap]

    def text(self) -> str:
        return bytes(self.buf[-self.cap:]).decode("utf-8", "replace")


def signal_name(n: int) -> str:
    try:
        return signal.Signals(n).name
    except ValueError:
        return f"signal {n}"


LIVE: set = set()  # the sessions not yet closed (api.abort_all ends them on an interrupt)


class Session:
    """One sandbox: spawn, exchange framed messages under one deadline, tear down."""

    def __init__(self, program: Program, iso: iso_mod.Isolation, *, timeout: float, limits: dict,
                 tail_bytes: int):
        self.iso, self.limits, self.timeout = iso, limits, timeout
        self.out, self.err = _Tail(tail_bytes), _Tail(tail_bytes)
        self.resp_buf, self.sup_buf, self.sup = bytearray(), bytearray(), None
        self.cgroup, self.workdir, self.proc, self.checker = None, None, None, None
        self.start = time.monotonic()
        self.deadline = self.start + timeout
        self.resp_open, self.pending, self.notes, self.cpu_s = True, b"", [], None
        self.cpu_at_limit = None  # set by linger() when the CPU it waited for never came
        self.features = set(f for f in iso.features if f not in ("fs-readonly", "private-tmpfs", "cgroup", "seccomp"))
        self.limit_hit, self.sel, self.aborted = None, selectors.DefaultSelector(), False
        self.thread = threading.get_ident()  # the scorer thread that runs it
        uid = 1_500_000_000 + secrets.randbelow(100_000_000) if iso.drop_uid else None
        if iso.cgroup:
            cleanup.ensure_reaper(iso.cgroup)
            try:
                self.cgroup = iso_mod.Cgroup.create(iso.cgroup, memory=limits["memory"], pids=limits["nproc"])
            except OSError:
                self.cgroup = None
        if not iso.prefix:  # no mount namespace: a host work dir, removed afterwards
            self.workdir = tempfile.mkdtemp(prefix="loraplace-sbx-")
            if uid is not None:
                os.chown(self.workdir, uid, uid)
        self.req_w = self.resp_r = self.sup_r = None
        LIVE.add(self)
        try:
            self._spawn(program, iso, uid)
        except BaseException:
            self._release()
            raise

    def _spawn(self, program: Program, iso: iso_mod.Isolation, uid) -> None:
        req_r, self.req_w = os.pipe()
        self.resp_r, resp_w = os.pipe()
        self.sup_r, sup_w = os.pipe()
        limits = self.limits
        cfg = {"code": program.prompt + program.completion, "entry_point": program.entry_point,
               "workdir": self.workdir or "/", "drop_uid": uid, "mount_ns": bool(iso.prefix),
               "pyroot": sys.base_prefix, "seccomp_bpf": iso.seccomp_bpf,
               "cgroup_procs": self.cgroup.procs_files() if self.cgroup else [],
               # RLIMIT_CPU: a backstop one second past the limit, so that the cgroup's count
               # (linger) reaches the whole limit first
               "limits": {**limits, "cpu": int(self.timeout + 0.999) + 1},
               "req_fd": req_r, "resp_fd": resp_w, "report_fd": sup_w}
        home = "/tmp/work" if iso.prefix else self.workdir
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": home, "TMPDIR": home}
        try:
            self.proc = subprocess.Popen(
                [*iso.prefix, sys.executable, "-I", "-S", "-B", "-c", boot.BOOT], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=self.workdir or "/",
                pass_fds=(req_r, resp_w, sup_w), start_new_session=True)
        finally:
            for fd in (req_r, resp_w, sup_w):
                os.close(fd)
        if self.aborted:  # killed while it was being spawned
            self.kill()
        try:
            self.proc.stdin.write(boot.payload("worker", ("plaindata",), cfg))
            self.proc.stdin.close()
        except OSError:
            pass
        os.set_blocking(self.req_w, False)
        for f, data in ((self.proc.stdout.fileno(), self.out), (self.proc.stderr.fileno(), self.err),
                        (self.resp_r, self.resp_buf), (self.sup_r, self.sup_buf)):
            self.sel.register(f, selectors.EVENT_READ, data)

    def _release(self) -> None:
        """Close every fd, remove the work dir and the cgroup (after a failed spawn, or at close)."""
        for fd in (self.req_w, self.resp_r, self.sup_r):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.sel.close()
        if self.workdir is not None:
            cleanup.kill_marked(self.workdir)
            cleanup.remove_tree(self.workdir)
        if self.cgroup is not None:
            self.cpu_s = self.cgroup.cpu_seconds()
            if self.cpu_at_limit is not None:
                self.cpu_s = self.cpu_at_limit
            self.limit_hit = self.cgroup.limit_hit()
            self.cgroup.remove()
        LIVE.discard(self)

    # -- the event loop -------------------------------------------------------------------------
    def _pump(self, until) -> None:
        """Drain every pipe (and write self.pending to the worker) until `until()` is true."""
        while not until():
            now = time.monotonic()
            if self.aborted:
                raise Ended("crashed", "the scorer was interrupted")
            if now >= self.deadline:
                raise Ended("timeout", f"wall-clock limit {self.timeout:g}s")
            if self.pending and self.req_w not in self.sel.get_map():
                self.sel.register(self.req_w, selectors.EVENT_WRITE, None)
            for key, _ in self.sel.select(timeout=min(0.2, self.deadline - now)):
                if key.data is None:
                    try:
                        self.pending = self.pending[os.write(self.req_w, self.pending[:65536]):]
                    except BlockingIOError:
                        continue
                    except OSError:  # BrokenPipe: the worker is gone; its exit says why
                        self.pending = b""
                    if not self.pending:
                        self.sel.unregister(self.req_w)
                    continue
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    self.sel.unregister(key.fd)
                    if key.fd == self.resp_r:
                        self.resp_open = False
                    continue
                if isinstance(key.data, _Tail):
                    key.data.add(chunk)
                else:
                    key.data.extend(chunk)
                    if len(key.data) > frames.LARGEST:
                        raise Ended("crashed", "message larger than the plain-data limit")

    def _message(self) -> list:
        """The worker's next message; Ended (with the reason) if it stopped answering."""
        got = []

        def arrived() -> bool:
            msg = frames.parse(self.resp_buf)
            if msg is not None:
                got.append(msg)
            return bool(got) or not self.resp_open

        self._pump(arrived)
        if got or (arrived() and got):
            return got[0]
        raise Ended(*self._death())

    def _death(self) -> tuple[str, str]:
        """Why the worker stopped answering: the supervisor's report (waited for briefly)."""
        try:
            self.deadline = min(self.deadline, time.monotonic() + 2.0)
            self._pump(lambda: self._frame_sup() is not None)
        except Ended:
            return "crashed", "the sandbox ended without a report"
        sig, code = self.sup.get("signal"), self.sup.get("exit")
        if sig == signal.SIGXCPU:
            return "timeout", "CPU time limit (SIGXCPU)"
        if type(sig) is int:
            return "crashed", f"killed by {signal_name(sig)}"
        return "crashed", f"exited with code {code} before the checks completed"

    def _frame_sup(self):
        """The supervisor's final report, once it has arrived; its notes name the isolation set up:
        ["notes", [str...]], then ["exit", code | None, signal | None, [str...]]."""
        while self.sup is None:
            msg = frames.parse(self.sup_buf)
            if msg is None:
                if self.sup_r not in self.sel.get_map():
                    self.sup = {}  # closed without a final report
                break
            notes = msg[-1] if msg[0] in ("notes", "exit") else None
            if type(notes) is list:
                self.notes = [n for n in notes if type(n) is str]
            if msg[0] == "exit" and len(msg) == 4:
                self.sup = {"exit": msg[1] if type(msg[1]) is int else None,
                            "signal": msg[2] if type(msg[2]) is int else None}
        return self.sup

    # -- what the judge uses ----------------------------------------------------------------------
    def ready(self) -> None:
        """The completion is defined; else Ended (failed: it raised; crashed: anything else)."""
        msg = self._message()
        if msg == ["ready"]:
            return
        info = frames.exception_info(msg[1:]) if msg[0] in ("raised", "setup_failed") else None
        if info is not None and msg[0] == "raised":
            raise Ended(*classify_exception(info))
        if info is not None:
            raise Ended("crashed", f"sandbox setup failed: {info['msg'][:150]}")
        raise Ended("crashed", "malformed message from the sandbox")

    def call(self, request: bytes) -> tuple:
        """One call: `request` is marshal.dumps([args, kwargs]) of plain builtin values (from the
        checker). Returns ("value", the message's raw JSON body, unparsed) or ("raised", info);
        Ended otherwise."""
        self.pending = struct.pack(">I", len(request)) + request
        self._pump(lambda: not self.pending or not self.resp_open)
        msg = self._message()
        if msg[0] == "value":  # the raw JSON body: the checker parses and decodes it
            return "value", msg[1]
        info = frames.exception_info(msg[1:]) if msg[0] == "raised" else None
        if info is not None:
            return "raised", info
        if msg[0] == "unencodable" and len(msg) == 2 and type(msg[1]) is str:
            return "raised", {"type": "TypeError", "mro": ["TypeError"], "errno": None,
                              "msg": "returned a value that is not plain data: " + msg[1][:150]}
        raise Ended("crashed", "malformed message from the sandbox")

    def attach(self, checker) -> None:
        """Watch `checker`'s replies in the same loop (and under the same deadline)."""
        self.checker = checker
        self.sel.register(checker.fileno(), selectors.EVENT_READ, checker.inbox)

    def from_checker(self):
        """The checker's next message, waited for under the item's deadline (Ended: timeout)."""
        got = []

        def arrived() -> bool:
            body = frames.body(self.checker.inbox)
            if body is not None:
                got.append(marshal.loads(body))
            return bool(got) or self.checker.fileno() not in self.sel.get_map()

        self._pump(arrived)
        if not got:
            raise Ended("crashed", "the checker process ended")
        return got[0]

    # -- after a wall-clock timeout --------------------------------------------------------------
    def linger(self, cpu_target: float, max_s: float) -> bool:
        """Let a sandbox that hit its wall-clock limit run on, unjudged, for at most `max_s` more
        seconds, and say whether its cgroup's CPU time reached `cpu_target` (its whole time
        limit). The cgroup's cpu.max is one CPU, so a program that used its whole time limit in
        CPU without finishing would time out alone too, however loaded the machine: its timeout
        needs no re-run. It stops early once no task of the sandbox has been runnable for
        IDLE_S (it answered and waits for the judge, or sleeps), or its worker ends; a runnable
        task waiting for a loaded CPU keeps it going, so the rule does not depend on the load
        (only `max_s` bounds it). Otherwise the CPU it used after the limit is not reported
        (`cpu_s` is the CPU at the limit), so nothing is judged on more than it was before."""
        if self.cgroup is None or max_s <= 0 or self.cgroup.cpu_seconds() is None:
            return False
        t0 = time.monotonic()
        self.cpu_at_limit = self.cgroup.cpu_seconds()  # cleared below once the target is reached
        busy = [t0]

        def over() -> bool:
            now, cpu = time.monotonic(), self.cgroup.cpu_seconds()
            if cpu is None or cpu >= cpu_target or self._frame_sup() is not None:
                return True
            if self.cgroup.runnable():
                busy[0] = now
            return now - busy[0] >= IDLE_S

        self.deadline = t0 + max_s
        try:
            self._pump(over)
        except Ended:
            pass
        reached = (self.cgroup.cpu_seconds() or 0.0) >= cpu_target
        if reached:
            self.cpu_at_limit = None
        return reached

    # -- teardown -------------------------------------------------------------------------------
    def close(self, wait: bool = True) -> None:
        if self.checker is not None:
            try:
                self.sel.unregister(self.checker.fileno())
            except (KeyError, ValueError):
                pass
        os.close(self.req_w)  # EOF: the worker exits; the supervisor reports
        self.req_w = None
        try:
            self.deadline = time.monotonic() + (0.5 if wait else 0.0)
            self._pump(lambda: self._frame_sup() is not None)
        except Ended:
            pass
        if self.proc is not None:
            if wait and "exit" in (self.sup or {}):  # the supervisor reported and is exiting:
                try:  # unshare reaps it (and so the pid namespace) on its own, which leaves
                    self.proc.wait(timeout=0.5)  # the cgroup empty when it is removed
                except subprocess.TimeoutExpired:
                    pass
            self.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            for f in (self.proc.stdout, self.proc.stderr):
                f.close()
        self._release()
        self.features |= {n for n in self.notes if n in iso_mod.FEATURES}

    def kill(self) -> None:
        """SIGKILL the whole sandbox now: its process group and every task of its cgroup (from
        any thread: an interrupted scorer ends its live sandboxes this way); its item ends as
        crashed."""
        self.aborted = True
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.cgroup is not None:
            self.cgroup.kill()


IDLE_S = 0.5
