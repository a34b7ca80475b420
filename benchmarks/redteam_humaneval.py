"""Red team of the HumanEval sandbox, end to end through the command a user runs:
`loraplace humaneval-score FILE --cache-dir DIR` (issue 26's "done when", checked).

    python benchmarks/redteam_humaneval.py [--timeout S] [--skip-kill]

Needs full isolation (run it as the user the suite runs as; root for the FIFOs under /usr/local
and the interpreter's prefix). Writes completions files (released task_ids, the command's
format) to a temporary directory and runs the command on them:

  attacks  every attack of redteam_attacks (REACH: answers right only if its exploit worked;
           OUTCOME: tries to make the scorer err) beside canonical solutions, scored twice into
           one cache (cold, then the first warm scoring), while this process listens on
           world-writable unix sockets (stream, datagram, abstract), FIFOs in /tmp and in the
           bound host trees, and 127.0.0.1: every attack must score 0, every honest item pass,
           and nothing must arrive.
  flaky    24 programs that pass or fail at random (50 %), scored twice into one cache: none
           may come back as a cached pass.
  flood    ints that are multiples of 2**61 - 1 in sets, dicts and lists near the 16 MB cap,
           honest items between them: wall time against 2 x items x timeout.
  kill     sleepers; the command is killed mid-batch (SIGTERM, SIGKILL, SIGINT): processes and
           cgroups left 5 s later.
Prints a table per file, then "HOLES: none" or what failed (exit status 1).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
import redteam_attacks as RT  # noqa: E402
from loraplace.sandbox import api as sandbox  # noqa: E402
from loraplace.sandbox import isolation as iso_mod  # noqa: E402
from loraplace.scoring import humaneval  # noqa: E402


class Listeners:
    """What a sandbox must never reach, on the host, recording whatever arrives."""

    def __init__(self):
        self.dirs = [RT.HOST] + [d for d in RT.BOUND if os.access(os.path.dirname(d), os.W_OK)]
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            os.chmod(d, 0o777)
        self.socks = []
        for kind, family, addr in (("unix", socket.SOCK_STREAM, RT.HOST + "/s"),
                                   ("dgram", socket.SOCK_DGRAM, RT.HOST + "/d"),
                                   ("abstract", socket.SOCK_STREAM, b"\0loraplace-rt")):
            s = socket.socket(socket.AF_UNIX, family)
            s.bind(addr)
            if isinstance(addr, str):
                os.chmod(addr, 0o777)
            self.socks.append((kind, s))
        tcp = socket.socket()
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind(("127.0.0.1", RT.PORT))
        self.socks.append(("tcp", tcp))
        for kind, s in self.socks:
            if kind != "dgram":
                s.listen(50)
            s.settimeout(0.1)
        with open(RT.HOST + "/secret", "w") as f:
            f.write("SECRET")
        self.fifos = []
        for d in self.dirs:
            os.mkfifo(d + "/f", 0o666)
            os.chmod(d + "/f", 0o666)
            self.fifos.append((d, os.open(d + "/f", os.O_RDONLY | os.O_NONBLOCK)))
        self.got, self.stop = [], threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop.is_set():
            for kind, s in self.socks:
                try:
                    if kind == "dgram":
                        self.got.append((kind, s.recv(100)))
                    else:
                        c, _ = s.accept()
                        c.settimeout(0.5)
                        self.got.append((kind, c.recv(100)))
                except OSError:
                    pass
            for d, fd in self.fifos:
                try:
                    data = os.read(fd, 100)
                    if data:
                        self.got.append(("fifo " + d, data))
                except BlockingIOError:
                    pass

    def close(self):
        self.stop.set()
        self.thread.join(2)
        for _, s in self.socks:
            s.close()
        for _, fd in self.fifos:
            os.close(fd)
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)


def score(path: Path, cache: Path, timeout: float) -> tuple[dict, float]:
    t0 = time.monotonic()
    p = subprocess.run(["loraplace", "humaneval-score", str(path), "--cache-dir", str(cache), "--json",
                        "--details", "--timeout", str(timeout)], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"humaneval-score failed ({p.returncode}): {p.stderr[-2000:]}")
    return json.loads(p.stdout), time.monotonic() - t0


def write(rows: list, path: Path) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for _, _, row in rows))


def scored(name: str, rows: list, work: Path, timeout: float, times: int) -> tuple[list, list]:
    """Score the file `times` times into one cache; print a table; the holes it shows."""
    path, cache = work / f"{name}__humaneval.jsonl", work / f"{name}-cache"
    write(rows, path)
    runs, holes = [], []
    for n in range(times):
        out, wall = score(path, cache, timeout)
        runs.append(out["items"])
        print(f"{name} scoring {n + 1}: {len(rows)} items, {wall:.1f} s wall (bound 2 x items x timeout = "
              f"{2 * len(rows) * timeout:.0f} s), load {os.getloadavg()[0]:.1f}, {out['by_status']}, "
              f"isolation {out['isolation']}", flush=True)
        if wall > 2 * len(rows) * timeout:
            holes.append(f"{name}: scoring {n + 1} took {wall:.1f} s")
    for i, (kind, label, _) in enumerate(rows):
        rs = [r[i] for r in runs]
        print(f"  {kind:6s} {label:36s} " + " | ".join(
            f"{r['status']:7s} {'cached' if r['cached'] else 'ran':6s} {r['reason'][:50]!r}" for r in rs))
        if kind == "attack" and any(r["score"] for r in rs):
            holes.append(f"{name}: attack {label} scored 1")
        if kind == "honest" and any(r["status"] != "passed" for r in rs):
            holes.append(f"{name}: honest {label} did not pass")
        if any(r["cached"] and r["status"] == "passed" for r in rs[:2]):
            holes.append(f"{name}: {label} returned a cached pass within two scorings")
    return runs, holes


def _descendants(root: int) -> set[int]:
    parent = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat", "rb") as f:
                    parent[int(p)] = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    out, todo = set(), [root]
    while todo:
        me = todo.pop()
        kids = [p for p, pp in parent.items() if pp == me]
        out.update(kids)
        todo.extend(kids)
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def killed(work: Path) -> list:
    """Kill the command mid-batch with each signal; what is left 5 s later."""
    iso = sandbox.isolation()
    path = work / "sleepers__humaneval.jsonl"
    path.write_text("".join(json.dumps({"task_id": "HumanEval/2", "completion":
                                        f"    import time\n    time.sleep(120 + {k})\n"}) + "\n" for k in range(8)))
    parents = iso_mod.cgroup_parents(iso.cgroup)
    holes = []
    for sig in (signal.SIGTERM, signal.SIGKILL, signal.SIGINT):
        cache = work / f"kill-cache-{sig.name}"
        scorer = subprocess.Popen(["loraplace", "humaneval-score", str(path), "--cache-dir", str(cache),
                                   "--timeout", "120", "--json"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)

        def cgroups():
            return [d for parent in parents for d in parent.glob(f"loraplace-{scorer.pid}-*")]
        end = time.monotonic() + 90
        while len(cgroups()) < 3 * len(parents) and time.monotonic() < end:
            time.sleep(0.1)
        time.sleep(1.0)
        procs, n_cg = _descendants(scorer.pid), len(cgroups())
        scorer.send_signal(sig)
        scorer.wait(timeout=30)
        time.sleep(5)
        left = [p for p in procs if _alive(p)]
        print(f"kill {sig.name}: {len(procs)} processes and {n_cg} cgroup directories before; exit status "
              f"{scorer.returncode}; after 5 s {len(left)} processes, {len(cgroups())} cgroups, "
              f"{len(list(cache.glob('claims/*.claim')))} claim files", flush=True)
        if left or cgroups():
            holes.append(f"kill {sig.name}: {len(left)} processes, {len(cgroups())} cgroups left")
    return holes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=3.0)
    ap.add_argument("--skip-kill", action="store_true")
    args = ap.parse_args(argv)
    iso = sandbox.isolation()
    if iso.missing:
        raise SystemExit(f"needs full isolation; missing here: {', '.join(iso.missing)}")
    problems = humaneval.load_problems()
    holes = []
    with tempfile.TemporaryDirectory(prefix="redteam-humaneval-") as tmp:
        work = Path(tmp)
        listen = Listeners()
        try:
            holes += scored("attacks", RT.attack_rows(problems), work, args.timeout, 2)[1]
            time.sleep(0.5)
        finally:
            listen.close()
        print(f"host received: {listen.got}")
        holes += [f"host received {kind}: {data!r}" for kind, data in listen.got]
        holes += scored("flaky", RT.flaky_rows(), work, args.timeout, 2)[1]
        holes += scored("flood", RT.flood_rows(problems), work, args.timeout, 1)[1]
        if not args.skip_kill:
            holes += killed(work)
    print("HOLES: " + ("none" if not holes else "; ".join(holes)))
    return 1 if holes else 0


if __name__ == "__main__":
    sys.exit(main())
