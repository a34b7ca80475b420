"""Turn progress events (`loraplace.progress.events`) into terminal lines: one live line on a terminal,
a plain line every `PLAIN_EVERY_S` elsewhere (CI logs); with -q off a terminal, no start lines
and a status line only every `QUIET_EVERY_S` (still a sign of life in a long CI job).

    renderer = Renderer(out, live=True, quiet=False)   # out: a text file on the real terminal
    progress.install(renderer)                          # this process's events
    tail = Tail(directory, renderer); tail.start()      # other processes' events (files)

Lines:
    tiny[smoke] fine-tuning + evaluation  10/72 run  [tiny_falcon_h1 full/code s1]  1m02s, ETA 6m12s
The ETA is the elapsed time per finished unit times the units left (none before the first),
damped: the shown value counts down with the clock and moves toward each new estimate with a
time constant of a quarter of the ETA (at least `ETA_TAU_S`), so units of uneven length or a load
spike do not make a long build's ETA swing; estimates from the first `ETA_SETTLE_S` of a phase
are shown as they are and not kept.
A major phase's final line stays ("... 72/72 run in 7m14s"); a minor one (an entry inside a
phase) is only part of the live line while it runs. Phases from xdist workers carry their id.
"""
from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

PLAIN_EVERY_S = 30.0
QUIET_EVERY_S = 120.0
LIVE_EVERY_S = 0.25
TICK_S = 1.0
ETA_TAU_S = 60.0  # the shown ETA closes 1/e of its gap to the raw estimate per max(this, ETA / 4) seconds
ETA_SETTLE_S = 5.0  # a rate measured over less than this is not kept as the damped ETA's start


def clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class _State:
    def __init__(self, ev: dict) -> None:
        self.name, self.minor, self.source = ev["phase"], bool(ev.get("minor")), ev.get("source", "")
        self.show_eta = ev.get("eta", True)  # False: its units run in parallel, a rate says nothing
        self.started = time.monotonic()
        self._shown: tuple[float, float] | None = None  # (ETA shown, when)
        self.update(ev)

    def update(self, ev: dict) -> None:
        self.done, self.total = ev.get("done", 0), ev.get("total")
        self.unit, self.current = ev.get("unit", ""), ev.get("current", "")

    def label(self) -> str:
        return f"[{self.source}] {self.name}" if self.source else self.name

    def raw_eta(self) -> float | None:
        """Elapsed time per finished unit times the units left."""
        if not self.show_eta or not self.total or self.done <= 0 or self.done >= self.total:
            return None
        return (time.monotonic() - self.started) / self.done * (self.total - self.done)

    def eta(self) -> float | None:
        """The damped ETA: the last shown value counted down, moved toward the raw estimate."""
        raw, now = self.raw_eta(), time.monotonic()
        if raw is None or now - self.started < ETA_SETTLE_S:
            self._shown = None
            return raw
        if self._shown is None:
            shown = raw
        else:
            before, then = self._shown
            ticked = max(0.0, before - (now - then))
            tau = max(ETA_TAU_S, ticked / 4)
            shown = ticked + (raw - ticked) * (1.0 - math.exp(-(now - then) / tau))
        self._shown = (shown, now)
        return shown

    def line(self, compact: bool = False) -> str:
        """`compact`: without the entry and the elapsed time (several phases share a short line)."""
        count = f"{self.done}/{self.total}" if self.total else f"{self.done}"
        eta = self.eta()
        if self.minor or compact:  # an entry inside a phase: short, it shares the line
            return f"{self.label()} {count}" + (f" ETA {clock(eta)}" if eta is not None else "")
        text = f"{self.label()}  {count}{' ' + self.unit if self.unit else ''}"
        if self.current:
            text += f"  [{self.current}]"
        elapsed = clock(time.monotonic() - self.started)
        return text + f"  {elapsed}" + (f", ETA {clock(eta)}" if eta is not None else "")

    def final(self) -> str:
        count = f"{self.done}/{self.total}" if self.total else f"{self.done}"
        return f"{self.label()}  {count}{' ' + self.unit if self.unit else ''} in {clock(time.monotonic() - self.started)}"


class Renderer:
    """Renders events on `out` (thread-safe). `live`: carriage-return line (a terminal); else
    plain lines every `plain_every` seconds (`quiet`: no start lines, every `QUIET_EVERY_S`). `before_write()` runs before
    the first line of each block (the pytest plugin ends pytest's open line there);
    `width()` gives the terminal width."""

    def __init__(self, out, *, live: bool, quiet: bool = False, width=lambda: 80, before_write=None,
                 plain_every: float = PLAIN_EVERY_S, live_every: float = LIVE_EVERY_S) -> None:
        self.out, self.live, self.quiet, self.width = out, live, quiet, width
        self.before_write, self.plain_every, self.live_every = before_write, plain_every, live_every
        self.phases: dict[str, _State] = {}
        self.open = False  # the live line is on screen, unterminated
        self.wrote = False  # we wrote since pytest last did (the plugin re-opens its line)
        self._last_live = self._last_plain = 0.0
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # ── events
    def event(self, ev: dict) -> None:
        with self._lock:
            kind = ev.get("kind")
            if kind == "note":
                self._permanent((f"[{ev['source']}] " if ev.get("source") else "") + ev["text"])
            elif kind == "start":
                self.phases[ev["id"]] = _State(ev)
                self._last_plain = time.monotonic()  # the next status line is one period away
                if not self.live and not self.quiet and not ev.get("minor"):
                    self._permanent(self.phases[ev["id"]].line())
            elif kind in ("update", "end") and ev.get("id") in self.phases:
                st = self.phases[ev["id"]]
                st.update(ev)
                if kind == "end":
                    del self.phases[ev["id"]]
                    if not st.minor:
                        self._permanent(st.final())
            self._refresh(force=kind != "update")

    # ── output
    def _write(self, text: str) -> None:
        if not self.wrote and self.before_write is not None:
            self.before_write()
        self.wrote = True
        try:
            self.out.write(text)
            self.out.flush()
        except (OSError, ValueError):
            pass

    def _permanent(self, line: str) -> None:
        self._write(("\r\x1b[K" if self.open else "") + line + "\n")
        self.open = False

    def status(self, width: int | None = None) -> str:
        """Every running phase, majors first; compact when the full text exceeds `width`."""
        major = [s for s in self.phases.values() if not s.minor]
        minor = [s for s in self.phases.values() if s.minor]
        text = " · ".join(s.line() for s in major + minor)
        if width is not None and len(text) > width:
            text = " · ".join(s.line(compact=True) for s in major + minor)
        return text

    def _refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.phases:
            return
        if self.live:
            if force or now - self._last_live >= self.live_every:
                self._last_live = now
                width = max(20, self.width() - 1)
                self._write("\r" + self.status(width)[:width] + "\x1b[K")
                self.open = True
    def tick(self) -> None:
        """The clock: refresh the live line; off a terminal, the status line when one is due."""
        with self._lock:
            self._refresh()
            now = time.monotonic()
            every = max(self.plain_every, QUIET_EVERY_S) if self.quiet else self.plain_every
            if not self.live and self.phases and now - self._last_plain >= every:
                self._last_plain = now
                self._write(self.status() + "\n")

    def release(self) -> bool:
        """Erase the live line (pytest is about to write); True when anything was written since
        the last release (the caller then restores its own line)."""
        with self._lock:
            if self.open:
                self._write("\r\x1b[K")
                self.open = False
            wrote, self.wrote = self.wrote, False
            return wrote

    # ── the ticker: keeps the live line's clock moving, prints plain lines on time
    def start(self) -> None:
        self._last_plain = time.monotonic()
        self._ticker = threading.Thread(target=self._run, name="loraplace-progress", daemon=True)
        self._ticker.start()

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            self.tick()

    def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)


class Tail:
    """Feeds `renderer` the events other processes append to ``<directory>/*.jsonl``."""

    def __init__(self, directory: Path | str, renderer: Renderer, every: float = 0.25) -> None:
        self.directory, self.renderer, self.every = Path(directory), renderer, every
        self.offsets: dict[Path, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> int:
        """Read every complete new line once -> events delivered (any thread)."""
        with self._lock:
            return self._poll()

    def _poll(self) -> int:
        n = 0
        for path in sorted(self.directory.glob("*.jsonl")):
            start = self.offsets.get(path, 0)
            try:
                with open(path, "rb") as f:
                    f.seek(start)
                    chunk = f.read()
            except OSError:
                continue
            end = chunk.rfind(b"\n") + 1
            self.offsets[path] = start + end
            for raw in chunk[:end].splitlines():
                try:
                    ev = json.loads(raw)
                except ValueError:
                    continue
                self.renderer.event(ev)
                n += 1
        return n

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="loraplace-progress-tail", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.poll()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.poll()
