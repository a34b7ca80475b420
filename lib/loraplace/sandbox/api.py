"""Run model-written programs (HumanEval completions) in a fresh sandbox each; judge them here.

    run_many([build_program(prompt, completion, test, entry_point), ...]) -> [SandboxResult]

One item:

    scorer thread ── Popen ──► [setpriv --pdeathsig KILL unshare --net --pid --ipc --mount ...]
      │  moves bytes only          └─ supervisor (worker.py; trusted, pid 1, in a cgroup)
      │   ── call ────────────────►      mounts, then forks the worker: rlimits, fresh uid,
      │   ◄── value (JSON text) ───        no_new_privs, seccomp, exec(prompt + completion)
      │        ▲ │
      │        │ ▼
      └─ checker process (checker.py): decodes each value (plaindata), runs check(candidate-proxy)
    The item's deadline covers all of it: past it the sandbox and, if it is still working, the
    checker are killed; the sandbox (and its cgroup) is then removed.

The outcome is decided on the host (see loraplace.sandbox.outcome): only plain data (builtin
values, decoded strictly by loraplace.sandbox.plaindata) comes back from the completion's
process, so nothing it prints, writes, patches or traces turns a failure into a pass, and what
the values cost to decode or compare is paid by that item's checker, under its deadline.
Isolation (loraplace.sandbox.isolation) is per sandbox; anything less than full is refused
unless `allow_unsandboxed=True`, and every result names the isolation it obtained.

Status of a `SandboxResult` (exactly one):
  passed   `check` returned, every call answered with plain data.
  failed   an assertion failed, the completion raised (also while being defined: SyntaxError,
           NameError, MemoryError, a refused write, ...), or it returned something that is not
           plain data.
  timeout  the deadline passed (definition + every call + decoding + check), or the CPU
           rlimit (SIGXCPU).
  crashed  the worker died (a signal, os._exit, ...), sent a malformed message or value (one too
           big, too deep, or a hash flood), or the sandbox could not be set up with the
           isolation required (reason "sandbox not started: ..." when the host could not even
           start it -- a spawn that failed, no cgroup: the program never ran).
  blocked  a failed or crashed item whose sandbox cgroup's counters show it ran into a limit:
           memory (the limit reached, an OOM kill) or processes (pids.max). Host-side facts only:
           what the sandbox says about its own exceptions never makes an item blocked.
One item's failure, whatever it is, is that item's result: run_many never raises for it.
"""
from __future__ import annotations

import dataclasses
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from loraplace.sandbox import checking
from loraplace.sandbox import isolation as iso_mod
from loraplace.sandbox.checking import judge_item
from loraplace.sandbox.outcome import Ended
from loraplace.sandbox.program import Program, build_program  # noqa: F401  (the api's input type)
from loraplace.sandbox.session import LIVE, Session

STATUSES = ("passed", "failed", "timeout", "crashed", "blocked")
NOT_STARTED = "sandbox not started"  # a crash's reason when the host could not start the sandbox
TAIL_BYTES = 64 * 1024
IsolationRefused = iso_mod.IsolationRefused


@dataclasses.dataclass(frozen=True)
class SandboxResult:
    status: str                # one of STATUSES
    reason: str                # short, human readable
    stderr_tail: str
    duration_s: float
    network_isolated: bool
    stdout_tail: str = ""
    isolation: tuple = ()      # the isolation.FEATURES this item obtained
    cpu_s: float | None = None  # CPU time of the whole sandbox (its cgroup), None without one

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def isolation_level(self) -> str:
        return iso_mod.level(self.isolation)


def isolation(mode: str = "auto") -> iso_mod.Isolation:
    return iso_mod.probe(mode)


def run_program(program: Program, *, timeout: float = 3.0, memory_bytes: int = 1 << 30,
                nproc: int = 64, fsize_bytes: int = 16 << 20, tail_bytes: int = TAIL_BYTES,
                mode: str = "auto", allow_unsandboxed: bool = False,
                confirm_cpu_s: float = 0.0) -> SandboxResult:
    """Execute one program in a fresh sandbox and judge it; never raises for what it does.
    Raises IsolationRefused (before running anything) when isolation is not full and not allowed.

    The item's deadline (`timeout`, wall clock) covers the sandbox, moving its messages, decoding
    its values and `check` (in the checker process, loraplace.sandbox.checking).
    RLIMIT_AS is twice `memory_bytes`, so a program that really uses its memory runs into the
    cgroup's limit (a host-side fact: `blocked`) rather than a MemoryError it could fake.
    confirm_cpu_s: after a wall-clock timeout, how many more seconds the sandbox may run on,
    unjudged, to show that it needs more CPU than its whole time limit (then `cpu_s` >= timeout;
    see Session.linger). The status stays `timeout` either way; `duration_s` excludes that time.
    `cpu_s` is the sandbox cgroup's CPU time plus the checker's for this item."""
    if not isinstance(program, Program):
        raise TypeError("run_program needs a Program (sandbox.build_program), got "
                        f"{type(program).__name__}: the test must be kept apart from the completion")
    iso = iso_mod.probe(mode)
    iso_mod.require(iso, allow_unsandboxed)
    limits = {"memory": memory_bytes, "as": 2 * memory_bytes, "fsize": fsize_bytes,
              "nproc": nproc, "nproc_rlimit": 2 * nproc if iso.cgroup else nproc, "inodes": 4096}
    start, lingered, judged_cpu = time.monotonic(), 0.0, 0.0
    session = None
    try:
        session = Session(program, iso, timeout=timeout, limits=limits, tail_bytes=tail_bytes)
        status, reason, judged_cpu = judge_item(program, session)
    except Ended as e:
        status, reason = e.status, e.reason
    except Exception as e:  # noqa: BLE001 -- a host-side failure is this item's result
        # before the sandbox exists the program has not run: nothing here is its doing
        where = "sandbox error" if session is not None else NOT_STARTED
        status, reason = "crashed", f"{where}: {type(e).__name__}: {e}"[:200]
    finally:
        if session is not None:
            lingered = _finish(session, status, reason, timeout, confirm_cpu_s)
    feats = tuple(f for f in iso_mod.FEATURES if session is not None and f in session.features)
    if status == "passed" and not allow_unsandboxed and set(feats) != set(iso_mod.FEATURES):
        status, reason = "crashed", f"isolation incomplete: {iso_mod.level(feats)}"
    if status in ("failed", "crashed") and session is not None and session.limit_hit:
        status, reason = "blocked", f"{session.limit_hit} limit (sandbox cgroup): {reason}"[:200]
    out = session.out.text() if session else ""
    err = session.err.text() if session else ""
    cpu = None if session is None or session.cpu_s is None else session.cpu_s + judged_cpu
    return SandboxResult(status, reason, err, time.monotonic() - start - lingered, "netns" in feats,
                         out, feats, cpu)


def _finish(session: Session, status: str, reason: str, timeout: float, confirm_cpu_s: float) -> float:
    """Linger (a wall-clock timeout, when asked) and close; the seconds spent lingering."""
    lingered = 0.0
    if status == "timeout" and reason.startswith("wall-clock") and confirm_cpu_s > 0:
        t0 = time.monotonic()
        try:
            session.linger(timeout, confirm_cpu_s)
        except Exception:  # noqa: BLE001 -- cpu_s stays the CPU at the limit
            pass
        lingered = time.monotonic() - t0
    try:
        session.close(wait=status != "timeout")
    except Exception:  # noqa: BLE001
        pass
    return lingered


def abort_all(threads=None) -> None:
    """Kill every live sandbox of this process (of the given scorer threads) now: an
    interrupted batch. Their items end as crashed; each is torn down by the thread that runs it."""
    for s in list(LIVE):
        if threads is None or s.thread in threads:
            s.kill()


def default_workers() -> int:
    """Sandboxes at once: one more than the CPUs. A sandbox spends part of its life waiting
    (cgroup moves wait for an RCU grace period, namespace set-up, pipe round trips to the judge),
    so one extra keeps the CPUs busy: on 2 cores the released completions' first load took
    38-40 s with 3 against 45-48 s with 2, and 37-38 s with 4 (benchmarks/RESULTS.md)."""
    return (os.cpu_count() or 1) + 1


ABORT_WITHIN_S = 30.0  # run_many's interrupted batch: how long it keeps killing what its threads start


def run_many(programs, *, workers: int | None = None, timeout: float = 3.0,
             progress: bool = True, desc: str = "sandbox", at_once=None, **kwargs) -> list[SandboxResult]:
    """Run programs concurrently (`workers`, default default_workers()): threads wait on the
    sandboxes and judge. Order is preserved. `at_once` (a callable, optional): how many of the
    workers may run a sandbox now, asked again whenever one is about to start (a caller whose
    own work holds CPUs for a while lends the batch fewer of them meanwhile)."""
    programs = list(programs)
    iso_mod.require(iso_mod.probe(kwargs.get("mode", "auto")), kwargs.get("allow_unsandboxed", False))
    workers = max(1, workers or default_workers())
    from loraplace.progress import events as _progress
    bar = _progress.phase(desc, len(programs), unit="prog", enabled=progress)
    lock = threading.Lock()

    aborted, threads = threading.Event(), set()

    slots, running = threading.Condition(), [0]

    def one(p: Program) -> SandboxResult:
        threads.add(threading.get_ident())
        if at_once is not None:
            with slots:
                while running[0] >= max(1, at_once()) and not aborted.is_set():
                    slots.wait(0.05)  # `at_once` may grow without a sandbox ending
                running[0] += 1
        try:
            if aborted.is_set():
                return SandboxResult("crashed", "the scorer was interrupted", "", 0.0, False)
            res = run_program(p, timeout=timeout, **kwargs)
        finally:
            if at_once is not None:
                with slots:
                    running[0] -= 1
                    slots.notify_all()
        with lock:
            bar.advance()
        return res

    pool = ThreadPoolExecutor(max_workers=workers)
    futures = []
    try:
        futures += [pool.submit(one, p) for p in programs]
        return [f.result() for f in futures]
    except BaseException:  # an exception, SIGINT: nothing this batch started outlives it
        aborted.set()
        pool.shutdown(wait=False, cancel_futures=True)
        # and what a worker thread was starting meanwhile (on a loaded machine a thread that saw
        # `aborted` unset may start its sandbox well after this): kill until every thread is done
        give_up = time.monotonic() + ABORT_WITHIN_S
        while True:
            abort_all(threads)
            if all(f.done() for f in futures) or time.monotonic() > give_up:
                break
            time.sleep(0.05)
        raise
    finally:
        pool.shutdown(wait=True)
        checking.retire(threads)
        bar.close()
