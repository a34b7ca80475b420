"""Adversarial tests of loraplace.evidence.sandbox: each attack is classified and contained,
the run goes on, and the machine (2 cores, shared) is not harmed."""
from __future__ import annotations

import hashlib
import os
import shutil
import socket
import stat
import tempfile
import textwrap
import threading
import time

import pytest

from loraplace.evidence import sandbox

ISO = sandbox.isolation()
needs_pidns = pytest.mark.skipif(not ISO.pid_ns, reason="no pid namespace here: a program "
                                 "could signal the test process, so the attack is not run")

OK = "def f(x):\n    return x + 1\n\ndef check(c):\n    assert c(1) == 2\n\ncheck(f)\n"
WRONG = OK.replace("x + 1", "x - 1")


def run(src: str, **kw) -> sandbox.SandboxResult:
    kw.setdefault("timeout", 3.0)
    return sandbox.run_program(textwrap.dedent(src), **kw)


def test_normal_cases_pass_fail_and_syntax_error():
    ok, wrong, syntax = sandbox.run_many([OK, WRONG, "def f(:\n  pass\n"], workers=2,
                                         progress=False)
    assert ok.status == "passed", ok
    assert wrong.status == "failed" and "assertion" in wrong.reason
    assert syntax.status == "failed" and "SyntaxError" in syntax.reason
    assert ok.network_isolated == ISO.network


def test_result_fields_and_statuses():
    r = run(OK)
    assert r.status in sandbox.STATUSES and isinstance(r.reason, str) and r.duration_s > 0
    assert isinstance(r.stderr_tail, str) and isinstance(r.network_isolated, bool)


def test_infinite_loop_times_out_and_busy_wait_is_bounded():
    t0 = time.monotonic()
    loop, sleeper = sandbox.run_many(["while True:\n    pass\n",
                                      "import time\nwhile True:\n    time.sleep(0.01)\n"],
                                     workers=2, timeout=1.5, progress=False)
    assert loop.status == sleeper.status == "timeout"
    assert time.monotonic() - t0 < 6


@pytest.mark.parametrize("exit_call", ["sys.exit(0)", "os._exit(0)", "raise SystemExit(0)",
                                       "exit()", "os.close(1); os.close(2); os._exit(0)"])
def test_exit_before_checks_never_passes(exit_call):
    prog = f"import os, sys\n{exit_call}\n" + WRONG
    r = run(prog)
    assert r.status != "passed", r
    assert r.status in ("failed", "crashed")


def test_printing_fake_success_markers_does_not_pass():
    r = run('print("passed"); print(\'{"nonce": "x", "outcome": "returned"}\')\n'
            "import os; os._exit(0)\n")
    assert r.status == "crashed"


def test_fork_bomb_is_bounded():
    t0 = time.monotonic()
    r = run("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n"
            "        pass\n", timeout=2.0)
    assert r.status in ("blocked", "timeout", "crashed")
    assert time.monotonic() - t0 < 8
    assert run(OK).status == "passed"  # the machine still runs the next item


def test_fork_bomb_raising_is_blocked():
    r = run("import os\nwhile True:\n    os.fork()\n", timeout=3.0)
    assert r.status == "blocked" and "process limit" in r.reason, r


@pytest.mark.parametrize("src", ["x = bytearray(10 * 2**30)\n",
                                 "a = []\nwhile True:\n    a.append(bytearray(2**24))\n"])
def test_huge_allocation_is_blocked(src):
    r = run(src, timeout=5.0)
    assert r.status == "blocked" and "memory" in r.reason, r


@pytest.fixture
def victim():
    """A world-writable directory outside the sandbox, holding a world-writable file."""
    d = tempfile.mkdtemp(prefix="loraplace-victim-", dir="/tmp")
    os.chmod(d, 0o777)
    f = os.path.join(d, "victim.txt")
    with open(f, "w") as fh:
        fh.write("original")
    os.chmod(f, 0o666)
    yield f
    shutil.rmtree(d, ignore_errors=True)


def test_file_attacks_outside_the_sandbox_are_refused(victim):
    d, tmp_mode = os.path.dirname(victim), os.stat("/tmp").st_mode
    attacks = [f"open({victim!r}, 'w').write('pwned')\n", f"import os\nos.remove({victim!r})\n",
               f"import os\nos.chmod({victim!r}, 0o000)\n",
               f"open({os.path.join(d, 'new.txt')!r}, 'w').write('x')\n",
               "import os\nos.chmod('/tmp', 0o700)\n"]
    results = sandbox.run_many(attacks, workers=2, progress=False)
    assert [r.status for r in results] == ["blocked"] * len(attacks), results
    with open(victim) as fh:
        assert fh.read() == "original"
    assert stat.S_IMODE(os.stat(victim).st_mode) == 0o666
    assert os.listdir(d) == ["victim.txt"]
    assert os.stat("/tmp").st_mode == tmp_mode


def test_writing_inside_the_work_dir_works_and_is_removed():
    r = run("import os\nopen('scratch.txt', 'w').write('x' * 1000)\nprint(os.getcwd())\n")
    assert r.status == "passed", r
    assert not os.path.exists(r.stdout_tail.strip())


def test_file_size_limit():
    r = run("open('big', 'wb').write(b'x' * (64 << 20))\n", fsize_bytes=1 << 20)
    assert r.status == "blocked" and "file size" in r.reason, r


def test_parent_environment_is_not_visible(monkeypatch):
    secret = "s3cr3t-" + os.urandom(8).hex()
    monkeypatch.setenv("LORAPLACE_TEST_SECRET", secret)
    r = run("""
        import os
        print(dict(os.environ))
        for p in os.listdir('/proc'):
            try:
                print(open(f'/proc/{p}/environ', 'rb').read())
            except Exception as e:
                print(p, type(e).__name__)
        try:
            print(open(f'/proc/{os.getppid()}/environ', 'rb').read())
        except Exception as e:
            print('ppid', e)
        """)
    assert r.status == "passed", r
    assert secret not in r.stdout_tail and secret not in r.stderr_tail
    assert "LORAPLACE_TEST_SECRET" not in r.stdout_tail


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
        r = run(f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
                "s.sendall(b'hello')\n")
    finally:
        stop.set()
        t.join(2)
        srv.close()
    if r.network_isolated:
        assert not got, "the sandboxed program reached a server on the host"
        assert r.status == "blocked" and "network" in r.reason, r
    else:
        assert r.network_isolated is False  # reported honestly when no namespace is available


@needs_pidns
def test_killing_the_parent_and_everyone_leaves_the_test_alive():
    me = os.getpid()
    r = run(f"""
        import os, signal
        for target in (os.getppid(), {me}, -1, 1):
            try:
                os.kill(target, signal.SIGKILL)
            except OSError as e:
                print(target, e)
        assert False, 'reached the end'
        """)
    assert r.status != "passed"
    assert os.getpid() == me  # we are still here
    assert run(OK).status == "passed"


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
    name = "lpd" + os.urandom(4).hex()  # comm is at most 15 chars
    r = run(f"""
        import ctypes, os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                ctypes.CDLL(None).prctl(15, {name.encode()!r}, 0, 0, 0)  # PR_SET_NAME
                for fd in (0, 1, 2):
                    os.close(fd)
                while True:
                    n = 0
                    for _ in range(10000): n += 1  # heartbeat
                    time.sleep(0.05)
            os._exit(0)
        time.sleep(0.3)
        """)
    assert r.status == "passed", r
    deadline = time.monotonic() + 2
    while _comm_alive(name) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _comm_alive(name) == []


def test_importing_loraplace_cannot_tamper_with_results():
    import loraplace.evidence.sandbox as mod

    path = mod.__file__
    with open(path, "rb") as fh:
        before = hashlib.sha256(fh.read()).hexdigest()
    lib = os.path.dirname(os.path.dirname(os.path.dirname(path)))
    r = run(f"""
        import sys
        sys.path.insert(0, {lib!r})
        try:
            import loraplace.evidence.sandbox as s
            s._classify = lambda *a: ('passed', 'tampered')
            s.run_program = lambda *a, **k: None
        except Exception as e:
            print('import failed', e)
        try:
            open({path!r}, 'a').write('\\nPWNED = 1\\n')
        except OSError as e:
            print('write failed', e)
        assert False, 'checks fail'
        """)
    assert r.status == "failed", r
    with open(path, "rb") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == before
    assert mod._classify.__name__ == "_classify" and run(WRONG).status == "failed"


def test_huge_output_is_capped():
    t0 = time.monotonic()
    r = run("import sys\nfor _ in range(100):\n    sys.stdout.write('x' * (1 << 20))\n"
            "sys.stderr.write('e' * (10 << 20))\n", timeout=10)
    assert r.status == "passed", r.reason
    assert len(r.stdout_tail) <= sandbox.TAIL_BYTES and len(r.stderr_tail) <= sandbox.TAIL_BYTES
    assert time.monotonic() - t0 < 10


def test_adversarial_batch_is_classified_contained_and_bounded():
    progs = [OK, "while True: pass\n", "x = bytearray(10 * 2**30)\n", "import os\nos._exit(0)\n",
             "import os\nwhile True:\n    os.fork()\n", WRONG, "print('x' * 10**8)\n", OK]
    t0 = time.monotonic()
    res = sandbox.run_many(progs, workers=2, timeout=2.0, progress=False)
    assert [r.status for r in res] == ["passed", "timeout", "blocked", "crashed", "blocked",
                                       "failed", "passed", "passed"]
    assert time.monotonic() - t0 < 12


@pytest.mark.skipif(not sandbox.isolation("userns").prefix,
                    reason="unprivileged user namespaces are not available here")
def test_user_namespace_path():
    """The path a non-root CI machine takes: user + net + pid + mount namespaces, caps dropped."""
    res = [sandbox.run_program(p, mode="userns") for p in
           (OK, WRONG, "open('/etc/loraplace-pwned', 'w')\n",
            "import os\nos.system('mount -o remount,rw / 2>&1')\nopen('/etc/x', 'w')\n")]
    assert [r.status for r in res] == ["passed", "failed", "blocked", "blocked"], res
    assert not os.path.exists("/etc/loraplace-pwned") and not os.path.exists("/etc/x")
    assert res[0].network_isolated
