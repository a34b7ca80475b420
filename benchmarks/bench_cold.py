"""The README's main job from an empty cache, timed beside a yardstick of the machine's speed.

    python benchmarks/bench_cold.py [--profile smoke|default] [--workers N] [--keep DIR] [--tree PATH] [--log FILE]

Runs `pytest hypotheses/ --evidence tiny --profile P --verdicts record -q` in a fresh process with
`LORAPLACE_CACHE_DIR` pointing at a new empty directory (so the variant cache and the execution
cache start empty: nothing trained, evaluated or executed before), and `benchmarks/yardstick.py`
immediately before and after it. Prints the wall time, the pytest outcome line, the yardstick
(mean of before and after) and the wall time in yardsticks, which is comparable across days on
which the machine ran at different speeds. `--keep DIR` builds into DIR (kept) instead of a
temporary directory. `--tree PATH` runs another checkout's `hypotheses/` and `lib/` (e.g. a
`git worktree` of an older revision; pytest's plugin autoload is then off and the tree's root
conftest registers its own plugin). `--log FILE` keeps pytest's output (its verdict lines), so two
builds' verdicts can be compared; `compare_builds.py` compares two kept builds' labels.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import yardstick  # noqa: E402


def cold(profile: str, root: Path, workers: int | None, tree: Path | None = None,
         log: Path | None = None) -> tuple[float, str, int]:
    env = dict(os.environ, LORAPLACE_CACHE_DIR=str(root))
    if tree is not None:
        env.update(PYTHONPATH=str(tree / "lib"), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    if workers:
        env["LORAPLACE_WORKERS"] = str(workers)
    cmd = [sys.executable, "-m", "pytest", "hypotheses/", "--evidence", "tiny", "--profile", profile,
           "--verdicts", "record", "-q", "-p", "no:cacheprovider"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=tree or HERE.parent, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if log is not None:
        log.write_text(done.stdout)
    lines = [ln for ln in done.stdout.splitlines() if " passed" in ln or " failed" in ln or " error" in ln]
    return wall, (lines[-1] if lines else done.stdout[-300:] + done.stderr[-300:]), done.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="smoke")
    ap.add_argument("--workers", type=int, default=None, help="LORAPLACE_WORKERS (default: the usable CPUs)")
    ap.add_argument("--keep", type=Path, default=None, help="build into this (new, empty) directory and keep it")
    ap.add_argument("--tree", type=Path, default=None, help="another checkout to run (default: this one)")
    ap.add_argument("--log", type=Path, default=None, help="write pytest's output (the verdict lines) here")
    args = ap.parse_args()
    before = yardstick.measure()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=False)
        wall, line, rc = cold(args.profile, args.keep, args.workers, args.tree, args.log)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
            wall, line, rc = cold(args.profile, Path(tmp), args.workers, args.tree, args.log)
    after = yardstick.measure()
    stick = (before["yardstick_s"] + after["yardstick_s"]) / 2
    print(f"{args.tree or 'this tree'}: cold pytest hypotheses/ --profile {args.profile}: {wall:.1f} s wall ({wall / 60:.2f} min), rc {rc}: {line}")
    print(f"yardstick before {before['yardstick_s']:.3f} s (load {before['load_1min']}), after "
          f"{after['yardstick_s']:.3f} s (load {after['load_1min']}); wall / yardstick = {wall / stick:.0f}")
    return 0 if rc in (0, 1) else rc


if __name__ == "__main__":
    raise SystemExit(main())
