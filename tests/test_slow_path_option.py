"""`--allow-slow-path`: a suite run on a CUDA machine whose recurrent kernels fall back to the
torch reference is a usage error, or with the option a warning in the report.

The CUDA machine is simulated in the pytest subprocess: its conftest makes
`torch.cuda.is_available()` answer True (and names a card), so the real `kernel_dispatch`
imports the modeling modules, finds no fla / mamba-ssm / causal-conv1d, and reports every kernel
as a torch fallback -- exactly what a GPU box without the kernel packages would see.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from loraplace.scoring.execution import default_cache_dir

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]
FAKE_GPU = '''
import torch
torch.cuda.is_available = lambda: True
torch.cuda.get_device_name = lambda *a, **k: "simulated GPU"
'''
# one claim that needs no evidence track: C5 is exact arithmetic on the real-size architectures
HYPOTHESIS = "test_c5_parameter_efficiency.py"

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="simulates a GPU on a CPU box")


@pytest.fixture
def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO / "lib"), str(REPO)]))  # this checkout's code
    monkeypatch.setenv("LORAPLACE_CACHE_DIR", str(default_cache_dir().parent))
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeconftest(FAKE_GPU)
    (pytester.path / HYPOTHESIS).write_text((REPO / "hypotheses" / HYPOTHESIS).read_text())
    report_dir = pytester.path / "out"

    def go(*args: str):
        result = pytester.runpytest_subprocess("-p", "loraplace.pytest_plugin.plugin", "-p", "loraplace.pytest_plugin.fixtures",
                                               "-p", "no:cacheprovider", f"--report-dir={report_dir}",
                                               "--verdicts", "record", *args)
        return result, report_dir / "claims.json"
    return go


def test_fallback_on_a_gpu_is_a_usage_error_naming_the_option(run):
    result, report = run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "GPU run without fused kernels" in err and "--allow-slow-path" in err
    assert "chunk_gated_delta_rule -> torch-fallback" in err
    assert not report.exists()


def test_allow_slow_path_runs_and_the_report_warns_per_kernel(run):
    from loraplace.models.dispatch import SITES

    result, report = run("--allow-slow-path")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-2000:]
    data = json.loads(report.read_text())
    slow = [w for w in data["provenance"]["warnings"] if w.startswith("slow path: ")]
    trained_or_decoded = {s.kernel for s in SITES if s.phase in ("train", "decode")}
    assert {w.split(": ")[2].split(" -> ")[0] for w in slow} == trained_or_decoded
    assert all("torch-fallback" in w for w in slow)
    html = (report.parent / "claims.html").read_text()
    assert "slow path: " in html and "simulated GPU" in html
