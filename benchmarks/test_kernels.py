"""Fused recurrent-mixer kernels: correct first, then fast.

    pytest benchmarks/test_kernels.py                      # CPU: reference path at small sizes, fused skip
    pytest benchmarks/test_kernels.py -m gpu               # GPU: fused vs reference, real sizes
    pytest benchmarks/test_kernels.py --benchmark-only     # only the pytest-benchmark timings

Kernels: Gated DeltaNet chunked rule (fla `chunk_gated_delta_rule` vs transformers'
`torch_chunk_gated_delta_rule`), Mamba-2 chunked scan (mamba-ssm `mamba_chunk_scan_combined` vs
transformers' `mamba2_chunk_scan`), causal conv1d (causal-conv1d vs `F.conv1d`); then one LoRA
training step of the layer stack / whole model (Qwen3.5-0.8B, Falcon-H1-0.5B configs, random
weights). On CPU the reference runs at tiny sizes so CI measures something in a few seconds; the
fused ones skip with the precise reason ("no CUDA device", "flash-linear-attention not installed").
"""
from __future__ import annotations

import math

import bench_gpu as kb
import pytest
import torch

from conftest import fused_or_skip, require_cuda

pytestmark = pytest.mark.benchmark
CPU_T = (64, 256)
DT = {"fp32": torch.float32, "bf16": torch.bfloat16}
GPU_CASES = [(k, d, T) for k in kb.KERNELS for d in DT for T in kb.GPU_T]
gpu = [pytest.mark.gpu, require_cuda]


# ---- CPU: the reference path, tiny sizes --------------------------------------------------------

@pytest.mark.parametrize("mode", ["fwd", "fwdbwd"])
@pytest.mark.parametrize("T", CPU_T)
@pytest.mark.parametrize("kernel", kb.KERNELS)
def test_reference_cpu(benchmark, kernel, T, mode):
    inputs = kb.make_inputs(kernel, T, torch.float32, "cpu", size="cpu")
    out = kb.reference(kernel, "cpu")(inputs)
    assert torch.isfinite(out).all()
    benchmark.extra_info.update(kernel=kernel, T=T, mode=mode, device="cpu", impl="reference")
    benchmark.pedantic(kb.step_fn(kb.reference(kernel, "cpu"), inputs, mode), rounds=5, warmup_rounds=1)


def test_rel_err_rejects_nan():
    a = torch.ones(4)
    assert kb.rel_err(a, a) == 0.0
    assert kb.rel_err(a.clone().index_fill_(0, torch.tensor([1]), math.nan), a) == math.inf
    assert kb.rel_err(a, a.clone().index_fill_(0, torch.tensor([1]), math.nan)) == math.inf


def test_gdn_reference_chunked_matches_recurrent():
    """The chunked torch reference (what the fused kernel is checked against) agrees with the
    token-by-token recurrence, so the reference itself is trustworthy."""
    import importlib

    from loraplace.models.dispatch import QWEN, _closure

    rec = _closure(getattr(importlib.import_module(QWEN), "torch_recurrent_gated_delta_rule"))["torch_function"]
    a = kb.make_inputs("gdn", 96, torch.float32, "cpu", size="cpu")
    chunked = kb.reference("gdn", "cpu")(a)
    recurrent = rec(a["q"], a["k"], a["v"], g=a["g"], beta=a["beta"], use_qk_l2norm_in_kernel=True)[0]
    assert kb.rel_err(chunked, recurrent) < 1e-4


@pytest.mark.parametrize("arch", ["qwen3_5", "falcon_h1"])
def test_lora_step_reference_cpu(benchmark, arch):
    """One LoRA training step of the tiny organism (reference path), tokens/s recorded."""
    r = kb.measure_model(arch, 64, size="cpu", dtype=torch.float32, impl="reference", iters=3, max_s=3.0)
    assert math.isfinite(r["loss0"]) and r["tokens_per_s"] > 0
    benchmark.extra_info.update(r)
    model = kb.lora_model(arch, "cpu", torch.float32, "cpu")
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(0, model.config.vocab_size, (1, 64), generator=torch.Generator().manual_seed(0))
    benchmark.pedantic(lambda: kb.train_step(model, ids, opt), rounds=3, warmup_rounds=1)


@pytest.mark.parametrize("arch", ["qwen3_5", "falcon_h1"])
def test_mixer_layer_reference_cpu(benchmark, arch):
    """One tiny mixer layer, forward + backward; on CPU both "impls" are the reference path."""
    r = kb.measure_layer(arch, 64, size="cpu", dtype=torch.float32, max_s=0.5)
    assert r["out_err"] == 0.0
    benchmark.extra_info.update(r)
    layer, hidden = kb.mixer_layer(arch, "cpu", torch.float32, "cpu")
    x = torch.randn(1, 64, hidden, requires_grad=True)
    benchmark.pedantic(lambda: layer(x).sum().backward(), rounds=5, warmup_rounds=1)


# ---- GPU: fused vs reference --------------------------------------------------------------------

@pytest.mark.parametrize("kernel,dtype,T", GPU_CASES, ids=[f"{k}-{d}-T{T}" for k, d, T in GPU_CASES])
@pytest.mark.gpu
@require_cuda
def test_fused_correct(kernel, dtype, T):
    """Output and every input gradient of the fused kernel within tolerance of the reference
    (fp32 1e-3, bf16 1e-2, norm-wise relative error), on fresh random inputs; NaN never passes."""
    fused_or_skip(kernel)
    r = kb.compare(kernel, T, DT[dtype])
    assert r["ok"], f"{kernel} {dtype} T={T}: errors {r['errors']} over tolerance {r['tol']}"


@pytest.mark.parametrize("impl", ["reference", "fused"])
@pytest.mark.parametrize("mode", ["fwd", "fwdbwd"])
@pytest.mark.parametrize("kernel,dtype,T", GPU_CASES, ids=[f"{k}-{d}-T{T}" for k, d, T in GPU_CASES])
@pytest.mark.gpu
@require_cuda
def test_kernel_speed(benchmark, kernel, dtype, T, mode, impl):
    fn = fused_or_skip(kernel) if impl == "fused" else kb.reference(kernel)
    run = kb.step_fn(fn, kb.make_inputs(kernel, T, DT[dtype], "cuda"), mode)

    def synced():
        run()
        torch.cuda.synchronize()
    benchmark.extra_info.update(kernel=kernel, dtype=dtype, T=T, mode=mode, impl=impl,
                                device=torch.cuda.get_device_name(0))
    benchmark.pedantic(synced, rounds=10, warmup_rounds=2)


@pytest.mark.parametrize("mode", ["fwd", "fwdbwd"])
@pytest.mark.parametrize("kernel,dtype,T", [c for c in GPU_CASES if c[2] >= 1024],
                         ids=[f"{k}-{d}-T{T}" for k, d, T in GPU_CASES if T >= 1024])
@pytest.mark.gpu
@require_cuda
def test_fused_faster(kernel, dtype, T, mode):
    """From T=1024 on the fused kernel beats the reference (median of CUDA-event timings)."""
    fus = fused_or_skip(kernel)
    t = {name: kb.time_ms(kb.step_fn(fn, kb.make_inputs(kernel, T, DT[dtype], "cuda"), mode), warmup=3, iters=30)
         for name, fn in (("reference", kb.reference(kernel)), ("fused", fus))}
    assert t["fused"]["median_ms"] < t["reference"]["median_ms"], f"{kernel} {dtype} {mode} T={T}: {t}"


@pytest.mark.parametrize("T", [1024, 4096])
@pytest.mark.parametrize("arch", ["qwen3_5", "falcon_h1"])
@pytest.mark.gpu
@require_cuda
def test_mixer_layer_fused_vs_reference(arch, T):
    """One real-size mixer, forward + backward, bf16: same output as the reference, faster."""
    _require_fused(arch)
    r = kb.measure_layer(arch, T)
    assert r["out_err"] < kb.TOL[torch.bfloat16], r
    assert r["fused"]["median_ms"] < r["reference"]["median_ms"], r


def _require_fused(arch: str) -> None:
    from loraplace.models import dispatch

    bound = [b for b in dispatch.kernel_dispatch() if b.architecture == arch and b.phase == "train"]
    slow = [b for b in bound if b.implementation != "fused"]
    if slow:
        pytest.skip("not fused: " + "; ".join(f"{b.kernel} ({b.reason})" for b in slow))


@pytest.mark.parametrize("arch", ["qwen3_5", "falcon_h1"])
@pytest.mark.gpu
@require_cuda
def test_lora_step_fused_vs_reference(arch):
    """Whole-model LoRA training step (real config, random weights, bf16, T=2048): the fused
    dispatch gives the reference loss, is faster, and uses no more memory."""
    _require_fused(arch)
    fus, ref = (kb.measure_model(arch, 2048, impl=i) for i in ("fused", "reference"))
    assert kb.rel_err(torch.tensor(fus["loss0"]), torch.tensor(ref["loss0"])) < 1e-2
    assert fus["tokens_per_s"] > ref["tokens_per_s"], (fus, ref)
    assert fus["peak_gib"] <= ref["peak_gib"] * 1.05, (fus, ref)
