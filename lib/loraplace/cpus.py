"""The CPUs this process may use: its affinity mask where the OS has one (a container's or
`taskset`'s limit), else the machine's count."""
from __future__ import annotations

import os


def usable() -> int:
    """How many CPUs this process may run on (at least 1)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
