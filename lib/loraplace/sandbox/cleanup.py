"""Nothing a sandbox starts outlives the scorer: teardown helpers and the reaper.

The chain, when the scorer ends however it ends (an exception, SIGINT, SIGTERM, SIGKILL):
  - `setpriv --pdeathsig KILL` before `unshare` (isolation.probe): unshare dies with the scorer
    thread that started it; `unshare --kill-child` then kills the sandbox's supervisor, pid 1 of
    its pid namespace, and the kernel kills every other process in that namespace;
  - the checker process sets PR_SET_PDEATHSIG itself (checker.py);
  - api.run_many kills its live sandboxes (process group + cgroup) on an exception or SIGINT;
  - the reaper (reaper.py; one per scorer process, in its own session, deaf to SIGINT / SIGTERM /
    SIGHUP) waits for EOF on a pipe only the scorer holds, then kills the tasks of and removes
    every cgroup named `loraplace-<scorer pid>-*`.
"""
from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import threading

from loraplace.sandbox import boot

_REAPER: dict = {}  # pid of the scorer process -> its reaper (a fork gets its own)
_LOCK = threading.Lock()


def ensure_reaper(kind: str) -> None:
    """Start this process's reaper for cgroups of `kind` ('v1' / 'v2') unless it runs already."""
    from loraplace.sandbox import isolation as iso_mod

    with _LOCK:
        me = os.getpid()
        if me in _REAPER and _REAPER[me].poll() is None:
            return
        parents = [str(p) for p in iso_mod.cgroup_parents(kind)]
        proc = subprocess.Popen([sys.executable, "-I", "-S", "-B", "-c", boot.BOOT],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True, bufsize=0)
        proc.stdin.write(boot.payload("reaper", (), {"prefix": f"loraplace-{me}-",
                                                      "parents": parents}))
        _REAPER[me] = proc  # its stdin stays open until this process ends
        atexit.register(_release, proc)


def _release(proc) -> None:
    """At a normal exit: EOF to the reaper, which sweeps (nothing, normally) and exits."""
    try:
        proc.stdin.close()
        proc.wait(timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        pass


def remove_tree(path: str) -> None:
    """However deep (shutil.rmtree recurses and fails past ~1000 levels): `rm -rf`."""
    subprocess.run(["rm", "-rf", "--one-file-system", "--", path], capture_output=True)
    if os.path.exists(path):
        shutil.rmtree(path, ignore_errors=True)


def kill_marked(workdir: str) -> None:
    """No pid namespace: kill any process still running in the sandbox's work dir."""
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if os.readlink(f"/proc/{p}/cwd").startswith(workdir):
                    os.kill(int(p), signal.SIGKILL)
            except OSError:
                pass
