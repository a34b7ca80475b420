"""Filling the cache at scale: a track's plan becomes a graph of tasks that an engine runs.

    plan (tiny.py / paper.py)  ──►  tasks with dependencies  ──►  engine (local.py | ray_engine.py)
                                                                  │
                           one shared, content-addressed cache dir ◄┘  (train/cache.py)

`fill.fill()` probes which planned entries exist, hands the missing work to an engine, probes
again and reports {entries, created, reused, failed}. Every task calls the track's own
`ensure_*` / `build` functions, so an entry is byte-identical whichever engine (or pytest
session) created it; the cache's file locks and atomic renames make concurrent creators safe.
"""
