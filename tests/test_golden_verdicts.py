"""The published track's verdicts are pinned (tests/golden/published_verdicts.json): a change that
flips a verdict or moves an interval fails here; `scripts/golden_verdicts.py --write` regenerates
the file, and its diff is what a reviewer reads."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("golden_verdicts", REPO / "scripts" / "golden_verdicts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_published_verdicts_are_as_pinned(published_dir):
    golden = _script()
    fresh = golden.compute(published_dir)
    assert golden.differences(json.loads(golden.GOLDEN.read_text()), fresh) == []


def test_a_moved_verdict_is_reported():
    golden = _script()
    pinned = json.loads(golden.GOLDEN.read_text())
    key = next(iter(pinned["verdicts"]))
    moved = json.loads(json.dumps(pinned))
    moved["verdicts"][key]["verdict"] = "supported" if pinned["verdicts"][key]["verdict"] != "supported" else "refuted"
    assert golden.differences(pinned, moved) == [f"{key}: {pinned['verdicts'][key]} -> {moved['verdicts'][key]}"]
