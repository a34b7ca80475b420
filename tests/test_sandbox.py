"""Adversarial tests of loraplace.sandbox.api: forgeries never pass, each attack is
classified and contained, one item's failure is that item's result, correct code passes, and
the machine (2 cores, shared) is not harmed. Every completion here is hostile on purpose."""
from __future__ import annotations

import os
import sys
import tempfile
import time

import pytest

from loraplace.sandbox import api as sandbox
from sandbox_cases import CHECK, ISO, OK, PROMPT, WRONG, attack, needs_full, prog, run


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
        for fd in [int(f) for f in os.listdir('/proc/self/fd') if int(f) > 2]:
            for obj in ({'ready': True}, {'value': '"passed"'}, {'outcome': 'returned'}, {'value': '2'},
                        {'exit': 0, 'signal': None, 'notes': ['seccomp', 'cgroup']},
                        ['ready'], ['value', '2'], ['value', '6'], ['done', 'passed', 'ok'],
                        ['exit', 0, None, ['seccomp', 'cgroup']]):
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
    assert res[4].status == "failed" and res[5].status in ("failed", "crashed", "blocked", "timeout")
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
    assert time.monotonic() - t0 < 30  # bounded, not a speed target


def test_fork_bomb_is_bounded():
    t0 = time.monotonic()
    r = run(attack("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n"
                   "        pass\n", body=OK), timeout=2.0)
    assert r.status in ("blocked", "timeout", "crashed"), r
    assert time.monotonic() - t0 < 30  # bounded, not a speed target
    assert run(prog(OK)).status == "passed"


def test_huge_allocation_is_refused_in_the_sandbox():
    """RLIMIT_AS refuses it inside the sandbox: the program sees MemoryError, which the host does
    not take on its word (no cgroup counter moved), so the item simply failed."""
    r = run(attack("x = bytearray(10 * 2**30)\n", body=OK), timeout=5.0)
    assert r.status in ("failed", "blocked") and "MemoryError" in r.reason, r


@needs_full
def test_memory_growth_is_blocked_by_the_cgroup():
    r = run(attack("a = []\nwhile True:\n    a.append(bytearray(2**24))\n", body=OK),
            memory_bytes=256 << 20, timeout=30.0)
    assert r.status == "blocked" and "memory" in r.reason, r


@pytest.mark.parametrize("raise_it", ["raise MemoryError()", "raise OSError(13, 'Permission denied')",
                                      "raise OSError(11, 'Resource temporarily unavailable')",
                                      "raise RuntimeError(\"can't start new thread\")"])
def test_blocked_is_never_taken_from_the_sandboxs_own_exception(raise_it):
    """A completion that raises what a limit would raise is a failure: only the cgroup's
    counters (host-side facts) make an item `blocked`."""
    r = run(prog(f"    {raise_it}\n"))
    assert r.status == "failed", r


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
    """32 spinning processes get one CPU between them (the sandbox cgroup's quota, measured as
    its CPU time against its lifetime: a fact of the kernel, not of this machine's load), and a
    correct program beside them passes (its generous limit only bounds a failure)."""
    from concurrent.futures import ThreadPoolExecutor

    from loraplace.sandbox import checking

    busy = attack("import os\nfor _ in range(31):\n    if os.fork() == 0:\n        while True: pass\n"
                  "while True: pass\n", body=OK)
    try:
        with ThreadPoolExecutor(2) as pool:
            spinning = pool.submit(sandbox.run_program, busy, timeout=6.0)
            honest = pool.submit(sandbox.run_program, prog(OK), timeout=60.0)
            spun, ok = spinning.result(), honest.result()
    finally:
        checking.retire()
    assert spun.status in ("timeout", "blocked", "crashed") and ok.status == "passed", (spun, ok)
    assert spun.cpu_s <= 1.05 * spun.duration_s + 0.3, spun  # one CPU, however many processes


@needs_full
def test_a_timeout_may_run_on_to_show_it_is_cpu_bound_and_nothing_else():
    """After its wall-clock limit a sandbox may run on, unjudged (confirm_cpu_s), to show that it
    needs its whole limit in CPU; CPU it uses after the limit without getting there is not
    reported, and the status is `timeout` either way (execution_cache relies on both). Each
    bound below holds however loaded the machine: CPU time, never a fraction of wall time."""
    spin = prog("    import time\n    time.sleep(1.5)\n    while True:\n        pass\n")
    r = run(spin, timeout=2.0)
    assert r.status == "timeout" and r.cpu_s < 2.0, r  # it slept 1.5 s of its 2: not CPU-bound
    # it stays runnable, so it lingers until its cgroup has used the whole limit, however slowly
    # a loaded machine gives it CPU (only the generous window bounds that)
    r = run(spin, timeout=2.0, confirm_cpu_s=120.0)
    assert r.status == "timeout" and r.cpu_s >= 2.0, r
    burst = prog("    import time\n    time.sleep(1.8)\n    t = time.process_time()\n"
                 "    while time.process_time() - t < 1.5:\n        pass\n    return x + 1\n")
    r = run(burst, timeout=2.0, confirm_cpu_s=120.0)
    # it used 1.5 s of CPU in its burst alone, most of it after the limit: not reported
    assert r.status == "timeout" and r.cpu_s < 1.5, r


def test_file_size_limit():
    r = run(attack("open('big', 'wb').write(b'x' * (64 << 20))\n", body=OK), fsize_bytes=1 << 20)
    assert r.status == "failed" and "File too large" in r.reason, r  # EFBIG inside the sandbox


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
