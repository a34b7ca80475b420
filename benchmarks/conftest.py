"""Benchmark helpers: the kernel harness (benchmarks/device/bench_gpu.py) on sys.path, and skip
markers with precise reasons. Fused-kernel packages are never imported on a box without CUDA."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent / "device"))

import bench_gpu  # noqa: E402

require_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def fused_or_skip(kernel: str, size: str = "gpu"):
    """The fused kernel callable, or a skip naming exactly why it cannot run here."""
    try:
        return bench_gpu.fused(kernel, size)
    except bench_gpu.Unavailable as e:
        pytest.skip(str(e))


@pytest.fixture(autouse=True)
def _one_thread():
    """CPU benchmarks share 2 cores with other work: measure one thread, restore afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
