"""Run untrusted Python programs (e.g. HumanEval completions) in a separate, limited process.

Layout of one run (this process never imports or execs the program):

    runner thread ── Popen ──► [unshare --net --pid --mount-proc --fork --kill-child]
                                 └─ supervisor = `python -I -S -B -c _HARNESS`  (pid 1, trusted)
                                      │ read-only remount of / except the work dir (mount ns)
                                      └─ fork ─► worker: rlimits, drop uid / caps, no_new_privs,
                                                 exec(program); on return write {nonce, returned}

Channels: config (program, nonce, limits) on stdin; program stdout/stderr on two pipes, of which
only a tail is kept; fd 3 is the supervisor's own report, closed in the worker before the
program starts. When the supervisor (pid 1 of the pid namespace) exits, the kernel kills every
process left in the namespace, daemons included; without namespaces the supervisor is a child
subreaper and kills what is left, and the runner kills the whole process group.

Status of a `SandboxResult` (exactly one):
  passed   the worker's report carries this run's nonce and says the program returned, i.e.
           `check(...)` ran to the end. Exit codes are never trusted: sys.exit(0) / os._exit(0)
           before the checks gives `failed` / `crashed`.
  failed   the program raised an ordinary exception (AssertionError, SyntaxError, NameError,
           SystemExit, ...) that is not a sandbox refusal.
  timeout  the wall-clock limit passed, or the CPU-time limit fired (SIGXCPU).
  crashed  the worker ended without a valid report: killed by a signal, exited early
           (os._exit), the report was missing / forged / malformed, or the sandbox failed.
  blocked  a sandbox limit or refusal ended the program: MemoryError (RLIMIT_AS), fork or
           thread creation refused (EAGAIN: RLIMIT_NPROC), file size limit (SIGXFSZ / EFBIG),
           write refused (EACCES, EPERM, EROFS), network unreachable (no network namespace).
Known gap: the nonce lives in the worker's memory before the program runs; a program that
deliberately introspects the harness can forge a pass. It contains accidents, not a forger.
"""
from __future__ import annotations

import dataclasses
import errno as _errno
import json
import os
import re
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

STATUSES = ("passed", "failed", "timeout", "crashed", "blocked")
TAIL_BYTES = 64 * 1024
PREIMPORT = ("math cmath re string collections itertools functools operator heapq bisect random "
             "statistics fractions decimal hashlib typing copy datetime time numbers array "
             "textwrap unicodedata struct doctest socket subprocess threading tempfile shutil "
             "pathlib").split()  # imported before the uid drop when the stdlib is root-only

_HARNESS = r'''
import os, sys, json, ctypes, resource, select, signal, traceback
cfg = json.loads(sys.stdin.buffer.read()); nul = os.open("/dev/null", os.O_RDONLY); os.dup2(nul, 0)
libc = ctypes.CDLL(None, use_errno=True); notes = []; RFD = cfg["report_fd"]
def _uid(p):
    try: return os.stat("/proc/" + p).st_uid
    except OSError: return -1
def prctl(*a): return libc.prctl(*[ctypes.c_ulong(x) for x in a])
if cfg["mount_ns"]:  # everything read-only and nosuid, except a fresh bind mount of the work dir
    class MA(ctypes.Structure): _fields_ = [(n, ctypes.c_uint64) for n in ("set", "clr", "prop", "userns")]
    def setattr_(path, flags, set_=0, clr=0):
        a = MA(set_, clr, 0, 0)
        if libc.syscall(442, -100, path.encode(), flags, ctypes.byref(a), ctypes.sizeof(a)) != 0:
            raise OSError(ctypes.get_errno(), "mount_setattr " + path)
    try:
        w = cfg["workdir"].encode()
        if libc.mount(w, w, None, ctypes.c_ulong(0x1000 | 0x4000), None) != 0:
            raise OSError(ctypes.get_errno(), "bind mount")
        setattr_("/", 0x8000, set_=1 | 2 | 4)
        setattr_(cfg["workdir"], 0, clr=1); notes.append("fs-readonly")
    except OSError as e: notes.append("fs-readonly failed: %s" % e)
prctl(36, 1, 0, 0, 0); prctl(4, 0, 0, 0, 0)  # child subreaper; not dumpable (no ptrace)
r, w = os.pipe(); worker = os.fork()
if worker == 0:
    os.close(RFD); os.close(r); me = os.getpid(); wr, dumps, exit_ = os.write, json.dumps, os._exit
    try:
        os.chdir(cfg["workdir"])
        for m in cfg["preimport"]: __import__(m)
        L = cfg["limits"]; nproc = L["nproc"]
        if cfg["drop_uid"] is None and os.getuid() != 0:  # NPROC counts every process of this uid
            nproc += sum(1 for p in os.listdir("/proc") if p.isdigit() and _uid(p) == os.getuid())
        for name, v in (("AS", L["as"]), ("FSIZE", L["fsize"]), ("CORE", 0), ("NOFILE", 256)):
            resource.setrlimit(getattr(resource, "RLIMIT_" + name), (v, v))
        resource.setrlimit(resource.RLIMIT_CPU, (L["cpu"], L["cpu"] + 1))
        if cfg["drop_uid"] is not None:
            u = cfg["drop_uid"]; os.setgroups([]); os.setgid(u); os.setuid(u)
        elif os.getuid() == 0:  # ns-root: lock securebits and drop every capability
            prctl(28, 0x2F, 0, 0, 0)
            hdr = (ctypes.c_uint32 * 2)(0x20080522, 0); data = (ctypes.c_uint32 * 6)()
            if libc.capset(hdr, data) != 0: notes.append("capset failed")
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        prctl(38, 1, 0, 0, 0)  # no_new_privs
        code = compile(cfg["program"], "<program>", "exec")
        cfg["program"] = None; g = {}
        exec(code, g)
        if os.getpid() == me: wr(w, dumps({"nonce": cfg["nonce"], "outcome": "returned"}).encode())
        exit_(0)
    except BaseException as e:
        if os.getpid() != me: exit_(1)
        try: traceback.print_exc(); sys.stderr.flush()
        except BaseException: pass
        try: wr(w, dumps({"nonce": cfg["nonce"], "outcome": "raised", "exc": type(e).__name__,
                          "mro": [c.__name__ for c in type(e).__mro__], "errno": getattr(e, "errno", None),
                          "msg": str(e)[:300]}).encode())
        except BaseException: pass
        exit_(1)
os.close(w)
while True:
    try: pid, st = os.waitpid(-1, 0)
    except ChildProcessError: st = None; break
    if pid == worker: break
rep = b""
while select.select([r], [], [], 0.05)[0] and len(rep) < 65536:
    chunk = os.read(r, 65536)
    if not chunk: break
    rep += chunk
for _ in range(50):  # without a pid namespace: kill what the worker left behind
    kids = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]
    mine = []
    for p in kids:
        try:
            with open("/proc/%d/stat" % p) as f: ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError): continue
        if ppid == os.getpid(): mine.append(p)
    if not mine: break
    for p in mine:
        try: os.kill(p, 9); os.waitpid(p, 0)
        except OSError: pass
out = {"exit": os.WEXITSTATUS(st) if st is not None and os.WIFEXITED(st) else None,
       "signal": os.WTERMSIG(st) if st is not None and os.WIFSIGNALED(st) else None,
       "report": rep.decode("utf-8", "replace"), "notes": notes}
os.write(RFD, json.dumps(out).encode()); os._exit(0)
'''


@dataclasses.dataclass(frozen=True)
class SandboxResult:
    status: str                # one of STATUSES
    reason: str                # short, human readable
    stderr_tail: str
    duration_s: float
    network_isolated: bool
    stdout_tail: str = ""
    isolation: tuple = ()      # e.g. ("netns", "pidns", "fs-readonly", "uid-drop")

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclasses.dataclass(frozen=True)
class Isolation:
    prefix: tuple              # command prefix, () when no namespaces are available
    network: bool
    pid_ns: bool
    mount_ns: bool
    drop_uid: bool             # running as root: the worker becomes a fresh random uid


@lru_cache(maxsize=None)
def isolation(mode: str = "auto") -> Isolation:
    """Probe what this machine allows. mode: auto | userns (force the unprivileged path) | none."""
    root = os.geteuid() == 0
    unshare = shutil.which("unshare")
    ns = ("--net", "--pid", "--fork", "--kill-child", "--mount-proc")
    candidates = []
    if unshare and mode == "auto" and root:
        candidates.append(((unshare, *ns), True))
    if unshare and mode in ("auto", "userns"):
        candidates.append(((unshare, "--user", "--map-root-user", *ns), False))
    for prefix, drop in candidates:
        try:
            ok = subprocess.run([*prefix, "true"], capture_output=True, timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            return Isolation(prefix, True, True, True, drop)
    return Isolation((), False, False, False, root)


@lru_cache(maxsize=None)
def _stdlib_public() -> bool:
    """Can any uid read this interpreter's stdlib (e.g. not a pyenv under a 0700 /root)?"""
    path = os.path.realpath(os.path.dirname(os.__file__))
    while path != "/":
        if not os.stat(path).st_mode & 0o005 == 0o005:
            return False
        path = os.path.dirname(path)
    return True


def _preimports(program: str) -> list[str]:
    """Allow-listed stdlib modules the program names, imported before the uid drop."""
    words = set(re.findall(r"[A-Za-z_]\w*", program))
    mods = [m for m in PREIMPORT if m in words]
    return mods + ["encodings.idna"] if "socket" in mods else mods


def build_program(prompt: str, completion: str, test: str, entry_point: str) -> str:
    return prompt + completion + "\n" + test + f"\ncheck({entry_point})\n"


class _Tail:
    def __init__(self, cap: int):
        self.cap, self.buf, self.total = cap, bytearray(), 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.buf += chunk
        if len(self.buf) > 2 * self.cap:
            del self.buf[: len(self.buf) - self.cap]

    def text(self) -> str:
        return bytes(self.buf[-self.cap:]).decode("utf-8", "replace")


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()


_BLOCK_ERRNOS = {_errno.EACCES: "write refused", _errno.EPERM: "operation refused",
                 _errno.EROFS: "read-only filesystem", _errno.EFBIG: "file size limit",
                 _errno.ENETUNREACH: "network unavailable", _errno.ENETDOWN: "network unavailable",
                 _errno.EAGAIN: "process limit"}


def _classify(rep: dict | None, sup: dict | None, nonce: str) -> tuple[str, str]:
    if sup is None:
        return "crashed", "sandbox supervisor gave no report"
    sig, code = sup.get("signal"), sup.get("exit")
    worker = None
    if rep is not None:
        worker = rep if rep.get("nonce") == nonce else "forged"
    if sig == signal.SIGXCPU:
        return "timeout", "CPU time limit (SIGXCPU)"
    if sig == signal.SIGXFSZ:
        return "blocked", "file size limit (SIGXFSZ)"
    if worker == "forged":
        return "crashed", "report without this run's nonce"
    if worker is None:
        if sig is not None:
            return "crashed", f"killed by {signal.Signals(sig).name}"
        return "crashed", f"exited with code {code} before the checks completed"
    if worker.get("outcome") == "returned":
        return "passed", "all checks returned"
    exc, mro, no = worker.get("exc", "?"), worker.get("mro") or [], worker.get("errno")
    msg = f"{exc}: {worker.get('msg', '')}"[:200]
    if "MemoryError" in mro:
        return "blocked", "memory limit (RLIMIT_AS): " + msg
    if exc == "RuntimeError" and "thread" in worker.get("msg", ""):
        return "blocked", "process limit: " + msg
    if "OSError" in mro and no in _BLOCK_ERRNOS:
        return "blocked", f"{_BLOCK_ERRNOS[no]}: {msg}"
    if exc == "AssertionError":
        return "failed", "assertion failed" + (f": {worker.get('msg')}" if worker.get("msg") else "")
    return "failed", msg


def run_program(program: str, *, timeout: float = 3.0, memory_bytes: int = 1 << 30,
                nproc: int = 32, fsize_bytes: int = 16 << 20, tail_bytes: int = TAIL_BYTES,
                mode: str = "auto") -> SandboxResult:
    """Execute one program in a fresh sandbox; never raises for anything the program does."""
    iso = isolation(mode)
    nonce = secrets.token_hex(16)
    workdir = tempfile.mkdtemp(prefix="loraplace-sbx-")
    uid = 1_500_000_000 + secrets.randbelow(100_000_000) if iso.drop_uid else None
    if uid is not None:
        os.chown(workdir, uid, uid)
    cfg = {"program": program, "nonce": nonce, "workdir": workdir, "drop_uid": uid,
           "mount_ns": iso.mount_ns, "preimport": _preimports(program) if uid is not None and not _stdlib_public() else [],
           "limits": {"as": memory_bytes, "fsize": fsize_bytes, "nproc": nproc,
                      "cpu": max(1, int(timeout + 0.999))}}
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": workdir, "TMPDIR": workdir}
    rfd, wfd = os.pipe()
    start = time.monotonic()
    out, err, sup_raw = _Tail(tail_bytes), _Tail(tail_bytes), _Tail(1 << 20)
    timed_out = False
    try:
        cfg["report_fd"] = wfd  # the supervisor's own report channel
        cmd = [*iso.prefix, sys.executable, "-I", "-S", "-B", "-c", _HARNESS]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, cwd=workdir, pass_fds=(wfd,),
                                start_new_session=True)
        os.close(wfd); wfd = -1  # noqa: E702
        try:
            proc.stdin.write(json.dumps(cfg).encode())
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        sel = selectors.DefaultSelector()
        for f, tail in ((proc.stdout, out), (proc.stderr, err)):
            sel.register(f, selectors.EVENT_READ, tail)
        rf = os.fdopen(rfd, "rb", buffering=0); rfd = -1  # noqa: E702
        sel.register(rf, selectors.EVENT_READ, sup_raw)
        deadline, exited_at = start + timeout, None
        while sel.get_map():
            now = time.monotonic()
            if now >= deadline:
                timed_out = proc.poll() is None or rf in [k.fileobj for k in sel.get_map().values()]
                break
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > 0.5:
                break  # something outside the namespace kept a pipe open
            for key, _ in sel.select(timeout=min(0.1, deadline - now)):
                chunk = os.read(key.fileobj.fileno(), 65536)
                if chunk:
                    key.data.add(chunk)
                else:
                    sel.unregister(key.fileobj)
        _kill_group(proc)
        for f in (proc.stdout, proc.stderr, rf):
            f.close()
        sel.close()
    finally:
        for fd in (rfd, wfd):
            if fd >= 0:
                os.close(fd)
        if not iso.pid_ns:
            _kill_marked(workdir)
        shutil.rmtree(workdir, ignore_errors=True)
    duration = time.monotonic() - start
    sup, rep = _parse(sup_raw.text())
    if timed_out:
        status, reason = "timeout", f"wall-clock limit {timeout:g}s"
    else:
        status, reason = _classify(rep, sup, nonce)
    notes = tuple((["netns", "pidns"] if iso.pid_ns else []) + (sup or {}).get("notes", [])
                  + (["uid-drop"] if uid is not None else []))
    return SandboxResult(status, reason, err.text(), duration, iso.network, out.text(), notes)


def _parse(raw: str) -> tuple[dict | None, dict | None]:
    """(supervisor report, worker report); a worker report that is not a dict reads as forged."""
    try:
        sup = json.loads(raw) if raw else None
    except ValueError:
        return None, None
    if not isinstance(sup, dict):
        return None, None
    if not sup.get("report"):
        return sup, None
    try:
        rep = json.loads(sup["report"])
    except ValueError:
        rep = None
    return sup, rep if isinstance(rep, dict) else {"nonce": None}


def _kill_marked(workdir: str) -> None:
    """No pid namespace: kill any process still running in the sandbox's work dir."""
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{p}/cwd").startswith(workdir):
                os.kill(int(p), signal.SIGKILL)
        except OSError:
            pass


def run_many(programs, *, workers: int | None = None, timeout: float = 3.0,
             progress: bool = True, desc: str = "sandbox", **kwargs) -> list[SandboxResult]:
    """Run programs concurrently: threads only wait on the subprocesses. Order is preserved."""
    programs = list(programs)
    workers = max(1, workers or os.cpu_count() or 1)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(programs), desc=desc, unit="prog", file=sys.stderr)
    lock = threading.Lock()

    def one(p: str) -> SandboxResult:
        res = run_program(p, timeout=timeout, **kwargs)
        if bar is not None:
            with lock:
                bar.update(1)
        return res

    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(one, programs))
    finally:
        if bar is not None:
            bar.close()
