"""Task functions for the fill engines' tests (imported by name in worker processes and Ray
workers, so they live in a module of their own, not in a test file)."""
from __future__ import annotations

import os
from pathlib import Path

from loraplace.train.cache import Cache

KIND = "fill-test"


def spec(name: str) -> dict:
    return {"name": name}


def write_entry(root: str, name: str, die_marker: str | None = None) -> dict:
    """Create the cache entry `fill-test/<name>` (two files). With `die_marker`: the first attempt
    (no marker file yet) writes half the entry, then its process exits without cleaning up."""
    def create(d: Path) -> None:
        (d / "part1.bin").write_bytes(b"1" * 4096)
        if die_marker and not Path(die_marker).exists():
            Path(die_marker).write_text("died mid-write")
            os._exit(3)
        (d / "part2.bin").write_bytes(b"2" * 4096)

    Cache(root).get_or_create(KIND, spec(name), create)
    return {}


def fail_always(message: str) -> dict:
    raise RuntimeError(message)


def probe(root: str, names) -> dict[str, bool]:
    cache = Cache(root)
    return {f"{KIND}/{n}": cache.has(KIND, spec(n)) for n in names}
