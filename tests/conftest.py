"""Shared test helpers: where the study's released data is (tests skip without it)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO.parent / "shared" / "published" / "hecboar-lora-placement-hybrid"


def published_root() -> Path:
    return Path(os.environ.get("LORAPLACE_PUBLISHED_DIR") or DEFAULT)


@pytest.fixture(scope="session")
def published_dir() -> Path:
    root = published_root()
    if not (root / "results" / "eval_details").is_dir():
        pytest.skip(f"the study's released data is not at {root} (set LORAPLACE_PUBLISHED_DIR or run "
                    "`loraplace fetch published`)")
    return root


@pytest.fixture(scope="session")
def published(published_dir):
    from loraplace.evidence.published import load_published

    return load_published(published_dir)
