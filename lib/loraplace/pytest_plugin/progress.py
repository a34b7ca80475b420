"""The pytest side of `loraplace.progress.events`: build progress on the terminal from inside a session.

The evidence is built inside a session-scoped fixture, where pytest captures stdout and stderr
(fd-level), so a builder's own bar is swallowed. Here:

* The controller (the lone process, or xdist's controller) renders: at configure time, while
  capture is suspended, it duplicates the terminal's file descriptor; lines written there
  bypass capture without suspending it (so a render thread never races pytest's own capture
  switching). Its own events go straight to the `Renderer`.
* Every other process reports through files: the controller makes a directory, exports it as
  ``$LORAPLACE_PROGRESS_DIR`` (and passes it to xdist workers in `workerinput`); xdist workers
  and the worker processes a cold build spawns append JSON lines to ``<dir>/<pid>.jsonl``; a
  controller thread tails them (`progress_render.Tail`). Files, not xdist's channel: the build's
  own spawned processes have no channel, and one mechanism serves both.
* Around pytest's own writes: before our first line, pytest's open line (the test file's
  path) is ended; before pytest writes a result, the live line is erased and pytest's line
  restored (its path, padded to the column pytest believes it is at).

`--no-progress` turns all of it off (no directory, nothing written by any process).
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from loraplace.progress import events as progress
from loraplace.progress.render import Renderer, Tail

WORKERINPUT_KEY = "loraplace_progress_dir"


class ProgressPlugin:
    def __init__(self, config: pytest.Config, enabled: bool = True) -> None:
        self.config = config
        self.enabled = enabled  # off: --no-progress (Settings.progress)
        self.dir: str | None = None
        self.renderer: Renderer | None = None
        self.tail: Tail | None = None
        self.out = None
        self._env_was = os.environ.get(progress.ENV)

    # ── set up
    def start(self) -> None:
        workerinput = getattr(self.config, "workerinput", None)
        if workerinput is not None:  # an xdist worker: report to the controller's directory
            where = workerinput.get(WORKERINPUT_KEY, "")
            os.environ[progress.ENV] = where
            progress.install(progress.FileSink(Path(where) / f"{os.getpid()}.jsonl") if where else progress.NullSink())
            return
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        if not self.enabled or tr is None:
            os.environ[progress.ENV] = ""  # spawned builders report nothing either
            progress.install(progress.NullSink())
            return
        try:
            fd = os.dup(sys.stdout.fileno())
        except (AttributeError, OSError, ValueError):  # no real stdout (e.g. an in-process pytester run)
            os.environ[progress.ENV] = ""
            progress.install(progress.NullSink())
            return
        self.out = os.fdopen(fd, "w", encoding="utf-8", errors="replace")
        self.dir = tempfile.mkdtemp(prefix="loraplace-progress-")
        os.environ[progress.ENV] = self.dir
        self.tr = tr
        self.renderer = Renderer(self.out, live=os.isatty(fd), quiet=self.config.get_verbosity() < 0,
                                 width=lambda: tr._tw.fullwidth, before_write=self._end_pytest_line)
        progress.install(self.renderer)
        self.renderer.start()
        self.tail = Tail(self.dir, self.renderer)
        self.tail.start()

    def _end_pytest_line(self) -> None:
        if self.tr._tw.width_of_current_line > 0:
            self.out.write("\n")

    def _restore_pytest_line(self) -> None:
        if self.tail is not None:
            self.tail.poll()  # what other processes reported before this result, first
        if self.renderer is None or not self.renderer.release():
            return
        width = self.tr._tw.width_of_current_line
        if width:
            prefix = ""
            if isinstance(self.tr.currentfspath, Path):
                from _pytest.pathlib import bestrelpath

                prefix = bestrelpath(self.tr.startpath, self.tr.currentfspath) + " "
            self.out.write(prefix[:width] + " " * max(0, width - len(prefix)))
        self.out.flush()

    # ── hooks
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session) -> None:
        """Set up once the terminal reporter exists, before xdist starts its workers."""
        self.start()

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node) -> None:
        node.workerinput[WORKERINPUT_KEY] = self.dir or ""

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logstart(self, nodeid, location) -> None:
        if self.renderer is not None:
            self.tr._tw.flush()  # pytest's path reaches the terminal before capture starts

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report) -> None:
        self._restore_pytest_line()

    @pytest.hookimpl(tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter) -> None:
        self._restore_pytest_line()

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.tail is not None:
            self.tail.stop()
        if self.renderer is not None:
            self.renderer.stop()
            self.renderer.release()
        progress.install(None)
        if self.out is not None:
            self.out.close()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        if self._env_was is None:
            os.environ.pop(progress.ENV, None)
        else:
            os.environ[progress.ENV] = self._env_was
