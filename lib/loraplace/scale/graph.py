"""The unit an engine runs: a task (an importable function and plain-data arguments) with the
cache entries it creates and the tasks it needs first.

    Task("adapter/tiny_qwen3_5/full/math/0", "loraplace.tracks.tiny.tasks:adapter", (p, root, ...),
         entries=("tiny-adapter/tiny_qwen3_5/full/math/0",), deps=("pretrain/tiny_qwen3_5",))

A task is frozen, picklable data: a Ray worker or a spawned process imports `fn` by name, so
the worker needs loraplace (and, for a test's task, the test's module) importable.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

Event = Callable[[str, str], None]  # an engine's report: (kind, task id); kind: start (an attempt starts),
# retry (an attempt failed, another follows), done, fail (no attempt left, or a dependency failed)


@dataclass(frozen=True)
class Task:
    id: str  # unique within a plan
    fn: str  # "package.module:function", called as fn(*args) -> dict (seconds per phase)
    args: tuple
    entries: tuple[str, ...]  # ids of the cache entries it creates (the plan's probe names them)
    deps: tuple[str, ...] = ()  # ids of the tasks that must finish first
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    fresh_process: bool = False  # run in a worker process of its own (GPU tasks: frees the GPU's memory)


@dataclass(frozen=True)
class Outcome:
    id: str
    ok: bool
    attempts: int  # times the task started (0: never, e.g. a dependency failed)
    error: str | None = None  # the last error; "dependency <id> failed" when it never ran


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def call(task: Task) -> dict:
    """Run `task` here (what every engine's worker does)."""
    module, _, name = task.fn.partition(":")
    return getattr(importlib.import_module(module), name)(*task.args) or {}


def ordered(tasks: list[Task]) -> list[Task]:
    """`tasks` in an order where every task follows its dependencies (stable otherwise). A
    dependency outside the list counts as already satisfied (its entries exist)."""
    ids = [t.id for t in tasks]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate task ids: {sorted({i for i in ids if ids.count(i) > 1})}")
    by_id, done, out = {t.id: t for t in tasks}, set(), []
    visiting: set[str] = set()

    def visit(t: Task) -> None:
        if t.id in done:
            return
        if t.id in visiting:
            raise ValueError(f"task dependencies form a cycle through {t.id}")
        visiting.add(t.id)
        for d in t.deps:
            if d in by_id:
                visit(by_id[d])
        visiting.discard(t.id)
        done.add(t.id)
        out.append(t)

    for t in tasks:
        visit(t)
    return out

