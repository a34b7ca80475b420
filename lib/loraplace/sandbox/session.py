"""One sandbox's lifetime, host side: spawn it, exchange framed messages with its worker under
one deadline (draining its stdout / stderr), learn why it died, tear it down (process group,
cgroup, work dir however deep). Used by loraplace.sandbox.api; see worker.py for
the other end. Every message is 4-byte big-endian length + a body: JSON from the sandbox, every
field validated here; marshalled builtin values to it (the host's own data: the worker's code
and config, a call's arguments).
"""
from __future__ import annotations

import functools
import json
import marshal
import os
import secrets
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loraplace.sandbox import isolation as iso_mod
from loraplace.sandbox import plaindata
from loraplace.sandbox.outcome import Ended, classify_exception
from loraplace.sandbox.program import Program

WORKER = str(Path(__file__).with_name("worker.py"))


# `python -I -S -B -c BOOT`, stdin = marshal.dumps((worker code, plaindata code, config))
BOOT = ("import marshal,sys\n"
        "w,p,c=marshal.loads(sys.stdin.buffer.read())\n"
        "g={'__name__':'sandbox_worker'}\n"
        "exec(w,g)\n"
        "g['main'](c,p)\n")


@functools.lru_cache(maxsize=None)
def _codes() -> tuple:
    """The code objects BOOT runs (worker.py, plaindata.py), compiled once per process
    here rather than from source in every sandbox."""
    out = []
    for path in (WORKER, plaindata.__file__):
        with open(path, encoding="utf-8") as f:
            out.append(compile(f.read(), path, "exec", dont_inherit=True))
    return tuple(out)


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


def _valid_info(info) -> bool:
    return (isinstance(info, dict) and set(info) == {"type", "mro", "errno", "msg"}
            and type(info["type"]) is str and type(info["msg"]) is str
            and type(info["mro"]) is list and all(type(c) is str for c in info["mro"])
            and (info["errno"] is None or type(info["errno"]) is int))


class Session:
    """One sandbox: spawn, exchange framed messages under one deadline, tear down."""

    def __init__(self, program: Program, iso: iso_mod.Isolation, *, timeout: float, limits: dict,
                 tail_bytes: int):
        self.iso, self.limits, self.timeout = iso, limits, timeout
        self.out, self.err = _Tail(tail_bytes), _Tail(tail_bytes)
        self.resp_buf, self.sup_buf, self.sup = bytearray(), bytearray(), None
        self.cgroup, self.workdir, self.proc = None, None, None
        self.start = time.monotonic()
        self.deadline = self.start + timeout
        self.resp_open, self.pending, self.notes, self.cpu_s = True, b"", [], None
        self.cpu_at_limit = None  # set by linger() when the CPU it waited for never came
        self.features = set(f for f in iso.features if f not in ("fs-readonly", "private-tmpfs", "cgroup", "seccomp"))
        uid = 1_500_000_000 + secrets.randbelow(100_000_000) if iso.drop_uid else None
        if iso.cgroup:
            try:
                self.cgroup = iso_mod.Cgroup.create(iso.cgroup, memory=limits["as"], pids=limits["nproc"])
            except OSError:
                self.cgroup = None
        if not iso.prefix:  # no mount namespace: a host work dir, removed afterwards
            self.workdir = tempfile.mkdtemp(prefix="loraplace-sbx-")
            if uid is not None:
                os.chown(self.workdir, uid, uid)
        req_r, self.req_w = os.pipe()
        self.resp_r, resp_w = os.pipe()
        self.sup_r, sup_w = os.pipe()
        cfg = {"code": program.prompt + program.completion, "entry_point": program.entry_point,
               "workdir": self.workdir or "/", "drop_uid": uid, "mount_ns": bool(iso.prefix),
               "pyroot": sys.base_prefix, "seccomp_bpf": iso.seccomp_bpf,
               "cgroup_procs": self.cgroup.procs_files() if self.cgroup else [],
               "limits": {**limits, "cpu": max(1, int(timeout + 0.999))},
               "req_fd": req_r, "resp_fd": resp_w, "report_fd": sup_w}
        home = "/tmp/work" if iso.prefix else self.workdir
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": home, "TMPDIR": home}
        codes = _codes()
        try:
            self.proc = subprocess.Popen(
                [*iso.prefix, sys.executable, "-I", "-S", "-B", "-c", BOOT], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=self.workdir or "/",
                pass_fds=(req_r, resp_w, sup_w), start_new_session=True)
        finally:
            for fd in (req_r, resp_w, sup_w):
                os.close(fd)
        try:
            self.proc.stdin.write(marshal.dumps((*codes, cfg)))
            self.proc.stdin.close()
        except OSError:
            pass
        os.set_blocking(self.req_w, False)
        self.sel = selectors.DefaultSelector()
        for f, data in ((self.proc.stdout.fileno(), self.out), (self.proc.stderr.fileno(), self.err),
                        (self.resp_r, self.resp_buf), (self.sup_r, self.sup_buf)):
            self.sel.register(f, selectors.EVENT_READ, data)

    # -- the event loop -------------------------------------------------------------------------
    def _pump(self, until) -> None:
        """Drain every pipe (and write self.pending to the worker) until `until()` is true."""
        while not until():
            now = time.monotonic()
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
                    if len(key.data) > plaindata.MAX_BYTES + 4096:
                        raise Ended("crashed", "message larger than the plain-data limit")

    def _frame(self, buf: bytearray, keys: int = 1):
        if len(buf) < 4:
            return None
        n = struct.unpack(">I", bytes(buf[:4]))[0]
        if n > plaindata.MAX_BYTES + 4096:
            raise Ended("crashed", "message larger than the plain-data limit")
        if len(buf) < 4 + n:
            return None
        body = bytes(buf[4:4 + n])
        del buf[:4 + n]
        try:
            msg = json.loads(body.decode("ascii"))
        except (ValueError, RecursionError):
            raise Ended("crashed", "malformed message from the sandbox") from None
        if not isinstance(msg, dict) or (keys and len(msg) != keys):
            raise Ended("crashed", "malformed message from the sandbox")
        return msg

    def _message(self) -> dict:
        """The worker's next message; Ended (with the reason) if it stopped answering."""
        got = []

        def arrived() -> bool:
            msg = self._frame(self.resp_buf)
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
        if self.cgroup is not None and self.cgroup.oom_killed():
            return "blocked", "memory limit (sandbox cgroup)"
        if sig == signal.SIGXCPU:
            return "timeout", "CPU time limit (SIGXCPU)"
        if sig == signal.SIGXFSZ:
            return "blocked", "file size limit (SIGXFSZ)"
        if type(sig) is int:
            return "crashed", f"killed by {signal_name(sig)}"
        return "crashed", f"exited with code {code} before the checks completed"

    def _frame_sup(self):
        """The supervisor's final report, once it has arrived; its notes name the isolation set up."""
        while self.sup is None:
            msg = self._frame(self.sup_buf, keys=0)
            if msg is None:
                if self.sup_r not in self.sel.get_map():
                    self.sup = {}  # closed without a final report
                break
            notes = msg.get("notes")
            if isinstance(notes, list):
                self.notes = [n for n in notes if isinstance(n, str)]
            if "exit" in msg:
                self.sup = msg
        return self.sup

    # -- what the judge uses ----------------------------------------------------------------------
    def ready(self) -> None:
        msg = self._message()
        if "ready" in msg:
            return
        if "raised" in msg and _valid_info(msg["raised"]):
            raise Ended(*classify_exception(msg["raised"]))
        if "setup_failed" in msg and _valid_info(msg["setup_failed"]):
            raise Ended("crashed", f"sandbox setup failed: {msg['setup_failed']['msg'][:150]}")
        raise Ended("crashed", "malformed message from the sandbox")

    def call(self, args: tuple, kwargs: dict):
        try:  # exactly the builtin values the sandbox would decode from plaindata's JSON
            plain = plaindata.decode(plaindata.encode([list(args), dict(kwargs)]))
        except (plaindata.Unencodable, plaindata.Malformed) as e:
            raise Ended("crashed", f"the test passed arguments that are not plain data: {e}") from None
        data = marshal.dumps(plain)
        self.pending = struct.pack(">I", len(data)) + data
        self._pump(lambda: not self.pending or not self.resp_open)
        msg = self._message()
        if "value" in msg and type(msg["value"]) is str:
            try:
                return "value", plaindata.decode(msg["value"])
            except plaindata.Malformed as e:
                raise Ended("crashed", f"malformed value from the sandbox: {e}") from None
        if "raised" in msg and _valid_info(msg["raised"]):
            return "raised", msg["raised"]
        if "unencodable" in msg and type(msg["unencodable"]) is str:
            return "raised", {"type": "TypeError", "mro": ["TypeError"], "errno": None,
                              "msg": "returned a value that is not plain data: " + msg["unencodable"][:150]}
        raise Ended("crashed", "malformed message from the sandbox")

    # -- after a wall-clock timeout --------------------------------------------------------------
    def linger(self, cpu_target: float, max_s: float) -> bool:
        """Let a sandbox that hit its wall-clock limit run on, unjudged, for at most `max_s` more
        seconds, and say whether its cgroup's CPU reached `cpu_target` (the time limit), or its
        worker was killed by its CPU rlimit (the limit rounded up to whole seconds). The
        cgroup's cpu.max is one CPU, so a program that used its whole time limit in CPU without
        finishing would time out alone too, however loaded the machine: its timeout needs no
        re-run. It stops early once the sandbox stops using CPU (it answered and waits for the
        judge, or sleeps), its worker ends, or its CPU rate cannot reach the target in time.
        Otherwise the CPU it used after the limit is not reported (`cpu_s` is the CPU at the
        limit), so nothing is judged on more than it was before."""
        if self.cgroup is None or max_s <= 0 or self.cgroup.cpu_seconds() is None:
            return False
        t0, cpu0 = time.monotonic(), self.cgroup.cpu_seconds()
        last, self.cpu_at_limit = [t0, cpu0], cpu0  # cleared below once the target is reached

        def over() -> bool:
            now, cpu = time.monotonic(), self.cgroup.cpu_seconds()
            if cpu is None or cpu >= cpu_target or self._frame_sup() is not None:
                return True
            if now - last[0] >= 0.25:
                rate = (cpu - last[1]) / (now - last[0])
                if rate < 0.01 or cpu + rate * (t0 + max_s - now) < cpu_target:
                    return True  # idle, or too slow to get there
                last[:] = [now, cpu]
            return False

        self.deadline = t0 + max_s
        try:
            self._pump(over)
        except Ended:
            pass
        # SIGXCPU: the worker's RLIMIT_CPU (the limit rounded up) ended it, which the sandbox
        # already counts as a CPU-bound timeout (the kernel's tick-sampled count of its CPU)
        reached = ((self.cgroup.cpu_seconds() or 0.0) >= cpu_target
                   or (self.sup or {}).get("signal") == signal.SIGXCPU)
        if reached:
            self.cpu_at_limit = None
        return reached

    # -- teardown -------------------------------------------------------------------------------
    def close(self, wait: bool = True) -> None:
        os.close(self.req_w)  # EOF: the worker exits; the supervisor reports
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
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            for f in (self.proc.stdout, self.proc.stderr):
                f.close()
        for fd in (self.resp_r, self.sup_r):
            os.close(fd)
        self.sel.close()
        if self.workdir is not None:
            _kill_marked(self.workdir)
            _remove_tree(self.workdir)
        if self.cgroup is not None:
            self.cpu_s = self.cgroup.cpu_seconds()
            if self.cpu_at_limit is not None:
                self.cpu_s = self.cpu_at_limit
            self.cgroup.remove()
        self.features |= {n for n in self.notes if n in iso_mod.FEATURES}


def _remove_tree(path: str) -> None:
    """However deep (shutil.rmtree recurses and fails past ~1000 levels): `rm -rf`."""
    subprocess.run(["rm", "-rf", "--one-file-system", "--", path], capture_output=True)
    if os.path.exists(path):
        shutil.rmtree(path, ignore_errors=True)


def _kill_marked(workdir: str) -> None:
    """No pid namespace: kill any process still running in the sandbox's work dir."""
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if os.readlink(f"/proc/{p}/cwd").startswith(workdir):
                    os.kill(int(p), signal.SIGKILL)
            except OSError:
                pass


