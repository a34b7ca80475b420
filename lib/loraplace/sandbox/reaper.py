"""The reaper: once the scorer is gone, kill the tasks of and remove its sandbox cgroups (stdlib
only; started by loraplace.sandbox.cleanup as `python -I -S -B -c boot.BOOT`).

It ignores SIGINT, SIGTERM and SIGHUP (a Ctrl-C or a `kill` of the scorer's group must not take it
first), blocks reading its stdin, whose write end only the scorer holds, and on EOF removes every
cgroup directory named `<prefix>*` under the given parents (trying for up to 10 s), then exits.
"""
import os
import signal
import time


def kill_group(d):
    """SIGKILL every task of the cgroup directory `d`: cgroup.kill where the kernel has it (v2),
    and each pid in cgroup.procs (also used by loraplace.sandbox.isolation)."""
    try:
        with open(os.path.join(d, "cgroup.kill"), "w") as f:
            f.write("1")
    except OSError:
        pass
    try:
        with open(os.path.join(d, "cgroup.procs")) as f:
            pids = [int(p) for p in f.read().split()]
    except (OSError, ValueError):
        pids = []
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def sweep(prefix, parents):
    """One pass: kill and remove what is left; True when nothing is."""
    left = False
    for parent in parents:
        try:
            names = [n for n in os.listdir(parent) if n.startswith(prefix)]
        except OSError:
            continue
        for name in names:
            d = os.path.join(parent, name)
            kill_group(d)
            try:
                os.rmdir(d)
            except FileNotFoundError:
                pass
            except OSError:
                left = True
    return not left


def main(helpers, arg):
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)
    while os.read(0, 4096):
        pass
    end = time.monotonic() + 10
    while not sweep(arg["prefix"], arg["parents"]) and time.monotonic() < end:
        time.sleep(0.05)
