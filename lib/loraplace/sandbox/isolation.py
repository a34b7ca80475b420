"""What isolation this machine gives a sandbox, per sandbox cgroups, and the seccomp filter.

`probe()` (once per process) finds the namespaces `unshare` can create, a writable cgroup
hierarchy with memory, pids and cpu controllers (v2, else v1), and builds the seccomp filter
with libseccomp (`pyseccomp`). A run obtains FEATURES, all of which together are "full"
isolation; each sandbox's supervisor reports the mount features it actually set up, so every
result states what it got. Anything less is refused unless the caller allows it
(`--allow-unsandboxed`): `require()` raises `IsolationRefused` naming what is missing.

  netns pidns ipcns mountns  fresh namespaces (unshare): no network, no host unix sockets
                             through the abstract namespace, no SysV IPC / POSIX mqueues of
                             the host or of another sandbox, a pid namespace whose end kills
                             every process the program left behind
  fs-readonly private-tmpfs  (set by the supervisor) a minimal root (worker.build_root: /usr,
                             the interpreter, five devices, a private devpts; no other host
                             file, FIFO or socket), read-only and nosuid, the host trees nodev;
                             Landlock lets the program open files for writing only on its own
                             tmpfs, devpts, /proc and the five devices (a FIFO a host process
                             makes under /usr or the interpreter's prefix, which are bound live,
                             receives nothing); fresh size-capped tmpfs on /tmp (work dir and
                             $HOME), /var/tmp, /dev/shm
  uid-drop                   the program runs as a fresh random uid, no capabilities
  cgroup                     memory, pids and cpu limits for the whole sandbox (not per process),
                             and its CPU time (a timeout that used its CPU is the program's own)
  seccomp                    no nested user namespaces, no setns / mount / ptrace / bpf /
                             keyctl / perf_event_open / io_uring / prctl(PR_SET_DUMPABLE) (no
                             core dump to a host's core_pattern helper); socket and socketpair
                             for AF_INET / AF_INET6 only (32-bit argument compare)
  (and, set up by the supervisor without a feature name of its own: a cgroup namespace)
The `unshare` prefix runs under `setpriv --pdeathsig KILL` (loraplace.sandbox.cleanup).
"""
from __future__ import annotations

import dataclasses
import errno
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from functools import lru_cache
from pathlib import Path

FEATURES = ("netns", "pidns", "ipcns", "mountns", "fs-readonly", "private-tmpfs", "uid-drop",
            "cgroup", "seccomp")
NAMESPACES = ("--net", "--pid", "--ipc", "--mount", "--uts", "--fork", "--kill-child",
              "--mount-proc")
CLONE_NEWUSER = 0x10000000
PR_SET_DUMPABLE = 4
# socket families a sandbox may open (inside its empty network namespace): the stdlib needs no
# other offline. Every family below FAMILIES (the kernel's AF_MAX is 46 in 6.x; a family >= its
# AF_MAX fails there anyway) is refused otherwise: AF_UNIX (host sockets), AF_VSOCK (outside the
# network namespace), AF_NETLINK, AF_PACKET, ...
SOCKET_FAMILIES = (socket.AF_INET, socket.AF_INET6)
FAMILIES = 64
_DENIED = ("setns", "mount", "umount2", "pivot_root", "mount_setattr", "open_tree", "move_mount",
           "fsopen", "fsmount", "fsconfig", "fspick", "keyctl", "add_key", "request_key", "bpf",
           "perf_event_open", "userfaultfd", "ptrace", "process_vm_readv", "process_vm_writev",
           "kexec_load", "init_module", "finit_module", "delete_module", "swapon", "swapoff",
           "reboot", "syslog", "acct", "chroot", "name_to_handle_at", "open_by_handle_at")


class IsolationRefused(RuntimeError):
    """This machine cannot give full isolation and the caller did not allow less."""


@dataclasses.dataclass(frozen=True)
class Isolation:
    prefix: tuple              # the unshare command prefix, () without namespaces
    features: tuple            # of FEATURES this machine gives (mount features: if the ns works)
    drop_uid: bool             # real root: the program becomes a fresh uid
    cgroup: str                # "v2", "v1" or ""
    seccomp_bpf: bytes         # the compiled filter, b"" without libseccomp

    @property
    def missing(self) -> tuple:
        return tuple(f for f in FEATURES if f not in self.features)

    @property
    def network(self) -> bool:
        return "netns" in self.features


def level(features) -> str:
    """'full', or 'partial (missing: ...)', or 'none' -- how a result states its isolation."""
    missing = [f for f in FEATURES if f not in features]
    if not missing:
        return "full"
    return "none" if len(missing) == len(FEATURES) else f"partial (missing: {', '.join(missing)})"


def require(iso: Isolation, allow_unsandboxed: bool) -> None:
    if iso.missing and not allow_unsandboxed:
        raise IsolationRefused(
            f"refusing to execute model-written code: this machine gives {level(iso.features)} "
            "isolation. Fix the host (root or unprivileged user namespaces, util-linux unshare, "
            "writable cgroups, libseccomp + pyseccomp, a kernel with Landlock enabled) or pass "
            "--allow-unsandboxed, which marks "
            "every affected HumanEval number.")


@lru_cache(maxsize=None)
def probe(mode: str = "auto") -> Isolation:
    """mode: auto | userns (force the unprivileged path) | none (no namespaces at all)."""
    modes = ("auto", "userns", "none")
    if mode not in modes:
        raise ValueError(f"Unknown isolation mode {mode!r}. Available: {', '.join(modes)}")
    root, unshare = os.geteuid() == 0, shutil.which("unshare")
    setpriv = shutil.which("setpriv")  # unshare dies with the scorer thread (cleanup.py)
    guard = (setpriv, "--pdeathsig", "KILL") if setpriv else ()
    candidates = []
    if unshare and mode == "auto" and root:
        candidates.append(((*guard, unshare, *NAMESPACES), True))
    if unshare and mode in ("auto", "userns"):
        candidates.append(((*guard, unshare, "--user", "--map-root-user", *NAMESPACES), False))
    prefix, drop = (), False
    for pre, d in candidates:
        try:
            if subprocess.run([*pre, "true"], capture_output=True, timeout=10).returncode == 0:
                prefix, drop = pre, d
                break
        except (OSError, subprocess.TimeoutExpired):
            continue
    feats = ["netns", "pidns", "ipcns", "mountns", "private-tmpfs"] if prefix else []
    feats += ["fs-readonly"] if prefix and _landlock() else []
    if prefix and (drop or not root):
        feats.append("uid-drop")  # ns-root of a user namespace: capabilities dropped instead
    cg = _cgroup_kind() if prefix and drop else ""
    feats += ["cgroup"] if cg else []
    bpf = _seccomp_bpf() if prefix else b""
    feats += ["seccomp"] if bpf else []
    return Isolation(prefix, tuple(f for f in FEATURES if f in feats), drop, cg, bpf)


def _landlock() -> bool:
    """Whether the kernel enforces Landlock (its ABI version is at least 1)."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1)) >= 1  # _VERSION
    except (OSError, AttributeError):
        return False


def _seccomp_bpf() -> bytes:
    try:
        import pyseccomp as sc
    except (ImportError, OSError):  # no bindings, or no libseccomp.so.2
        return b""
    try:
        f = sc.SyscallFilter(defaction=sc.ALLOW)
        f.add_rule(sc.ERRNO(errno.EPERM), "unshare", sc.Arg(0, sc.MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER))
        f.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER))
        f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")  # flags live in memory: libc falls back to clone
        for family in range(FAMILIES):  # an allowlist: every family but SOCKET_FAMILIES
            if family not in SOCKET_FAMILIES:  # the kernel reads an int: compare 32 bits only
                for call in ("socket", "socketpair"):
                    f.add_rule(sc.ERRNO(errno.EACCES), call, sc.Arg(0, sc.MASKED_EQ, 0xFFFFFFFF, family))
        for name in _DENIED:
            f.add_rule(sc.ERRNO(errno.EPERM), name)
        # PR_SET_DUMPABLE: the worker stays undumpable, so a crash it provokes never feeds its
        # memory to a host's core_pattern pipe helper (which runs as root outside every namespace)
        f.add_rule(sc.ERRNO(errno.EPERM), "prctl", sc.Arg(0, sc.MASKED_EQ, 0xFFFFFFFF, PR_SET_DUMPABLE))
        for name in ("io_uring_setup", "io_uring_enter", "io_uring_register"):
            f.add_rule(sc.ERRNO(errno.ENOSYS), name)  # its socket / open ops bypass the rules above
        with tempfile.TemporaryFile() as fh:
            f.export_bpf(fh)
            fh.seek(0)
            return fh.read()
    except (OSError, RuntimeError, ValueError):
        return b""


def _self_cgroup(controller: str) -> str:
    """This process's cgroup path for a v1 controller ('' for the v2 line)."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if ctrls.split(",") == ([controller] if controller else [""]) or controller in ctrls.split(","):
                return path
    return "/"


def _v2_base() -> Path | None:
    root = Path("/sys/fs/cgroup")
    try:
        have = (root / "cgroup.controllers").read_text().split()
    except OSError:
        return None
    return root if {"memory", "pids", "cpu"} <= set(have) else None


def _v1_dirs() -> dict[str, Path]:
    out = {}
    for ctrl in ("memory", "pids", "cpu", "cpuacct"):
        d = Path("/sys/fs/cgroup") / ctrl / _self_cgroup(ctrl).lstrip("/")
        if d.is_dir() and os.access(d, os.W_OK):
            out[ctrl] = d
    return out


def cgroup_parents(kind: str) -> list[Path]:
    """The directories sandbox cgroups of `kind` are created in (one per v1 controller)."""
    if kind == "v2":
        base = _v2_base()
        return [] if base is None else [base / _self_cgroup("").lstrip("/")]
    return list(_v1_dirs().values())


def _cgroup_kind() -> str:
    """'v2' or 'v1' when a test sandbox cgroup can be created and limited here, else ''."""
    for kind in ("v2", "v1"):
        try:
            cg = Cgroup.create(kind, memory=64 << 20, pids=8)
        except OSError:
            continue
        cg.remove()
        return kind
    return ""


@dataclasses.dataclass(frozen=True)
class Cgroup:
    """One sandbox's cgroup: directories (one per v1 controller, or one v2 group)."""

    kind: str
    dirs: tuple

    @classmethod
    def create(cls, kind: str, *, memory: int, pids: int, cpus: float = 1.0) -> "Cgroup":
        name = f"loraplace-{os.getpid()}-{secrets.token_hex(6)}"
        period, quota = 100_000, int(100_000 * cpus)
        if kind == "v2":
            base = _v2_base()
            if base is None:
                raise OSError(errno.ENOENT, "no cgroup v2 with memory, pids and cpu controllers")
            parent = base / _self_cgroup("").lstrip("/")
            (parent / "cgroup.subtree_control").write_text("+memory +pids +cpu")
            d = parent / name
            d.mkdir()
            made = cls(kind, (d,))
            try:
                (d / "memory.max").write_text(str(memory))
                (d / "memory.swap.max").exists() and (d / "memory.swap.max").write_text("0")
                (d / "pids.max").write_text(str(pids))
                (d / "cpu.max").write_text(f"{quota} {period}")
            except OSError:
                made.remove()
                raise
            return made
        dirs = _v1_dirs()
        ctrls = ("memory", "pids", "cpu", "cpuacct")
        if set(dirs) != set(ctrls):
            raise OSError(errno.EACCES, f"cgroup v1: no writable {sorted(set(ctrls) - set(dirs))}")
        made = cls(kind, tuple(dirs[c] / name for c in ctrls))
        for d in made.dirs:
            d.mkdir()
        try:
            mem, pid, cpu, _ = made.dirs
            (mem / "memory.limit_in_bytes").write_text(str(memory))
            (mem / "memory.swappiness").write_text("0")  # no swap: no futile reclaim at the limit
            if (mem / "memory.memsw.limit_in_bytes").exists():
                (mem / "memory.memsw.limit_in_bytes").write_text(str(memory))
            (pid / "pids.max").write_text(str(pids))
            (cpu / "cpu.cfs_period_us").write_text(str(period))
            (cpu / "cpu.cfs_quota_us").write_text(str(quota))
        except OSError:
            made.remove()
            raise
        return made

    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def cpu_seconds(self) -> float | None:
        """CPU time used by every process of the sandbox so far (None if unreadable)."""
        try:
            if self.kind == "v2":
                stat = dict(line.split() for line in (self.dirs[0] / "cpu.stat").read_text().splitlines())
                return int(stat["usage_usec"]) / 1e6
            return int((self.dirs[3] / "cpuacct.usage").read_text()) / 1e9
        except (OSError, KeyError, ValueError, IndexError):
            return None

    def _read(self, index: int, name: str) -> str:
        try:
            return (self.dirs[index] / name).read_text()
        except (OSError, IndexError):
            return ""

    def limit_hit(self) -> str | None:
        """Which limit the sandbox ran into, from the kernel's counters (host-side facts, never
        what the sandbox says): 'memory' (an OOM kill, or the limit reached), 'processes'
        (a fork or thread refused by pids.max), else None."""
        def count(text: str, keys: tuple) -> int:
            n = 0
            for line in text.splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[0] in keys and parts[1].isdigit():
                    n += int(parts[1])
            return n
        if self.kind == "v2":
            mem = count(self._read(0, "memory.events"), ("max", "oom_kill"))
            pids = count(self._read(0, "pids.events"), ("max",))
        else:
            fail = self._read(0, "memory.failcnt").strip()
            mem = count(self._read(0, "memory.oom_control"), ("oom_kill",)) + (int(fail) if fail.isdigit() else 0)
            pids = count(self._read(1, "pids.events"), ("max",))
        return "memory" if mem else "processes" if pids else None

    def runnable(self) -> bool:
        """Whether any thread of the sandbox is running or waiting for a CPU (state R)."""
        tids = self._read(0, "cgroup.threads" if self.kind == "v2" else "tasks").split()
        for tid in tids:
            try:
                with open(f"/proc/{int(tid)}/stat", "rb") as f:
                    if f.read().rsplit(b")", 1)[1].split()[0] == b"R":
                        return True
            except (OSError, ValueError, IndexError):
                continue
        return False

    def kill(self) -> None:
        """SIGKILL every task in the group (cgroup.kill where the kernel has it)."""
        from loraplace.sandbox.reaper import kill_group

        for d in self.dirs:
            kill_group(str(d))

    def remove(self) -> None:
        """Kill whatever is left in the group, then remove it (a few tries, ~1 s at most)."""
        for attempt in range(60):
            self.kill()
            left = False
            for d in self.dirs:
                try:
                    d.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:
                    left = True
            if not left:
                return
            time.sleep(min(0.02, 0.0005 * 2 ** attempt))  # dying tasks leave within ms
