"""Kernel dispatch on a CPU box: every kernel reported with a reason; the GPU fast-path guard."""
from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
import torch

from loraplace.models import dispatch
from loraplace.models.dispatch import KernelBinding, SlowPathError, check_fast_path, kernel_dispatch

KERNEL_PACKAGES = ("fla", "mamba_ssm", "causal_conv1d")
cpu_only = pytest.mark.skipif(torch.cuda.is_available(), reason="asserts the CPU dispatch")


@cpu_only
def test_every_kernel_reported_as_fallback_with_a_reason():
    bindings = kernel_dispatch()
    assert {(b.architecture, b.kernel) for b in bindings} == {(s.architecture, s.kernel) for s in dispatch.SITES}
    for b in bindings:
        assert b.implementation in ("torch-fallback", "unavailable"), b
        assert b.bound and b.reason, b
        if dispatch.package_version(b.package) is None:
            assert b.implementation == "torch-fallback"
            assert "package not installed" in b.reason and "no CUDA device" in b.reason, b


@cpu_only
def test_bindings_read_from_imported_modules_name_the_torch_reference():
    import transformers.models.falcon_h1.modeling_falcon_h1  # noqa: F401
    import transformers.models.qwen3_5.modeling_qwen3_5  # noqa: F401

    by = {(b.architecture, b.kernel): b for b in kernel_dispatch()}
    assert by["qwen3_5", "chunk_gated_delta_rule"].bound.endswith("modeling_qwen3_5.torch_chunk_gated_delta_rule")
    assert by["falcon_h1", "mamba_chunk_scan_combined"].bound.endswith("modeling_falcon_h1.mamba2_chunk_scan")
    assert all(b.implementation == "torch-fallback" and "no CUDA device" in b.reason for b in by.values())


def test_model_argument_restricts_to_its_architecture():
    from loraplace.models.zoo import build_tiny_model

    model = build_tiny_model("falcon_h1_0_5b_base")
    assert {b.architecture for b in kernel_dispatch(model)} == {"falcon_h1"}


@pytest.mark.parametrize("implementation, bypassed", [("fused", True), ("torch-fallback", False)])
def test_lora_on_mamba_out_proj_is_reported_only_where_the_fused_kernel_bypasses_it(
        monkeypatch, implementation, bypassed):
    from loraplace.models.zoo import build_tiny_model

    model = build_tiny_model("falcon_h1_0_5b_base")
    outs = [n for n, m in model.named_modules() if n.endswith("mamba.out_proj")]
    model.get_submodule(outs[0]).lora_A = torch.nn.ModuleDict()  # what peft adds to an adapted Linear
    fake = [dataclasses.replace(b, implementation=implementation) for b in kernel_dispatch(model)]
    monkeypatch.setattr(dispatch, "kernel_dispatch", lambda m=None: fake)
    warnings = dispatch.lora_bypass_warnings(model)
    assert warnings == ([f"{outs[0]}: LoRA bypassed by the fused Mamba-2 training kernel"] if bypassed else [])


def _binding(impl: str, kernel: str = "chunk_gated_delta_rule") -> KernelBinding:
    return KernelBinding("qwen3_5", "gated_deltanet", kernel, impl, "x.y", "package not installed (fla)")


def test_check_fast_path_raises_on_gpu_run_with_fallbacks():
    bindings = [_binding("fused", "a"), _binding("torch-fallback")]
    with pytest.raises(SlowPathError, match=r"(?s)chunk_gated_delta_rule -> torch-fallback.*allow_slow_path=True"):
        check_fast_path(bindings, allow_slow_path=False, on_gpu=True)
    warnings = check_fast_path(bindings, allow_slow_path=True, on_gpu=True)
    assert len(warnings) == 1 and "chunk_gated_delta_rule" in warnings[0]


def test_check_fast_path_quiet_when_fused_or_off_gpu():
    assert check_fast_path([_binding("fused")], allow_slow_path=False, on_gpu=True) == []
    assert check_fast_path([_binding("torch-fallback")], allow_slow_path=False, on_gpu=False) == []
    assert check_fast_path(kernel_dispatch(), allow_slow_path=False, on_gpu=False) == []
    with pytest.raises(SlowPathError):
        check_fast_path([_binding("unavailable")], allow_slow_path=False, on_gpu=True)


def test_reference_path_swaps_and_restores():
    import transformers.models.qwen3_5.modeling_qwen3_5 as q

    wrapped = q.torch_chunk_gated_delta_rule
    with dispatch.reference_path("qwen3_5"):
        assert q.torch_chunk_gated_delta_rule is wrapped.__wrapped__
    assert q.torch_chunk_gated_delta_rule is wrapped


def test_dispatch_summary_is_json_ready():
    import json

    s = dispatch.dispatch_summary()
    assert set(s) >= {"cuda", "device", "torch", "transformers", "packages", "fast_path", "kernels"}
    assert len(s["kernels"]) == len(dispatch.SITES)
    json.dumps(s)


def test_importing_and_cpu_dispatch_import_no_kernel_package():
    code = ("import sys; import loraplace.models.dispatch as d; "
            "bad = lambda: [m for m in sys.modules if m.split('.')[0] in %r]; "
            "assert not bad(), bad(); "
            "assert not [m for m in sys.modules if m.startswith('transformers.models.')], 'modeling imported'; "
            "d.kernel_dispatch(); d.dispatch_summary(); "
            "import torch; assert torch.cuda.is_available() or not bad(), bad()" % (KERNEL_PACKAGES,))
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# Every hybrid the taxonomy's held-out tests classify (tests/test_taxonomy.py CASES), beyond the study's three.
HELD_OUT_HYBRIDS = ("qwen3_next", "nemotron_h", "jamba", "granitemoehybrid", "lfm2", "zamba2", "olmo_hybrid",
                    "minimax", "recurrent_gemma")


def _decorated(model_type: str) -> set[tuple[str, str, str]]:
    """(function, kernel, package) per decorated function, read with a regex: independent of the ast walk."""
    import importlib.util
    import re

    origin = importlib.util.find_spec(f"transformers.models.{model_type}.modeling_{model_type}").origin
    text = open(origin, encoding="utf-8").read()
    pattern = r'@use_kernel_func_from_hub_with_fallback\(\s*"([^"]+)",\s*"([^"]+)"\s*\)\s*\ndef (\w+)'
    return {(fn, kernel, pkg) for kernel, pkg, fn in re.findall(pattern, text)}


@pytest.mark.parametrize("model_type", HELD_OUT_HYBRIDS)
def test_every_held_out_hybrid_is_guarded_or_said_to_be_unchecked(model_type):
    sites = dispatch.discover_sites(model_type)
    assert {(s.attribute, s.kernel, s.package) for s in sites} == _decorated(model_type)
    bindings = kernel_dispatch(types={model_type})
    if sites:
        assert {b.kernel for b in bindings} == {s.kernel for s in sites}
        assert all(b.architecture == model_type and b.reason for b in bindings)
    else:  # nothing transformers lets us read: said, per model type
        assert [(b.architecture, b.implementation) for b in bindings] == [(model_type, "unchecked")]


def test_a_jamba_is_checked_for_its_mamba_kernels():
    kernels = {b.kernel: b for b in kernel_dispatch(types={"jamba"})}
    assert {"mamba_inner_fn", "selective_scan_fn", "selective_state_update", "causal_conv1d_fn"} <= set(kernels)
    assert kernels["selective_state_update"].phase == "decode" and kernels["selective_scan_fn"].phase == "train"


def test_unchecked_kernels_are_a_warning_on_a_gpu_run_never_silent():
    bindings = kernel_dispatch(types={"llama"})  # no recurrent kernel to find
    assert [b.implementation for b in bindings] == ["unchecked"]
    lines = check_fast_path(bindings, on_gpu=True, allow_slow_path=False)
    assert lines and lines[0].startswith("kernels not checked: llama")


def test_discovering_sites_imports_no_modeling_module():
    code = ("import sys; from loraplace.models.dispatch import kernel_dispatch; "
            "kernel_dispatch(types={'jamba', 'zamba2', 'qwen3_next'}); "
            "print(sorted(m for m in sys.modules if m.startswith('transformers.models.') and '.modeling_' in m))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == "[]"
