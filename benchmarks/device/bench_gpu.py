"""Fused-kernel harness: the kernel problems, their reference and fused callables, error and timing
helpers, the LoRA training step -- shared by `benchmarks/test_kernels.py` -- and `main()`, the one
prepared run for a lent GPU machine (see run.sh):

    python benchmarks/device/bench_gpu.py --out $OUT [--budget 420] [--quick]

writes kernels.json (every measurement, the dispatch table, the card) and kernels.md (tables).
Kernel packages are imported only on a CUDA box, inside `fused()`.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "lib") not in sys.path:
    sys.path.insert(0, str(REPO / "lib"))

from loraplace.models import dispatch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tables import markdown  # noqa: E402

TOL = {torch.float32: 1e-3, torch.bfloat16: 1e-2}  # relative (norm-wise) error, fused vs reference
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
GPU_T = (512, 1024, 2048, 4096, 8192)
# Real sizes (Qwen3.5-0.8B Gated DeltaNet, Falcon-H1-0.5B Mamba-2 mixer) and CPU-sized ones.
SHAPES = {
    "gdn": {"gpu": dict(B=1, H=16, K=128, V=128), "cpu": dict(B=1, H=2, K=16, V=16)},
    "ssd": {"gpu": dict(B=1, H=24, P=64, N=128, G=1, chunk=128), "cpu": dict(B=1, H=2, P=16, N=16, G=1, chunk=32)},
    "conv": {"gpu": dict(B=1, D=4096, W=4), "cpu": dict(B=1, D=64, W=4)},
}
KERNELS = ("gdn", "ssd", "conv")
PACKAGE = {"gdn": "fla", "ssd": "mamba_ssm", "conv": "causal_conv1d"}


class Unavailable(Exception):
    """The fused kernel cannot run here; the message is the precise reason (a skip reason)."""


# ---- problems ----------------------------------------------------------------------------------

def make_inputs(kernel: str, T: int, dtype, device, size: str = "gpu", seed: int = 0) -> dict:
    """Fresh random inputs (leaf tensors requiring grad where the kernel has gradients)."""
    s, g = SHAPES[kernel][size], torch.Generator(device="cpu").manual_seed(seed)

    def r(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g) * scale).to(device=device, dtype=dtype)

    if kernel == "gdn":
        B, H, K, V = s["B"], s["H"], s["K"], s["V"]
        x = dict(q=r(B, T, H, K), k=r(B, T, H, K), v=r(B, T, H, V),
                 g=F.logsigmoid(r(B, T, H).float() + 3), beta=torch.sigmoid(r(B, T, H)))
    elif kernel == "ssd":
        B, H, P, N, G = s["B"], s["H"], s["P"], s["N"], s["G"]
        x = dict(x=r(B, T, H, P), dt=r(B, T, H, scale=0.5), B=r(B, T, G, N, scale=0.3), C=r(B, T, G, N, scale=0.3))
        x |= dict(A=-torch.linspace(1, H, H, device=device), D=torch.ones(H, device=device),
                  dt_bias=torch.full((H,), -1.0, device=device))
    else:
        x = dict(x=r(s["B"], s["D"], T), weight=r(s["D"], s["W"], scale=0.5), bias=r(s["D"], scale=0.1))
    return {k: v.detach().requires_grad_(v.is_floating_point()) for k, v in x.items()}


def _torch_fn(module: str, attribute: str):
    import importlib

    return dispatch._closure(getattr(importlib.import_module(module), attribute))["torch_function"]


def reference(kernel: str, size: str = "gpu"):
    """transformers' torch reference for the kernel, as a callable of make_inputs()'s dict."""
    if kernel == "gdn":
        f = _torch_fn(dispatch.QWEN, "torch_chunk_gated_delta_rule")
        return lambda a: f(a["q"], a["k"], a["v"], g=a["g"], beta=a["beta"], use_qk_l2norm_in_kernel=True)[0]
    if kernel == "ssd":
        f, chunk = _torch_fn(dispatch.FALCON, "mamba2_chunk_scan"), SHAPES["ssd"][size]["chunk"]
        return lambda a: f(a["x"], a["dt"], a["A"], a["B"], a["C"], chunk, D=a["D"], dt_bias=a["dt_bias"],
                           dt_softplus=True)
    f = _torch_fn(dispatch.QWEN, "causal_conv1d_fn")
    return lambda a: f(a["x"], a["weight"], a["bias"], activation="silu")


def fused(kernel: str, size: str = "gpu"):
    """The package kernel as a callable of make_inputs()'s dict; raises Unavailable(reason)."""
    if not torch.cuda.is_available():
        raise Unavailable("no CUDA device")
    pkg = PACKAGE[kernel]
    if dispatch.package_version(pkg) is None:
        raise Unavailable(f"{dispatch.DISTRIBUTION[pkg]} not installed")
    try:
        if kernel == "gdn":
            from fla.ops.gated_delta_rule import chunk_gated_delta_rule as f

            return lambda a: f(a["q"], a["k"], a["v"], g=a["g"], beta=a["beta"], use_qk_l2norm_in_kernel=True)[0]
        if kernel == "ssd":
            from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined as f

            chunk = SHAPES["ssd"][size]["chunk"]
            return lambda a: f(a["x"], a["dt"], a["A"], a["B"], a["C"], chunk, D=a["D"], dt_bias=a["dt_bias"],
                               dt_softplus=True)
        from causal_conv1d import causal_conv1d_fn as f

        return lambda a: f(a["x"], a["weight"], a["bias"], activation="silu")
    except Exception as e:  # noqa: BLE001 -- a broken build is a reason, not a crash
        raise Unavailable(f"{dispatch.DISTRIBUTION[pkg]} not importable: {type(e).__name__}: {e}") from e


# ---- correctness ------------------------------------------------------------------------------

def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b|| / ||b|| in fp32; inf when either side has a NaN/inf (so NaN never passes)."""
    a, b = a.detach().float(), b.detach().float()
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        return math.inf
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


def outputs_and_grads(fn, inputs: dict, grad_out: torch.Tensor | None = None, seed: int = 1):
    out = fn(inputs)
    if grad_out is None:
        grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed)).to(out)
    leaves = {k: v for k, v in inputs.items() if v.requires_grad}
    grads = torch.autograd.grad(out, list(leaves.values()), grad_out.to(out.dtype), allow_unused=True)
    return out, dict(zip(leaves, grads)), grad_out


def compare(kernel: str, T: int, dtype, size: str = "gpu", device="cuda") -> dict:
    """Errors of fused vs reference (output and every input gradient) on fresh random inputs."""
    fus, ref = fused(kernel, size), reference(kernel, size)
    a, b = make_inputs(kernel, T, dtype, device, size), make_inputs(kernel, T, dtype, device, size)
    out_r, g_r, gout = outputs_and_grads(ref, a)
    out_f, g_f, _ = outputs_and_grads(fus, b, gout)
    errs = {"out": rel_err(out_f, out_r)}
    errs |= {f"d{k}": rel_err(g_f[k], g_r[k]) for k in g_r if g_r[k] is not None and g_f.get(k) is not None}
    return {"kernel": kernel, "T": T, "dtype": str(dtype).split(".")[-1], "tol": TOL[dtype], "errors": errs,
            "max_err": max(errs.values()), "ok": max(errs.values()) <= TOL[dtype]}


# ---- timing ------------------------------------------------------------------------------------

def step_fn(fn, inputs: dict, mode: str):
    """A no-argument callable: forward, or forward + backward to every input."""
    if mode == "fwd":
        def run():
            with torch.no_grad():
                fn(inputs)
        return run
    leaves = [v for v in inputs.values() if v.requires_grad]

    def run():
        out = fn(inputs)
        torch.autograd.grad(out, leaves, torch.ones_like(out), allow_unused=True)
    return run


def time_ms(run, *, warmup: int = 2, iters: int = 20, max_s: float = 2.0) -> dict:
    """Median (and min, n) of per-call times: CUDA events on GPU, perf_counter on CPU; stops
    early when `max_s` of timed calls is spent."""
    cuda = torch.cuda.is_available()
    for _ in range(warmup):
        run()
    if cuda:
        torch.cuda.synchronize()
    times, t_end = [], time.perf_counter() + max_s
    for _ in range(iters):
        if cuda:
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record()
            run()
            e1.record()
            e1.synchronize()
            times.append(e0.elapsed_time(e1))
        else:
            t0 = time.perf_counter()
            run()
            times.append((time.perf_counter() - t0) * 1e3)
        if time.perf_counter() > t_end:
            break
    return {"median_ms": statistics.median(times), "min_ms": min(times), "n": len(times)}


# ---- LoRA training step (layer / whole model) ---------------------------------------------------

MODEL_KEYS = {"qwen3_5": "qwen3_5_0_8b_base", "falcon_h1": "falcon_h1_0_5b_base"}


def lora_model(arch: str, size: str, dtype, device, seed: int = 0):
    """The study's harmonized `full` LoRA condition on a random-weight model (real config on
    "gpu", the tiny organism on "cpu"); no download."""
    from transformers import AutoModelForCausalLM

    from loraplace.models import zoo
    from loraplace.models.placement import apply_lora, build_conditions
    from loraplace.models.taxonomy import classify_model

    key = MODEL_KEYS[arch]
    torch.manual_seed(seed)
    if size == "cpu":
        model = zoo.build_tiny_model(key, seed=seed)
    else:
        with torch.device(device):
            model = AutoModelForCausalLM.from_config(zoo.load_config(key), dtype=dtype)
    condition = next(c for c in build_conditions(classify_model(model), "harmonized").values() if c.role == "full")
    return apply_lora(model, condition, dropout=0.0).to(device=device, dtype=dtype).train()


def mixer_layer(arch: str, size: str, dtype, device):
    """One recurrent mixer (Gated DeltaNet / Mamba-2) with its real (or tiny) dims, in train mode."""
    from transformers import AutoModelForCausalLM

    from loraplace.models import zoo

    over = dict(num_hidden_layers=1) | ({"layer_types": ["linear_attention"]} if arch == "qwen3_5" else {})
    key = MODEL_KEYS[arch]
    config = zoo.tiny_config(key, **over) if size == "cpu" else zoo.load_config(key, **over)
    torch.manual_seed(0)
    with torch.device(device):
        layer = AutoModelForCausalLM.from_config(config, dtype=dtype).model.layers[0]
    return (layer.linear_attn if arch == "qwen3_5" else layer.mamba).train(), config.hidden_size


def measure_layer(arch: str, T: int, *, size: str = "gpu", dtype=torch.bfloat16, max_s: float = 3.0) -> dict:
    """Forward + backward of one mixer, bound kernels vs torch reference: output error and time."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    layer, hidden = mixer_layer(arch, size, dtype, device)
    x = torch.randn(1, T, hidden, generator=torch.Generator().manual_seed(0)).to(device, dtype).requires_grad_()
    params = [p for p in layer.parameters() if p.requires_grad]
    row = {"arch": arch, "T": T, "dtype": str(dtype).split(".")[-1]}
    outs = {}
    for impl in ("fused", "reference"):
        ctx = dispatch.reference_path(arch) if impl == "reference" else contextlib.nullcontext()
        with ctx:
            outs[impl] = layer(x).detach()

            def run():
                out = layer(x)
                torch.autograd.grad(out, [x, *params], torch.ones_like(out), allow_unused=True)
            row[impl] = time_ms(run, warmup=2, iters=15, max_s=max_s)
    row["out_err"] = rel_err(outs["fused"], outs["reference"])  # 0 when nothing is fused
    return row


def train_step(model, batch: torch.Tensor, opt):
    loss = model(input_ids=batch, labels=batch).loss
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss


def measure_model(arch: str, T: int, *, size: str = "gpu", dtype=torch.bfloat16, batch: int = 1,
                  impl: str = "fused", iters: int = 5, max_s: float = 20.0) -> dict:
    """tokens/s and peak memory of one LoRA training step, with transformers' bound kernels
    ("fused") or forced onto its torch reference functions ("reference")."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = lora_model(arch, size, dtype, device)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    vocab = model.config.vocab_size
    ids = torch.randint(0, vocab, (batch, T), generator=torch.Generator().manual_seed(0)).to(device)
    ctx = dispatch.reference_path(arch) if impl == "reference" else contextlib.nullcontext()
    with ctx:
        with torch.no_grad():
            loss0 = float(model(input_ids=ids, labels=ids).loss)  # same weights for both impls
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        t = time_ms(lambda: train_step(model, ids, opt), warmup=1, iters=iters, max_s=max_s)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
    del model, opt
    if device == "cuda":
        torch.cuda.empty_cache()
    return {"arch": arch, "T": T, "batch": batch, "impl": impl, "loss0": loss0, **t,
            "tokens_per_s": batch * T / (t["median_ms"] / 1e3), "peak_gib": peak}


# ---- the device run -----------------------------------------------------------------------------

@dataclass
class Run:
    budget_s: float
    t0: float = field(default_factory=time.perf_counter)
    results: dict = field(default_factory=lambda: {"correctness": [], "kernels": [], "layers": [], "models": [],
                                                   "skipped": []})

    def left(self) -> float:
        return self.budget_s - (time.perf_counter() - self.t0)

    def attempt(self, section: str, what: dict, fn, need_s: float = 5.0):
        if self.left() < need_s:
            self.results["skipped"].append({**what, "section": section, "reason": "time box"})
            return None
        try:
            row = fn()
        except Unavailable as e:
            self.results["skipped"].append({**what, "section": section, "reason": str(e)})
            return None
        except Exception as e:  # noqa: BLE001 -- record and go on: one failure must not lose the run
            self.results["skipped"].append({**what, "section": section, "reason": f"{type(e).__name__}: {e}"[:500]})
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            return None
        self.results[section].append(row)
        print(section, json.dumps(row, default=str)[:300], flush=True)
        return row


def device_run(out: Path, budget_s: float, quick: bool) -> dict:
    """Dispatch, correctness, kernel timings, layer and model steps, each time-boxed. Without CUDA
    it runs the same path at CPU sizes (a smoke test of this script; fused rows are skipped)."""
    run = Run(budget_s)
    summary = dispatch.dispatch_summary()
    cuda = summary["cuda"]
    device, size, mdtype = ("cuda", "gpu", torch.bfloat16) if cuda else ("cpu", "cpu", torch.float32)
    run.results["dispatch"] = summary
    run.results["slow_path"] = dispatch.check_fast_path(dispatch.kernel_dispatch(), allow_slow_path=True,
                                                       on_gpu=cuda)
    Ts = ((1024, 4096) if quick else GPU_T) if cuda else (64, 256)
    Tc, Tl, Tm = ((1024, 4096), (1024, 4096), 2048) if cuda else ((64,), (64,), 64)
    for kernel in KERNELS:  # correctness first, then speed
        for dname, dtype in DTYPES.items():
            for T in Tc:
                run.attempt("correctness", dict(kernel=kernel, dtype=dname, T=T),
                            lambda: compare(kernel, T, dtype, size, device))
        for dname, dtype in DTYPES.items():
            for mode in ("fwd", "fwdbwd"):
                for T in Ts:
                    for impl in ("reference", "fused"):
                        def one(impl=impl):
                            fn = fused(kernel, size) if impl == "fused" else reference(kernel, size)
                            a = make_inputs(kernel, T, dtype, device, size)
                            return {"kernel": kernel, "dtype": dname, "mode": mode, "T": T, "impl": impl,
                                    **time_ms(step_fn(fn, a, mode), iters=25, max_s=1.0)}
                        run.attempt("kernels", dict(kernel=kernel, dtype=dname, mode=mode, T=T, impl=impl), one,
                                    need_s=0.36 * budget_s)
    for arch in ("qwen3_5", "falcon_h1"):
        for T in Tl:
            run.attempt("layers", dict(arch=arch, T=T), lambda: measure_layer(arch, T, size=size, dtype=mdtype),
                        need_s=0.26 * budget_s)
    for arch in ("qwen3_5", "falcon_h1"):
        for impl in ("fused", "reference"):
            run.attempt("models", dict(arch=arch, impl=impl, T=Tm),
                        lambda: measure_model(arch, Tm, size=size, dtype=mdtype, impl=impl, iters=4, max_s=15.0),
                        need_s=0.1 * budget_s)
    run.results["wall_s"] = time.perf_counter() - run.t0
    out.mkdir(parents=True, exist_ok=True)
    (out / "kernels.json").write_text(json.dumps(run.results, indent=1, default=str))
    (out / "kernels.md").write_text(markdown(run.results))
    return run.results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "kernels-out")))
    ap.add_argument("--budget", type=float, default=420.0, help="seconds for all measurements")
    ap.add_argument("--quick", action="store_true", help="T in (1024, 4096) only")
    args = ap.parse_args(argv)
    r = device_run(args.out, args.budget, args.quick)
    bad = [c for c in r["correctness"] if not c["ok"]]
    print(f"wrote {args.out}/kernels.json, kernels.md; {len(r['kernels'])} timings, {len(bad)} correctness failures")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
