"""The process tree inside one sandbox: `python -I -S -B -c boot.BOOT` (stdlib only).

The host compiles this file and plaindata.py once and sends both code objects with the item's
config, marshalled, on the supervisor's stdin; BOOT runs main((plaindata's code,), config). So no
sandbox compiles them again or reads the project's directory. Every import here is paid by
every item: the sandbox imports only `ctypes`, `resource`, `marshal` and `_json` (not `json`,
which pulls in `re`; not `traceback`).

supervisor (trusted; pid 1 of the sandbox's pid namespace, real or namespace root)
  1. joins the sandbox cgroup, then a cgroup namespace rooted there (no sibling or host cgroup
  is visible), 2. builds a minimal root and pivots into it (build_root: a tmpfs holding only
  /usr and its links, the interpreter's prefix at its own path, null/zero/full/random/urandom, a
  private devpts, the pid namespace's /proc; no other host file, FIFO or socket, no /sys, no
  /dev/fuse), makes it read-only + nosuid (recursive; the host trees nodev too), mounts fresh
  size-capped tmpfs on /tmp, /var/tmp and /dev/shm, and builds a Landlock ruleset allowing
  files to be opened for writing only there, in its devpts, /proc and the five devices (the
  host trees are bound live: a FIFO a host process makes there later must receive nothing);
  the work dir ($HOME, cwd) is /tmp/work, 3. forks the worker, waits for it, kills what it left
  behind, and reports [exit, signal, notes] on its own fd.
worker (untrusted from the moment it runs the completion)
  rlimits, a fresh uid (or every capability dropped), no_new_privs, Landlock, seccomp, then
  exec(prompt + completion) and a loop: read a call (plain data) from the host, call the entry
  point, write back its return value as plain data, or the exception it raised.

Nothing this process writes is trusted by the host beyond its being plain data: the host decodes
every message strictly (loraplace.sandbox.plaindata) and decides the outcome itself.
Messages are 4-byte big-endian lengths + a body: a JSON array from the sandbox (plaindata.dumps;
never a JSON object, whose keys the host would hash), and from the host (trusted) a call's
arguments as marshalled builtin values.
"""
import ctypes
import marshal
import os
import resource
import sys

plaindata = None  # the module, built by main() from the code object the host sent


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
    if head is None:
        return None
    return _read_exact(fd, int.from_bytes(head, "big"))


def write_msg(fd, obj):
    data = plaindata.dumps(obj).encode("ascii")
    data = len(data).to_bytes(4, "big") + data
    while data:
        data = data[os.write(fd, data):]


def exc_info(e):
    """[type, mro, errno, msg] of an exception; robust to hostile exception objects."""
    try:
        name = str(type(e).__name__)
    except BaseException:
        name = "?"
    try:
        mro = [str(c.__name__) for c in type(e).__mro__]
    except BaseException:
        mro = []
    try:
        no = e.errno if type(getattr(e, "errno", None)) is int else None
    except BaseException:
        no = None
    try:
        msg = str.__str__(str(e))[:300]
    except BaseException:
        msg = "<unprintable>"
    return [name, mro, no, msg]


libc = ctypes.CDLL(None, use_errno=True)


def prctl(*a):
    return libc.prctl(*[ctypes.c_ulong(x) for x in a])


def mount(src, target, fstype, flags, data):
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    if libc.mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        raise OSError(ctypes.get_errno(), f"mount {target}")


def setattr_tree(path, attrs):
    """mount_setattr(2) on `path` and every mount below it: set MOUNT_ATTR_* `attrs`."""
    class MountAttr(ctypes.Structure):
        _fields_ = [(n, ctypes.c_uint64) for n in ("set", "clr", "prop", "userns")]
    attr = MountAttr(attrs, 0, 0, 0)
    if libc.syscall(442, -100, path.encode(), 0x8000, ctypes.byref(attr), ctypes.sizeof(attr)) != 0:
        raise OSError(ctypes.get_errno(), f"mount_setattr {path}")  # 442 = mount_setattr, AT_RECURSIVE


def readonly_root():
    setattr_tree("/", 0x1 | 0x2)  # MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID (devices stay usable)


# Landlock: the only places the program may open a file for writing (the private tmpfs, its own
# devpts, /proc, the five devices). A FIFO a host process made under /usr or the interpreter's
# prefix (bound from the host, live) would otherwise open for writing on a read-only mount.
WRITABLE_TREES = ("/tmp", "/var/tmp", "/dev/shm", "/dev/pts", "/proc")
LANDLOCK_WRITE_FILE = 1 << 1


def landlock_ruleset():
    """A Landlock ruleset fd allowing writes only beneath WRITABLE_TREES and to DEVICES (the
    worker enforces it on itself: landlock_restrict_self)."""
    class Attr(ctypes.Structure):
        _fields_ = [("handled_access_fs", ctypes.c_uint64)]

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]
    attr = Attr(LANDLOCK_WRITE_FILE)
    rs = libc.syscall(444, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)), ctypes.c_uint32(0))
    if rs < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset")
    for path in WRITABLE_TREES + tuple("/dev/" + d for d in DEVICES):
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        rule = PathBeneath(LANDLOCK_WRITE_FILE, fd)
        ok = libc.syscall(445, rs, 1, ctypes.byref(rule), ctypes.c_uint32(0)) == 0  # PATH_BENEATH
        os.close(fd)
        if not ok:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule {path}")
    return rs


MS_BIND, MS_REC, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1000, 0x4000, 0x2, 0x4, 0x8
DEVICES = ("null", "zero", "full", "random", "urandom")


def bind(src, dst):
    if os.path.isdir(src):
        os.makedirs(dst, 0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), 0o755, exist_ok=True)
        open(dst, "a").close()
    mount(src, dst, None, MS_BIND | MS_REC, None)


def build_root(cfg, new):
    """A fresh tmpfs at `new` holding only what the interpreter needs, read-only: /usr (and the
    /bin, /lib... links or dirs beside it), the interpreter's prefix at its own path, a few
    devices, a private devpts, /proc; no other host file, FIFO or socket exists in it."""
    mount("tmpfs", new, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=256,mode=755")
    for name in ("usr", "bin", "lib", "lib32", "lib64", "libx32", "sbin"):
        host = "/" + name
        if os.path.islink(host):
            os.symlink(os.readlink(host), new + host)
        elif os.path.isdir(host):
            bind(host, new + host)
            setattr_tree(new + host, 0x4)  # MOUNT_ATTR_NODEV: a device node there opens nothing
    py = os.path.realpath(cfg["pyroot"])
    if not os.path.exists(new + py):  # a prefix outside /usr (pyenv, /opt): at its own path
        bind(py, new + py)
        setattr_tree(new + py, 0x4)
    if os.path.exists("/etc/ld.so.cache"):
        bind("/etc/ld.so.cache", new + "/etc/ld.so.cache")
        setattr_tree(new + "/etc/ld.so.cache", 0x4)
    for d in ("/etc", "/tmp", "/var/tmp", "/dev/shm", "/dev/pts", "/proc"):
        os.makedirs(new + d, 0o755, exist_ok=True)
    for dev in DEVICES:
        bind("/dev/" + dev, new + "/dev/" + dev)
    mount("devpts", new + "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,max=64")
    for link, target in (("ptmx", "pts/ptmx"), ("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, new + "/dev/" + link)
    mount("/proc", new + "/proc", None, MS_BIND | MS_REC, None)  # the pid namespace's own proc
    os.chdir(new)
    os.mkdir(".old")
    if libc.syscall(155, b".", b".old") != 0:  # 155 = pivot_root
        raise OSError(ctypes.get_errno(), "pivot_root")
    if libc.umount2(b"/.old", 2) != 0:  # MNT_DETACH
        raise OSError(ctypes.get_errno(), "umount /.old")
    os.rmdir("/.old")
    os.chdir("/")


def setup_mounts(cfg, notes):
    """The minimal root (build_root), read-only and nosuid (host trees nodev too); private tmpfs
    on /tmp (the work dir, $HOME), /var/tmp and /dev/shm; the Landlock ruleset the worker will
    enforce (cfg["landlock_fd"]): "fs-readonly" only with all of it."""
    uid = cfg["drop_uid"] if cfg["drop_uid"] is not None else 0
    try:
        build_root(cfg, "/run")
        readonly_root()
    except OSError as e:
        notes.append(f"fs-readonly failed: {e}")
        return False
    try:
        big = f"size={cfg['limits']['fsize']},nr_inodes={cfg['limits']['inodes']}"
        for path, opts in (("/tmp", big + ",mode=1777"), ("/var/tmp", "size=1m,nr_inodes=64,mode=1777"),
                           ("/dev/shm", "size=1m,nr_inodes=64,mode=1777")):
            mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, opts)
        os.mkdir("/tmp/work", 0o700)
        os.chown("/tmp/work", uid, uid)
        notes.append("private-tmpfs")
    except OSError as e:
        notes.append(f"private-tmpfs failed: {e}")
        return False
    try:
        cfg["landlock_fd"] = landlock_ruleset()
        notes.append("fs-readonly")
    except OSError as e:
        notes.append(f"fs-readonly failed: {e}")
    return True


def drop_privileges(cfg, notes):
    if cfg["drop_uid"] is not None:
        u = cfg["drop_uid"]
        os.setgroups([])
        os.setgid(u)
        os.setuid(u)
    elif os.getuid() == 0:  # namespace root: lock securebits, drop every capability
        prctl(28, 0x2F, 0, 0, 0)
        hdr, data = (ctypes.c_uint32 * 2)(0x20080522, 0), (ctypes.c_uint32 * 6)()
        if libc.capset(hdr, data) != 0:
            notes.append("capset failed")
    if prctl(38, 1, 0, 0, 0) != 0:  # no_new_privs
        raise OSError(ctypes.get_errno(), "no_new_privs")
    if cfg.get("landlock_fd") is not None:  # writes only where setup_mounts allows them
        if libc.syscall(446, cfg["landlock_fd"], ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self")
        os.close(cfg["landlock_fd"])
    bpf = cfg["seccomp_bpf"]
    if bpf:
        class Prog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
        buf = ctypes.create_string_buffer(bpf, len(bpf))
        prog = Prog(len(bpf) // 8, ctypes.cast(buf, ctypes.c_void_p))
        if libc.prctl(22, 2, ctypes.byref(prog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
            raise OSError(ctypes.get_errno(), "seccomp")


def worker(cfg, req, resp):
    """Never returns. Errors before the completion runs are reported as setup failures."""
    try:
        os.chdir(cfg["workdir"])
        L = cfg["limits"]
        for name, v in (("AS", L["as"]), ("FSIZE", L["fsize"]), ("CORE", 0), ("NOFILE", 256)):
            resource.setrlimit(getattr(resource, "RLIMIT_" + name), (v, v))
        if cfg["drop_uid"] is not None:  # a fresh uid: RLIMIT_NPROC counts this sandbox only
            resource.setrlimit(resource.RLIMIT_NPROC, (L["nproc_rlimit"], L["nproc_rlimit"]))
        resource.setrlimit(resource.RLIMIT_CPU, (L["cpu"], L["cpu"] + 1))
        drop_privileges(cfg, [])
        code, entry = cfg["code"], cfg["entry_point"]
        cfg.clear()
    except BaseException as e:
        write_msg(resp, ["setup_failed", *exc_info(e)])
        os._exit(3)
    g = {"__name__": "__main__"}
    try:
        exec(compile(code, "<completion>", "exec"), g)
        fn = g[entry]
    except BaseException as e:
        try:  # the interpreter's own printer: importing `traceback` would cost every item
            sys.__excepthook__(type(e), e, e.__traceback__)
            sys.stderr.flush()
        except BaseException:
            pass
        write_msg(resp, ["raised", *exc_info(e)])
        os._exit(1)
    write_msg(resp, ["ready"])
    me = os.getpid()
    while True:
        msg = read_msg(req)
        if msg is None:
            os._exit(0)
        args, kwargs = marshal.loads(msg)  # from the host: plain builtin values
        try:
            value = fn(*args, **kwargs)
        except BaseException as e:
            if os.getpid() != me:
                os._exit(1)
            write_msg(resp, ["raised", *exc_info(e)])
            continue
        if os.getpid() != me:  # a child forked by the candidate returned into this loop
            os._exit(0)
        try:
            out = ["value", plaindata.encode(value)]
        except BaseException as e:
            out = ["unencodable", exc_info(e)[3]]
        write_msg(resp, out)


def join_cgroup(cfg, notes):
    for path in cfg["cgroup_procs"]:
        try:
            with open(path, "w") as f:
                f.write(str(os.getpid()))
        except OSError as e:
            notes.append(f"cgroup failed: {e}")
    if cfg["cgroup_procs"] and not any(n.startswith("cgroup failed") for n in notes):
        notes.append("cgroup")


def kill_leftovers():
    """Without a pid namespace: kill what the worker left behind (children re-parented here)."""
    for _ in range(50):
        mine = []
        for p in os.listdir("/proc"):
            if not p.isdigit() or int(p) == os.getpid():
                continue
            try:
                with open(f"/proc/{p}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == os.getpid():
                        mine.append(int(p))
            except (OSError, ValueError, IndexError):
                continue
        if not mine:
            return
        for p in mine:
            try:
                os.kill(p, 9)
                os.waitpid(p, 0)
            except OSError:
                pass


def wait_for(pid):
    """The worker's wait status (reaping every other child on the way), None if unknown."""
    while True:
        try:
            p, s = os.waitpid(-1, 0)
        except ChildProcessError:
            return None
        if p == pid:
            return s


def main(codes, cfg):
    """codes: (plaindata.py's code object,); cfg: this item (see session.Session)."""
    global plaindata
    plaindata = type(sys)("plaindata")
    exec(codes[0], plaindata.__dict__)
    nul = os.open("/dev/null", os.O_RDONLY)
    os.dup2(nul, 0)
    notes = []
    join_cgroup(cfg, notes)
    if libc.unshare(0x02000000) == 0:  # CLONE_NEWCGROUP: its own cgroup is its root
        notes.append("cgroupns")
    if cfg["mount_ns"] and setup_mounts(cfg, notes):
        cfg["workdir"] = "/tmp/work"
    prctl(36, 1, 0, 0, 0)  # child subreaper
    prctl(4, 0, 0, 0, 0)   # not dumpable: no ptrace of the supervisor
    if cfg["seccomp_bpf"]:
        notes.append("seccomp")
    req, resp, rep = cfg["req_fd"], cfg["resp_fd"], cfg["report_fd"]
    write_msg(rep, ["notes", notes])  # first: the isolation obtained, whatever happens next
    pid = os.fork()
    if pid == 0:
        os.close(rep)
        worker(cfg, req, resp)
    os.close(req)
    os.close(resp)
    st = wait_for(pid)
    kill_leftovers()
    write_msg(rep, ["exit", os.WEXITSTATUS(st) if st is not None and os.WIFEXITED(st) else None,
                    os.WTERMSIG(st) if st is not None and os.WIFSIGNALED(st) else None, notes])
    os._exit(0)
