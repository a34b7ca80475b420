"""Shared test helpers: where the study's released data is (tests skip without it); torch on one thread."""
from __future__ import annotations

from pathlib import Path

import pytest

from loraplace.tracks.published.fetch import resolve_published_dir


def published_root() -> Path:
    """The study's released data, found by the library's one resolver (option, env, fetch cache,
    ../shared beside the checkout)."""
    return resolve_published_dir()


@pytest.fixture(scope="session")
def published_dir() -> Path:
    root = published_root()
    if not (root / "results" / "eval_details").is_dir():
        pytest.skip(f"the study's released data is not at {root} (set LORAPLACE_PUBLISHED_DIR or run "
                    "`loraplace fetch published`)")
    return root


@pytest.fixture(scope="session")
def published(published_dir):
    from loraplace.tracks.published.loader import load_published

    return load_published(published_dir)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module's tests, as the tiny track evaluates
    (`tracks.tiny.track.single_threaded`); the previous count restored after."""
    import torch

    was = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(was)
