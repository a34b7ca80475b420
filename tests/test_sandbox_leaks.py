"""Adversarial tests of the sandbox, continued: nothing leaks out of a sandbox or between items
(host files, IPC and shared memory, host unix sockets, the network, the parent's environment,
daemons, nested user namespaces, output size). Every completion here is hostile on purpose."""
from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
import threading
import time

import pytest

from loraplace.sandbox import api as sandbox
from sandbox_cases import OK, attack, needs_full, prog, run


# --- leaks: host files, IPC, shared memory, sockets, environment ---------------------------------
@pytest.fixture
def victim():
    d = tempfile.mkdtemp(prefix="loraplace-victim-", dir="/var/tmp")
    os.chmod(d, 0o777)
    f = os.path.join(d, "victim.txt")
    with open(f, "w") as fh:
        fh.write("original")
    os.chmod(f, 0o666)
    yield f
    shutil.rmtree(d, ignore_errors=True)


@needs_full
def test_file_attacks_outside_the_sandbox_are_refused(victim):
    d = os.path.dirname(victim)
    attacks = [f"open({victim!r}, 'w').write('pwned')\n", f"import os\nos.remove({victim!r})\n",
               f"import os\nos.chmod({victim!r}, 0o000)\n", "open('/etc/loraplace-pwned', 'w')\n",
               "import os\nos.system('mount -o remount,rw / 2>&1')\nopen('/etc/x', 'w')\n"]
    res = sandbox.run_many([attack(a, body=OK) for a in attacks], workers=2, progress=False)
    assert all(r.status in ("blocked", "failed") for r in res), res
    with open(victim) as fh:
        assert fh.read() == "original"
    assert stat.S_IMODE(os.stat(victim).st_mode) == 0o666 and os.listdir(d) == ["victim.txt"]
    assert not os.path.exists("/etc/loraplace-pwned") and not os.path.exists("/etc/x")


IPC_WRITE = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
sid = libc.shmget(0x10AF, 4096, 0o1666)  # IPC_CREAT | 0666
if sid >= 0:
    ctypes.memmove(libc.shmat(sid, None, 0), b'SECRET', 6)
open('/dev/shm/loraplace-leak', 'w').write('SECRET')
"""
IPC_READ = """    import ctypes, os
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmat.restype = ctypes.c_void_p
    sid = libc.shmget(0x10AF, 4096, 0)
    if sid >= 0 and ctypes.string_at(libc.shmat(sid, None, 0), 6) == b'SECRET':
        return -1
    if os.path.exists('/dev/shm/loraplace-leak'):
        return -1
    return x + 1
"""


@needs_full
def test_ipc_and_shared_memory_do_not_outlive_a_sandbox():
    import ctypes

    first = run(attack(IPC_WRITE, body=OK))
    second = run(prog(IPC_READ))
    assert first.status == "passed" and second.status == "passed", (first, second)
    assert ctypes.CDLL(None).shmget(0x10AF, 4096, 0) == -1  # nothing on the host either
    assert not os.path.exists("/dev/shm/loraplace-leak")


@needs_full
def test_host_unix_sockets_are_unreachable(tmp_path):
    d = tempfile.mkdtemp(prefix="loraplace-sock-", dir="/var/tmp")
    os.chmod(d, 0o777)
    path, got, stop = os.path.join(d, "s"), [], threading.Event()
    servers = [socket.socket(socket.AF_UNIX), socket.socket(socket.AF_UNIX)]
    servers[0].bind(path)
    os.chmod(path, 0o777)
    servers[1].bind("\0loraplace-abstract-" + os.urandom(4).hex())
    for s in servers:
        s.listen(5)
        s.settimeout(0.2)

    def accept(s):
        while not stop.is_set():
            try:
                got.append(s.accept()[0])
            except OSError:
                pass

    threads = [threading.Thread(target=accept, args=(s,), daemon=True) for s in servers]
    for t in threads:
        t.start()
    try:
        res = [run(attack(f"import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect({a!r})\n"
                          "s.sendall(b'hello')\n", body=OK))
               for a in (path, servers[1].getsockname())]
    finally:
        stop.set()
        for t in threads:
            t.join(2)
        for s in servers:
            s.close()
        shutil.rmtree(d, ignore_errors=True)
    assert not got, "a sandboxed program reached a unix socket on the host"
    assert all(r.status in ("blocked", "failed") for r in res), res


def test_network_to_a_local_server():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    srv.settimeout(0.2)
    port, got, stop = srv.getsockname()[1], [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                got.append(srv.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        r = run(attack(f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
                       "s.sendall(b'hello')\n", body=OK))
    finally:
        stop.set()
        t.join(2)
        srv.close()
    assert r.network_isolated == ("netns" in r.isolation)
    if r.network_isolated:
        assert not got and r.status == "failed" and "unreachable" in r.reason, r


def test_parent_environment_is_not_visible(monkeypatch):
    secret = "s3cr3t-" + os.urandom(8).hex()
    monkeypatch.setenv("LORAPLACE_TEST_SECRET", secret)
    r = run(attack("""
        import os
        print(dict(os.environ))
        for p in os.listdir('/proc'):
            try:
                print(open(f'/proc/{p}/environ', 'rb').read())
            except Exception as e:
                print(p, type(e).__name__)
        """, body=OK))
    assert r.status == "passed", r
    assert secret not in r.stdout_tail and secret not in r.stderr_tail


def _comm_alive(name: str) -> list[int]:
    alive = []
    for p in os.listdir("/proc"):
        try:
            with open(f"/proc/{p}/comm") as fh:
                if fh.read().strip() == name:
                    alive.append(int(p))
        except OSError:
            pass
    return alive


def test_daemon_that_escapes_the_process_group_is_killed():
    name = "lpd" + os.urandom(4).hex()
    r = run(attack(f"""
        import ctypes, os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                ctypes.CDLL(None).prctl(15, {name.encode()!r}, 0, 0, 0)
                for fd in (0, 1, 2):
                    os.close(fd)
                while True:
                    time.sleep(0.05)
            os._exit(0)
        time.sleep(0.3)
        """, body=OK))
    assert r.status == "passed", r
    deadline = time.monotonic() + 2
    while _comm_alive(name) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _comm_alive(name) == []


@needs_full
def test_nested_user_namespaces_are_denied():
    r = run(prog("    import os\n    return x + 1 if os.system('unshare --user --map-root-user true') != 0 "
                 "else -1\n"))
    assert r.status == "passed", r


def test_huge_output_is_capped():
    r = run(attack("import sys\nfor _ in range(16):\n    sys.stdout.write('x' * (1 << 20))\n"
                   "sys.stderr.write('e' * (4 << 20))\n", body=OK), timeout=30)
    assert r.status == "passed", r.reason
    assert len(r.stdout_tail) <= sandbox.TAIL_BYTES and len(r.stderr_tail) <= sandbox.TAIL_BYTES
