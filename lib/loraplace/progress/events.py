"""Progress of long phases (pretraining, fine-tuning, evaluation, executing, training on GPUs),
reported by the code doing the work and shown by whoever owns the terminal.

    with progress.phase("tiny[smoke] fine-tuning + evaluation", total=72, unit="run") as ph:
        for run in runs:
            ...
            ph.advance(current=f"{run}")
    progress.note("loraplace tiny[smoke]: building 2 bases and 72 runs; ~5 min on this machine")

Builders only emit events; where they go is decided once per process (`current_sink`):

* a sink installed by the pytest plugin: the controller's `Renderer` (`progress_render.py`),
  or, in an xdist worker, a `FileSink` (the controller tails the files);
* else, when ``$LORAPLACE_PROGRESS_DIR`` is set (inherited by the worker processes a cold build
  spawns), a `FileSink` appending JSON lines to ``<dir>/<pid>.jsonl``; set but empty: nothing;
* else (a script, the CLI) a tqdm bar on stderr, as before -- except in a multiprocessing
  child, which has no terminal of its own to draw on.

A phase is *major* (one per long phase of a build: its final line stays) or *minor* (an entry
inside one, e.g. one organism's pretraining steps: shown while it runs, never kept).
"""
from __future__ import annotations

import json
import multiprocessing
import os
import sys
import threading
import time
from pathlib import Path

ENV = "LORAPLACE_PROGRESS_DIR"
UPDATE_EVERY_S = 0.5  # a FileSink writes a phase's updates at most this often (start/end always)

_SINK = None
_LOCK = threading.Lock()


def source_label() -> str:
    """Who reports: the xdist worker id ("gw1") of this process or of the process that spawned it."""
    return os.environ.get("PYTEST_XDIST_WORKER", "")


def install(sink) -> None:
    """Route this process's events to `sink` (an object with `event(dict)`); None: back to default."""
    global _SINK
    _SINK = sink


def current_sink():
    """The installed sink, else the one ``$LORAPLACE_PROGRESS_DIR`` names, else None (tqdm)."""
    global _SINK
    if _SINK is None and ENV in os.environ:
        with _LOCK:
            if _SINK is None:
                where = os.environ[ENV]
                _SINK = FileSink(Path(where) / f"{os.getpid()}.jsonl") if where else NullSink()
    return _SINK


class NullSink:
    def event(self, ev: dict) -> None:
        pass


class FileSink:
    """Appends events as JSON lines to one file per process (read by `progress_render.Tail`)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._last: dict = {}
        self._lock = threading.Lock()

    def event(self, ev: dict) -> None:
        key = (ev.get("phase"), ev.get("id"))
        now = time.monotonic()
        if ev["kind"] == "update" and now - self._last.get(key, 0.0) < UPDATE_EVERY_S:
            return
        self._last[key] = now
        line = json.dumps(ev, separators=(",", ":")) + "\n"
        with self._lock:
            try:
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(line)
            except OSError:  # progress never breaks a build
                pass


class Phase:
    """A running phase: `advance(n, current)`, `set(done, current)`, `close()` (also on exit)."""

    _ids = iter(range(1, 1 << 62))

    def __init__(self, sink, name: str, total: int | None, unit: str, minor: bool, eta: bool = True) -> None:
        self.sink, self.name, self.total, self.unit, self.minor, self.eta = sink, name, total, unit, minor, eta
        self.done, self.current, self.closed = 0, "", False
        self.id = f"{os.getpid()}-{next(self._ids)}"
        self._lock = threading.Lock()
        self._emit("start")

    def _emit(self, kind: str) -> None:
        self.sink.event({"kind": kind, "phase": self.name, "id": self.id, "done": self.done, "total": self.total,
                         "unit": self.unit, "current": self.current, "minor": self.minor, "eta": self.eta,
                         "source": source_label(), "t": time.time()})

    def advance(self, n: int = 1, current: str | None = None) -> None:
        with self._lock:
            self.done += n
            self.current = current if current is not None else self.current
            self._emit("update")

    def set(self, done: int, current: str | None = None) -> None:
        with self._lock:
            self.done = done
            self.current = current if current is not None else self.current
            self._emit("update")

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self.closed = True
                self._emit("end")

    def __enter__(self) -> "Phase":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _NullPhase(Phase):
    def __init__(self) -> None:  # noqa: D107 -- nothing to report
        self.done, self.current, self.closed = 0, "", True

    def advance(self, n: int = 1, current: str | None = None) -> None:
        pass

    def set(self, done: int, current: str | None = None) -> None:
        pass

    def close(self) -> None:
        pass


class _TqdmPhase(_NullPhase):
    """The fallback outside pytest: a tqdm bar on stderr (what the builders drew before)."""

    def __init__(self, name: str, total: int | None, unit: str, minor: bool) -> None:
        from tqdm import tqdm

        super().__init__()
        self.bar = tqdm(total=total, desc=name, unit=unit or "it", leave=not minor, file=sys.stderr)

    def advance(self, n: int = 1, current: str | None = None) -> None:
        if current:
            self.bar.set_postfix_str(current, refresh=False)
        self.bar.update(n)

    def set(self, done: int, current: str | None = None) -> None:
        self.advance(done - self.bar.n, current)

    def close(self) -> None:
        self.bar.close()


def phase(name: str, total: int | None, *, unit: str = "", minor: bool = False, enabled: bool = True,
          tty_only: bool = False, eta: bool = True) -> Phase:
    """Start a phase of `total` units (None: unknown). `enabled=False`: report nothing.
    `tty_only`: without a sink, draw the fallback bar only when stderr is a terminal. `eta=False`:
    its units run side by side (a rate per finished unit would mislead): no ETA shown."""
    if not enabled:
        return _NullPhase()
    sink = current_sink()
    if sink is not None:
        return Phase(sink, name, total, unit, minor, eta)
    if multiprocessing.parent_process() is not None or (tty_only and not sys.stderr.isatty()):
        return _NullPhase()
    return _TqdmPhase(name, total, unit, minor)


def note(text: str) -> None:
    """A line for the user before a long step (what will be built, roughly how long)."""
    sink = current_sink()
    if sink is not None:
        sink.event({"kind": "note", "text": text, "source": source_label(), "t": time.time()})
    elif multiprocessing.parent_process() is None:
        print(text, file=sys.stderr, flush=True)
