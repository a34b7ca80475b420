"""Adversarial tests of loraplace.evidence.sandbox: forgeries never pass, each attack is
classified and contained, one item's failure is that item's result, correct code passes, and
the machine (2 cores, shared) is not harmed. Every completion here is hostile on purpose."""
from __future__ import annotations

import os
import shutil
import socket
import stat
import sys
import tempfile
import textwrap
import threading
import time

import pytest

from loraplace.evidence import sandbox

ISO = sandbox.isolation()
FULL = not ISO.missing
needs_full = pytest.mark.skipif(not FULL, reason=f"isolation here: missing {ISO.missing}")

PROMPT = "def f(x):\n"
CHECK = "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(5) == 6\n"
OK, WRONG = "    return x + 1\n", "    return x - 1\n"


def prog(completion: str, test: str = CHECK, prompt: str = PROMPT, entry: str = "f"):
    return sandbox.build_program(prompt, completion, test, entry)


def attack(code: str, body: str = WRONG):
    """A wrong function followed by module-level attack code."""
    return prog(body + "\n" + textwrap.dedent(code))


def run(p, **kw) -> sandbox.SandboxResult:
    kw.setdefault("timeout", 3.0)
    return sandbox.run_program(p, **kw)


def test_normal_cases_pass_fail_and_syntax_error():
    ok, wrong, syntax = sandbox.run_many([prog(OK), prog(WRONG), prog("    return (\n")],
                                         workers=2, progress=False)
    assert ok.status == "passed" and ok.isolation_level == sandbox.iso_mod.level(ISO.features), ok
    assert wrong.status == "failed" and "assertion" in wrong.reason
    assert syntax.status == "failed" and "SyntaxError" in syntax.reason
    assert ok.network_isolated == ISO.network


def test_program_keeps_its_parts_apart_and_is_immutable():
    p = prog(OK)
    assert p == PROMPT + OK + "\n" + CHECK + "\ncheck(f)\n"  # the text the study's harness ran
    assert (p.prompt, p.completion, p.test, p.entry_point) == (PROMPT, OK, CHECK, "f")
    with pytest.raises(AttributeError):
        p.test = "def check(c): pass"
    with pytest.raises(TypeError, match="needs a Program"):
        sandbox.run_program(str(p))


# --- forgery: nothing the completion does in its process can turn a fail into a pass ---------
FORGERIES = {
    "settrace-and-swap-check": """
        import sys
        def tracer(frame, event, arg):
            if frame.f_code.co_name == 'check':
                raise SystemExit(0)
            return tracer
        sys.settrace(tracer)
        check = lambda c: None
        globals()['check'] = lambda c: None
        """,
    "patched-builtins": """
        import builtins
        class Never(Exception): pass
        builtins.AssertionError = Never
        builtins.__dict__['isinstance'] = lambda *a: True
        builtins.print = lambda *a, **k: None
        """,
    "patched-serialiser": """
        import sys, json
        for m in list(sys.modules.values()):
            for name in ('encode', 'dumps', 'write_msg', 'exc_info'):
                if hasattr(m, name):
                    try:
                        setattr(m, name, lambda *a, **k: '"passed"')
                    except Exception:
                        pass
        """,
    "fake-reports-on-every-fd": """
        import json, os, struct
        def frame(obj):
            b = json.dumps(obj).encode()
            return struct.pack('>I', len(b)) + b
        for fd in range(3, 64):
            for obj in ({'ready': True}, {'value': '"passed"'}, {'outcome': 'returned'}, {'value': '2'},
                        {'exit': 0, 'signal': None, 'notes': ['seccomp', 'cgroup']}):
                try:
                    os.write(fd, frame(obj))
                except OSError:
                    pass
        os._exit(0)
        """,
    "hunt-the-nonce": """
        import gc, sys
        found = [o for o in gc.get_objects() if isinstance(o, dict) and ('nonce' in o or 'test' in o)]
        main = sys.modules['__main__']
        print(found[:3], [k for k in vars(main)][:20])
        import os; os.write(1, b'{"nonce": "x", "outcome": "returned"}\\n'); os._exit(0)
        """,
    "read-the-test-from-the-stack": """
        import sys
        _orig = f
        def f(x):
            fr = sys._getframe(1)
            consts = [c for c in fr.f_code.co_consts if isinstance(c, int)]
            return consts[-1] if consts else _orig(x)
        """,
}


@pytest.mark.parametrize("name", list(FORGERIES))
def test_forgeries_never_pass(name):
    r = run(attack(FORGERIES[name]))
    assert r.status != "passed", (name, r)


@pytest.mark.parametrize("returned", [
    "type('Eq', (), {'__eq__': lambda s, o: True, '__ne__': lambda s, o: False, '__hash__': lambda s: 0})()",
    "type('I', (int,), {'__eq__': lambda s, o: True, '__ne__': lambda s, o: False, '__hash__': int.__hash__})(0)",
    "type('S', (str,), {'__eq__': lambda s, o: True, '__hash__': str.__hash__})('no')",
    "type('L', (list,), {'__eq__': lambda s, o: True})()",
    "unittest.mock.MagicMock()",
    "(i for i in [2])",
])
def test_always_equal_objects_cannot_cross(returned):
    r = run(prog(f"    import unittest.mock\n    return {returned}\n"))
    assert r.status == "failed", r


@pytest.mark.parametrize("exit_call", ["sys.exit(0)", "os._exit(0)", "raise SystemExit(0)",
                                       "os.close(1); os.close(2); os._exit(0)"])
def test_exit_before_checks_never_passes(exit_call):
    r = run(attack(f"import os, sys\n{exit_call}\n"))
    assert r.status in ("failed", "crashed"), r


def test_exit_inside_the_candidate_never_passes():
    r = run(prog("    import os\n    os._exit(0)\n"))
    assert r.status == "crashed" and "exited with code 0" in r.reason, r


# --- one item's failure is that item's result ---------------------------------------------------
def test_hostile_failures_are_classified_and_the_batch_goes_on():
    errno_list = "e = OSError('x'); e.errno = [1]; e.strerror = {'a': 1}; raise e"
    progs = [prog(OK),
             attack(errno_list),
             prog(f"    {errno_list}\n"),
             attack("import os\nos.kill(os.getpid(), 35)\nimport time; time.sleep(5)\n"),
             prog("    class E(Exception):\n        def __str__(self): raise RuntimeError('no')\n"
                  "    raise E()\n"),
             prog("    import sys\n    sys.setrecursionlimit(10**6)\n    def g(n): return g(n + 1)\n"
                  "    return g(0)\n"),
             prog("    return '\\ud800' * x\n"),
             prog(OK + "\n# a lone surrogate in the source: \ud800\n"),
             prog(OK)]
    res = sandbox.run_many(progs, workers=2, progress=False)
    assert res[0].status == res[-1].status == "passed", res
    assert [r.status for r in res[1:3]] == ["failed", "failed"], res
    assert res[3].status == "crashed" and ("35" in res[3].reason or "SIGRT" in res[3].reason), res[3]
    assert res[4].status == "failed" and res[5].status in ("failed", "crashed", "blocked")
    assert res[6].status == "failed" and res[7].status == "failed", res[6:8]


@needs_full
def test_deep_trees_stay_in_the_sandbox():
    r = run(prog("    import os\n    for _ in range(1500):\n        os.mkdir('d'); os.chdir('d')\n"
                 "    open('leaf', 'w').write('x')\n    return x + 1\n"), timeout=10)
    assert r.status == "passed", r
    assert not [d for d in os.listdir(tempfile.gettempdir()) if d.startswith("loraplace-sbx-")]


def test_deep_work_dir_is_removed_without_namespaces(tmp_path):
    r = sandbox.run_program(prog("    import os\n    print(os.getcwd(), flush=True)\n"
                                 "    for _ in range(1500):\n        os.mkdir('d'); os.chdir('d')\n"
                                 "    return x + 1\n"), mode="none", allow_unsandboxed=True,
                            timeout=10)
    assert r.status == "passed" and r.isolation_level == "none", r
    workdir = r.stdout_tail.split()[0]
    assert workdir.startswith(tempfile.gettempdir()) and not os.path.exists(workdir)


# --- limits are per sandbox ------------------------------------------------------------------------
def test_infinite_loop_times_out_and_busy_wait_is_bounded():
    t0 = time.monotonic()
    loop, sleeper = sandbox.run_many([prog("    while True:\n        pass\n"),
                                      prog("    import time\n    while True:\n        time.sleep(0.01)\n")],
                                     workers=2, timeout=1.5, progress=False)
    assert loop.status == sleeper.status == "timeout"
    assert time.monotonic() - t0 < 6


def test_fork_bomb_is_bounded():
    t0 = time.monotonic()
    r = run(attack("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n"
                   "        pass\n", body=OK), timeout=2.0)
    assert r.status in ("blocked", "timeout", "crashed"), r
    assert time.monotonic() - t0 < 8
    assert run(prog(OK)).status == "passed"


@pytest.mark.parametrize("src", ["x = bytearray(10 * 2**30)\n",
                                 "a = []\nwhile True:\n    a.append(bytearray(2**24))\n"])
def test_huge_allocation_is_blocked(src):
    r = run(attack(src, body=OK), timeout=5.0)
    assert r.status == "blocked" and "memory" in r.reason, r


@needs_full
def test_memory_limit_holds_for_the_sandbox_not_per_process():
    """Four children of 100 MB each under a 256 MB sandbox: the candidate answers correctly only
    if every child got its memory, which the sandbox cgroup must prevent."""
    r = run(prog("""    import os
    kids = []
    for _ in range(4):
        pid = os.fork()
        if pid == 0:
            try:
                b = b'x' * (100 << 20)
                import time; time.sleep(1.0)
                os._exit(0)
            except BaseException:
                os._exit(1)
        kids.append(pid)
    ok = all(os.waitpid(p, 0)[1] == 0 for p in kids)
    return x + 1 if ok else -1
"""), memory_bytes=256 << 20, timeout=8.0)
    assert r.status != "passed", r


@needs_full
def test_a_busy_neighbour_cannot_starve_a_correct_program():
    busy = attack("import os\nfor _ in range(31):\n    if os.fork() == 0:\n        while True: pass\n"
                  "while True: pass\n", body=OK)
    res = sandbox.run_many([busy, prog(OK)], workers=2, timeout=6.0, progress=False)
    assert res[0].status in ("timeout", "blocked", "crashed") and res[1].status == "passed", res


def test_file_size_limit():
    r = run(attack("open('big', 'wb').write(b'x' * (64 << 20))\n", body=OK), fsize_bytes=1 << 20)
    assert r.status == "blocked" and ("file size" in r.reason or "size limit" in r.reason), r


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
        assert not got and r.status == "blocked" and "network" in r.reason, r


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
    r = run(attack("import sys\nfor _ in range(100):\n    sys.stdout.write('x' * (1 << 20))\n"
                   "sys.stderr.write('e' * (10 << 20))\n", body=OK), timeout=10)
    assert r.status == "passed", r.reason
    assert len(r.stdout_tail) <= sandbox.TAIL_BYTES and len(r.stderr_tail) <= sandbox.TAIL_BYTES


# --- correct code passes ----------------------------------------------------------------------------
def test_stdlib_and_devnull_work():
    r = run(prog("    import ast, calendar, csv, glob, mmap, os, json, sqlite3, decimal\n"
                 "    open(os.devnull, 'w').write('x')\n    return x + 1\n"))
    assert r.status == "passed", r


SKIP_MODULES = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "__main__",
                "_tkinter", "ensurepip", "venv", "pydoc", "lib2to3", "msilib", "_msi", "winreg",
                "winsound", "_winapi", "nt", "msvcrt", "_overlapped", "_scproxy", "_osx_support"}
IMPORT_ALL = ("    import importlib, sys\n    bad = []\n"
              "    for m in sorted(sys.stdlib_module_names - {skip!r}):\n"
              "        try:\n            importlib.import_module(m)\n"
              "        except Exception as e:\n            bad.append(m)\n    return bad\n")


def test_the_whole_stdlib_is_importable():
    code = IMPORT_ALL.format(skip=SKIP_MODULES)
    import subprocess

    host = subprocess.run([sys.executable, "-I", "-S", "-c", "def f():\n" + code + "print(repr(f()))"],
                          capture_output=True, text=True, timeout=120)
    expected = eval(host.stdout.strip().splitlines()[-1])
    test = f"def check(candidate):\n    assert candidate() == {expected!r}\n"
    r = run(sandbox.build_program("def f():\n", code, test, "f"), timeout=30)
    assert r.status == "passed", (r.reason, r.stderr_tail[-500:])


def test_refusal_without_full_isolation(monkeypatch):
    partial = sandbox.iso_mod.Isolation((), (), False, "", b"")
    monkeypatch.setattr(sandbox.iso_mod, "probe", lambda mode="auto": partial)
    with pytest.raises(sandbox.IsolationRefused, match="--allow-unsandboxed"):
        sandbox.run_many([prog(OK)], progress=False)
    (r,) = sandbox.run_many([prog(OK)], progress=False, allow_unsandboxed=True)
    assert r.status == "passed" and r.isolation_level == "none" and not r.network_isolated
