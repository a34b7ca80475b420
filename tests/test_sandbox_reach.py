"""Nothing on the host is reachable from a sandbox: no host unix socket or FIFO (however the
socket is made: a 64-bit family argument, socketpair + sendto, io_uring), no AF_VSOCK, no host
file outside /usr and the interpreter, no host pty, /dev/fuse or cgroup tree. Every completion
here is hostile on purpose."""
from __future__ import annotations

import os
import shutil
import socket
import stat
import sys
import tempfile
import threading

import pytest

from sandbox_cases import OK, attack, needs_full, prog, run

pytestmark = needs_full


@pytest.fixture
def host_dir():
    d = tempfile.mkdtemp(prefix="loraplace-reach-", dir="/var/tmp")
    os.chmod(d, 0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


RAW = """
import ctypes, os, socket
libc = ctypes.CDLL(None, use_errno=True)
class Addr(ctypes.Structure):
    _fields_ = [('family', ctypes.c_ushort), ('path', ctypes.c_char * 108)]
def addr(path):
    return Addr(socket.AF_UNIX, path.encode())
"""

# each tries to deliver b'PWNED' to the host socket at PATH (a stream and a datagram one)
SOCKET_ATTACKS = {
    "plain": "s = socket.socket(socket.AF_UNIX); s.connect(PATH); s.sendall(b'PWNED')\n",
    "family-high-bits": ("fd = libc.syscall(41, ctypes.c_long(1 | (1 << 32)), 1, 0)\n"
                         "a = addr(PATH); libc.connect(fd, ctypes.byref(a), ctypes.sizeof(a))\n"
                         "os.write(fd, b'PWNED')\n"),
    "socketpair-sendto": ("sv = (ctypes.c_int * 2)()\n"
                          "libc.syscall(53, ctypes.c_long(1), 2, 0, sv)\n"  # SOCK_DGRAM
                          "a = addr(DGRAM)\n"
                          "libc.sendto(sv[0], b'PWNED', 5, 0, ctypes.byref(a), ctypes.sizeof(a))\n"
                          "libc.connect(sv[1], ctypes.byref(a), ctypes.sizeof(a)); os.write(sv[1], b'PWNED')\n"),
    "dgram-socket": ("s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
                     "s.sendto(b'PWNED', DGRAM)\n"),
    "io_uring": ("ring = libc.syscall(425, 8, ctypes.create_string_buffer(120))\n"
                 "assert ring < 0, 'io_uring is available'\n"),
}


@pytest.mark.parametrize("name", list(SOCKET_ATTACKS))
def test_host_unix_sockets_receive_nothing(host_dir, name):
    path, dgram_path = os.path.join(host_dir, "s"), os.path.join(host_dir, "d")
    srv, dgram = socket.socket(socket.AF_UNIX), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(path)
    dgram.bind(dgram_path)
    for p in (path, dgram_path):
        os.chmod(p, 0o777)
    srv.listen(5)
    srv.settimeout(0.1)
    dgram.settimeout(0.1)
    got, stop = [], threading.Event()

    def serve():
        while not stop.is_set():
            for f in (lambda: srv.accept()[0].recv(100), lambda: dgram.recv(100)):
                try:
                    got.append(f())
                except OSError:
                    pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        code = RAW + f"PATH, DGRAM = {path!r}, {dgram_path!r}\n" + SOCKET_ATTACKS[name]
        r = run(attack(code, body=OK))
    finally:
        stop.set()
        t.join(2)
        srv.close()
        dgram.close()
    assert got == [], f"{name}: a sandboxed program reached a host unix socket"
    assert r.status != "passed" or name == "io_uring", r
    if name == "io_uring":
        assert r.status == "passed", r  # the assertion in the attack held: no io_uring


def test_a_host_fifo_receives_nothing(host_dir):
    fifo = os.path.join(host_dir, "f")
    os.mkfifo(fifo, 0o666)
    os.chmod(fifo, 0o666)
    rd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        r = run(attack(f"import os\nfd = os.open({fifo!r}, os.O_WRONLY | os.O_NONBLOCK)\n"
                       "os.write(fd, b'PWNED')\n", body=OK))
        try:
            data = os.read(rd, 100)
        except BlockingIOError:
            data = b""
    finally:
        os.close(rd)
    assert data == b"" and r.status == "failed" and "FileNotFoundError" in r.reason, r


def _bound_host_dirs() -> list[str]:
    """Host directories the sandbox sees, live (bind mounts): under /usr, the interpreter's
    prefix; temporary directories made there for a test (root only)."""
    out = []
    for parent in ("/usr/local", os.path.realpath(sys.base_prefix)):
        if os.path.isdir(parent) and os.access(parent, os.W_OK):
            d = tempfile.mkdtemp(prefix="loraplace-reach-", dir=parent)
            os.chmod(d, 0o755)
            out.append(d)
    return out


@pytest.fixture
def bound_dirs():
    dirs = _bound_host_dirs()
    if not dirs:
        pytest.skip("cannot write under /usr/local or the interpreter's prefix here")
    yield dirs
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


def test_a_host_fifo_in_a_bound_tree_receives_nothing(bound_dirs):
    """/usr and the interpreter's prefix are bound from the host, live and read-only: a FIFO a
    host process makes there later is in the sandbox too, and a read-only mount does not stop
    writing to a FIFO. Landlock does (red team of sandbox v3)."""
    fifos = [os.path.join(d, "f") for d in bound_dirs]
    readers = []
    for fifo in fifos:
        os.mkfifo(fifo, 0o666)
        os.chmod(fifo, 0o666)
        readers.append(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
    try:
        # directly, read-write, reopened through /proc/self/fd of an O_PATH fd, through a
        # symlink in its own tmpfs
        r = run(prog("    import os\n    reached = []\n"
                     f"    for k, p in enumerate({fifos!r}):\n"
                     "        os.path.lexists(f'/tmp/work/l{k}') or os.symlink(p, f'/tmp/work/l{k}')\n"
                     "        for way in (lambda: os.open(p, os.O_WRONLY | os.O_NONBLOCK),\n"
                     "                    lambda: os.open(p, os.O_RDWR | os.O_NONBLOCK),\n"
                     "                    lambda: os.open(f'/proc/self/fd/{os.open(p, os.O_PATH)}', os.O_WRONLY | os.O_NONBLOCK),\n"
                     "                    lambda: os.open(f'/tmp/work/l{k}', os.O_WRONLY | os.O_NONBLOCK)):\n"
                     "            try:\n"
                     "                os.write(way(), b'PWNED')\n"
                     "                reached.append(p)\n"
                     "            except OSError:\n"
                     "                pass\n"
                     "    return x + 1 if reached else -1\n"))
        got = []
        for rd in readers:
            try:
                got.append(os.read(rd, 100))
            except BlockingIOError:
                got.append(b"")
    finally:
        for rd in readers:
            os.close(rd)
    assert got == [b""] * len(fifos) and r.status == "failed", (got, r)


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_a_device_node_in_a_bound_tree_opens_nothing(bound_dirs):
    """A device node under a bound host tree (here a world-readable /dev/zero) cannot be opened:
    those mounts are nodev."""
    nodes = [os.path.join(d, "zero") for d in bound_dirs]
    for node in nodes:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 5))
        os.chmod(node, 0o666)
    r = run(prog("    opened = []\n"
                 f"    for p in {nodes!r}:\n"
                 "        try:\n"
                 "            opened.append(open(p, 'rb').read(4))\n"
                 "        except OSError:\n"
                 "            pass\n"
                 "    return x + 1 if opened else -1\n"))
    assert r.status == "failed", r


def test_the_program_cannot_make_itself_dumpable():
    """A core dump of the program would go wherever the host's core_pattern says, possibly to a
    pipe helper running as root outside every namespace: the worker stays undumpable."""
    r = run(prog("    import ctypes\n"
                 "    libc = ctypes.CDLL(None, use_errno=True)\n"
                 "    made = libc.prctl(4, 1, 0, 0, 0) == 0 and libc.prctl(3, 0, 0, 0, 0) == 1\n"
                 "    return x + 1 if made else -1\n"))
    assert r.status == "failed", r


def test_bind_on_af_vsock_fails():
    r = run(prog("    import socket\n"
                 "    try:\n"
                 "        s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)\n"
                 "        s.bind((socket.VMADDR_CID_ANY, 5555))\n"
                 "        s.listen(1)\n"
                 "    except OSError:\n"
                 "        return x + 1\n"
                 "    return -1\n"))
    assert r.status == "passed", r


def test_host_files_cannot_be_read():
    here = os.path.abspath(__file__)
    secret = os.path.join(tempfile.gettempdir(), "loraplace-secret-" + os.urandom(4).hex())
    with open(secret, "w") as f:
        f.write("SECRET")
    os.chmod(secret, 0o644)
    try:
        r = run(prog("    import os\n    seen = []\n"
                     f"    for p in ('/etc/passwd', '/etc/hostname', {here!r}, {secret!r}, '/work', '/root'):\n"
                     "        seen.append(os.path.exists(p) and os.access(p, os.R_OK) and p != '/root')\n"
                     "    return x + 1 if not any(seen) else -1\n"))
    finally:
        os.unlink(secret)
    assert r.status == "passed", r


def test_no_host_pty_no_fuse_no_cgroup_tree():
    before = set(os.listdir("/dev/pts"))
    r = run(prog("    import os, pty\n"
                 "    m, s = pty.openpty()\n"
                 "    names = os.listdir('/dev/pts')\n"
                 "    cg = open('/proc/self/cgroup').read().split()\n"
                 "    ok = (not os.path.exists('/dev/fuse') and not os.path.exists('/sys')\n"
                 "          and all(line.endswith(':/') for line in cg))\n"
                 "    return x + 1 if ok else -1\n"))
    assert r.status == "passed", r
    assert set(os.listdir("/dev/pts")) == before  # its ptys lived in its own devpts


def test_a_sandbox_gets_a_few_ptys_not_the_machines():
    """Every devpts instance draws on the kernel's one pool (kernel.pty.max): a sandbox's own is
    capped at 64, so it cannot use up the ptys of the sandboxes beside it."""
    r = run(prog("    import pty\n    n = 0\n    try:\n        while n < 1000:\n"
                 "            pty.openpty()\n            n += 1\n    except OSError:\n        pass\n"
                 "    return x + 1 if n <= 64 else -1\n"), timeout=10)
    assert r.status == "passed", r
