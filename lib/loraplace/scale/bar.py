"""The fill's progress bar: tasks finished out of those to run, with done / running / failed."""
from __future__ import annotations

import sys


class Bar:
    """Consumes an engine's events (start, retry, done, fail); `enabled=False` counts silently."""

    def __init__(self, total: int, desc: str, enabled: bool = True) -> None:
        from tqdm import tqdm

        self.running: set[str] = set()
        self.done = self.failed = self.retried = 0
        self._bar = tqdm(total=total, desc=desc, unit="task", file=sys.stderr, disable=not enabled, dynamic_ncols=True)

    def event(self, kind: str, task_id: str) -> None:
        if kind == "start":
            self.running.add(task_id)
        elif kind == "retry":
            self.retried += 1
        elif kind in ("done", "fail"):
            self.running.discard(task_id)
            if kind == "done":
                self.done += 1
            else:
                self.failed += 1
        self._bar.set_postfix_str(self.status(), refresh=False)
        if kind in ("done", "fail"):
            self._bar.update(1)

    def status(self) -> str:
        retried = f" (retried {self.retried})" if self.retried else ""
        return f"done {self.done} · running {len(self.running)} · failed {self.failed}{retried}"

    def close(self) -> None:
        self._bar.close()
