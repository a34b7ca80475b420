"""Which kernel each recurrent mixer actually runs: fused GPU kernel or torch reference code.

transformers (>= 5.2x) binds these at *import* of the modeling module, through
`use_kernel_func_from_hub_with_fallback(kernel, package)`: it tries `import <package>` and, on any
failure, silently keeps its torch reference function. The choice lives in the wrapper's closure
(`implementation`, `is_new_implementation`), which is what we read here. Note that the import is
attempted whether or not a GPU exists, so a CPU box with flash-linear-attention installed binds
Triton kernels and its forward fails.

Rules kept by this module:
* importing it imports no transformers modeling module and no kernel package;
* on a box without CUDA it never imports a modeling module that is not imported yet (that would
  import fla / mamba_ssm / causal_conv1d when installed) -- it reads package presence from
  `importlib.util.find_spec`, which imports nothing.

The study's three architectures have their sites listed (`SITES`); any other model type's sites
are found in its modeling module's *source* (every function transformers decorates with
`use_kernel_func_from_hub_with_fallback(kernel, package)`, read with `ast`, nothing imported), so
the guard covers Jamba, Zamba2, Nemotron-H, Granite-hybrid, LFM2, Qwen3-Next and whatever else
transformers ships; a model type whose module has no such function is reported `unchecked`.
"""
from __future__ import annotations

import ast
import contextlib
import functools
import importlib
import importlib.metadata
import importlib.util
import sys
from dataclasses import asdict, dataclass

QWEN = "transformers.models.qwen3_5.modeling_qwen3_5"
FALCON = "transformers.models.falcon_h1.modeling_falcon_h1"
BAMBA = "transformers.models.bamba.modeling_bamba"  # the factorial's sequential Mamba-2 organism
DISTRIBUTION = {"fla": "flash-linear-attention", "mamba_ssm": "mamba-ssm", "causal_conv1d": "causal-conv1d"}
IMPLEMENTATIONS = ("fused", "torch-fallback", "unavailable", "unchecked")
DECORATOR = "use_kernel_func_from_hub_with_fallback"
DECODE_KERNELS = ("causal_conv1d_update", "selective_state_update", "fused_recurrent_gated_delta_rule")
COMPONENT_OF_PACKAGE = {"fla": "linear_attention", "mamba_ssm": "mamba", "causal_conv1d": "conv1d"}


@dataclass(frozen=True)
class KernelSite:
    architecture: str  # qwen3_5 | falcon_h1
    component: str
    module: str  # transformers modeling module
    attribute: str  # the wrapped function's name in that module
    kernel: str  # the package's kernel name
    package: str  # import name
    phase: str  # train (training + prefill) | decode


SITES: tuple[KernelSite, ...] = (
    KernelSite("qwen3_5", "gated_deltanet", QWEN, "torch_chunk_gated_delta_rule", "chunk_gated_delta_rule", "fla", "train"),
    KernelSite("qwen3_5", "gated_deltanet", QWEN, "torch_recurrent_gated_delta_rule", "fused_recurrent_gated_delta_rule", "fla", "decode"),
    KernelSite("qwen3_5", "gated_deltanet.conv1d", QWEN, "causal_conv1d_fn", "causal_conv1d_fn", "causal_conv1d", "train"),
    KernelSite("qwen3_5", "gated_deltanet.conv1d", QWEN, "causal_conv1d_update", "causal_conv1d_update", "causal_conv1d", "decode"),
    KernelSite("falcon_h1", "mamba2", FALCON, "mamba2_split_conv1d_scan_combined", "mamba_split_conv1d_scan_combined", "mamba_ssm", "train"),
    KernelSite("falcon_h1", "mamba2", FALCON, "mamba2_chunk_scan", "mamba_chunk_scan_combined", "mamba_ssm", "train"),
    KernelSite("falcon_h1", "mamba2", FALCON, "mamba2_selective_state_update", "selective_state_update", "mamba_ssm", "decode"),
    KernelSite("falcon_h1", "mamba2.conv1d", FALCON, "causal_conv1d_fn", "causal_conv1d_fn", "causal_conv1d", "train"),
    KernelSite("falcon_h1", "mamba2.conv1d", FALCON, "causal_conv1d_update", "causal_conv1d_update", "causal_conv1d", "decode"),
    KernelSite("bamba", "mamba2", BAMBA, "mamba2_split_conv1d_scan_combined", "mamba_split_conv1d_scan_combined", "mamba_ssm", "train"),
    KernelSite("bamba", "mamba2", BAMBA, "mamba2_chunk_scan", "mamba_chunk_scan_combined", "mamba_ssm", "train"),
    KernelSite("bamba", "mamba2", BAMBA, "mamba2_selective_state_update", "selective_state_update", "mamba_ssm", "decode"),
    KernelSite("bamba", "mamba2.conv1d", BAMBA, "causal_conv1d_fn", "causal_conv1d_fn", "causal_conv1d", "train"),
    KernelSite("bamba", "mamba2.conv1d", BAMBA, "causal_conv1d_update", "causal_conv1d_update", "causal_conv1d", "decode"),
)
# model type -> the architecture whose kernel sites it runs (the parallel Gated DeltaNet organism runs
# Qwen3.5's Gated DeltaNet code: `loraplace.models.parallel_gdn`)
_MODEL_TYPES = {"qwen3_5": "qwen3_5", "qwen3_5_text": "qwen3_5", "falcon_h1": "falcon_h1", "bamba": "bamba",
                "falcon_h1_gdn": "qwen3_5"}


@dataclass(frozen=True)
class KernelBinding:
    architecture: str
    component: str
    kernel: str  # e.g. chunk_gated_delta_rule
    implementation: str  # fused | torch-fallback | unavailable
    bound: str  # module.function that runs (or would run)
    reason: str
    phase: str = "train"
    package: str = ""


class SlowPathError(RuntimeError):
    """A GPU run would silently use torch reference code instead of fused kernels."""


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def package_version(package: str) -> str | None:
    """Installed version of a kernel package, or None; imports nothing."""
    if importlib.util.find_spec(package) is None:
        return None
    try:
        return importlib.metadata.version(DISTRIBUTION.get(package, package))
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _closure(func) -> dict:
    """The closure of transformers' fallback wrapper (follows `__wrapped__` through other decorators)."""
    seen = 0
    while func is not None and seen < 8:
        code = getattr(func, "__code__", None)
        if code is not None and "implementation" in code.co_freevars:
            return {n: c.cell_contents for n, c in zip(code.co_freevars, func.__closure__)}
        func, seen = getattr(func, "__wrapped__", None), seen + 1
    return {}


def _qualname(f) -> str:
    return f"{getattr(f, '__module__', '?')}.{getattr(f, '__qualname__', repr(f))}"


def _import_error(package: str, kernel: str) -> str:
    """Why `import package` fails (only called where importing it is safe: a CUDA box)."""
    try:
        importlib.import_module(package)
    except Exception as e:  # noqa: BLE001 -- the reason is the message
        return f"{type(e).__name__}: {e}"
    return f"{package} imports, but transformers found no {kernel} in it"


def _bind(site: KernelSite, cuda: bool) -> KernelBinding:
    dist, version = DISTRIBUTION.get(site.package, site.package), package_version(site.package)

    def out(impl: str, bound: str, reason: str) -> KernelBinding:
        return KernelBinding(site.architecture, site.component, site.kernel, impl, bound, reason, site.phase,
                             site.package)

    module = sys.modules.get(site.module)
    if module is None and not cuda:  # never import the modeling module on CPU: it would import the package
        bound = f"{site.module}.{site.attribute}"
        if version is None:
            return out("torch-fallback", bound, f"package not installed ({dist}); no CUDA device")
        return out("unavailable", f"{site.package}.{site.kernel}",
                   f"{dist} {version} is installed but there is no CUDA device: transformers binds it on "
                   f"import and the CPU forward fails; uninstall it on CPU boxes")
    if module is None:
        module = importlib.import_module(site.module)
    func = getattr(module, site.attribute, None)
    cells = _closure(func)
    if func is None or not cells:
        return out("unavailable", f"{site.module}.{site.attribute}",
                   f"this transformers has no fallback-wrapped {site.attribute}; dispatch unknown")
    impl, is_new = cells["implementation"], bool(cells.get("is_new_implementation"))
    if is_new:
        if cuda:
            return out("fused", _qualname(impl), f"{dist} {version} bound by transformers")
        return out("unavailable", _qualname(impl), f"{dist} {version} bound but there is no CUDA device")
    if version is None:
        reason = f"package not installed ({dist})" + ("" if cuda else "; no CUDA device")
    elif not cuda:
        reason = f"no CUDA device ({dist} {version} present but not bound)"
    else:
        reason = f"{dist} {version} installed but not bound: {_import_error(site.package, site.kernel)}"
    return out("torch-fallback", _qualname(impl), reason)


@functools.lru_cache(maxsize=None)
def discover_sites(model_type: str) -> tuple[KernelSite, ...]:
    """The kernel sites of a model type's modeling module, read from its source (imports nothing):
    one per function decorated `use_kernel_func_from_hub_with_fallback("kernel", "package")`."""
    module = f"transformers.models.{model_type}.modeling_{model_type}"
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        spec = None
    if spec is None or not spec.origin:
        return ()
    tree = ast.parse(open(spec.origin, encoding="utf-8").read())
    sites = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            name = getattr(getattr(deco, "func", None), "id", None)
            args = [a.value for a in getattr(deco, "args", ()) if isinstance(a, ast.Constant)]
            if name == DECORATOR and len(args) == 2:
                kernel, package = args
                sites.append(KernelSite(model_type, COMPONENT_OF_PACKAGE.get(package, package), module, node.name,
                                        kernel, package, "decode" if kernel in DECODE_KERNELS else "train"))
    return tuple(sites)


def model_types(model) -> set[str]:
    """The model type of a model's config (and of its text config, for a multimodal wrapper)."""
    config = getattr(model, "config", None)
    kinds = {getattr(config, "model_type", None), getattr(getattr(config, "text_config", None), "model_type", None)}
    return {k for k in kinds if k}


def _sites(types: set[str] | None) -> tuple[list[KernelSite], list[str]]:
    """The sites to check for these model types (None: the study's three architectures), and the
    model types with no site found."""
    if types is None:
        return list(SITES), []
    archs = {_MODEL_TYPES[t] for t in types if t in _MODEL_TYPES}
    sites = [s for s in SITES if s.architecture in archs]
    unknown = sorted(t for t in types if t not in _MODEL_TYPES)
    sites += [s for t in unknown for s in discover_sites(t)]
    return sites, [t for t in unknown if not discover_sites(t)]


def kernel_dispatch(model_or_none=None, types: set[str] | None = None) -> list[KernelBinding]:
    """One binding per kernel site of the study's architectures, or of the given model's (or model
    types') architecture; a model type whose kernels cannot be found is one `unchecked` binding."""
    if model_or_none is not None:
        types = (types or set()) | model_types(model_or_none)
    cuda = _cuda()
    sites, unchecked = _sites(types)
    return [_bind(s, cuda) for s in sites] + [
        KernelBinding(t, "recurrent", "-", "unchecked", f"transformers.models.{t}",
                      f"no fallback-wrapped kernel function found in transformers' {t} modeling code: "
                      "which kernels it runs could not be checked") for t in unchecked]


def check_fast_path(bindings, *, allow_slow_path: bool, on_gpu: bool,
                    phases: tuple[str, ...] = ("train", "decode")) -> list[str]:
    """On a GPU run, refuse torch-fallback / unavailable kernels (or, with allow_slow_path, return
    them as warnings). Off the GPU, slow paths are expected and nothing is reported."""
    if not on_gpu:
        return []
    unchecked = [f"kernels not checked: {b.architecture} ({b.reason})" for b in bindings
                 if b.implementation == "unchecked"]
    slow = [b for b in bindings if b.phase in phases and b.implementation not in ("fused", "unchecked")]
    lines = [f"{b.architecture}.{b.component}: {b.kernel} -> {b.implementation} ({b.bound}; {b.reason})"
             for b in slow]
    if lines and not allow_slow_path:
        pkgs = sorted({DISTRIBUTION.get(b.package, b.package) for b in slow})
        raise SlowPathError("GPU run without fused kernels (the torch reference path is much slower and "
                            "changes timings):\n  " + "\n  ".join(lines)
                            + f"\nInstall {', '.join(pkgs)} or pass allow_slow_path=True.")
    return [f"slow path: {line}" for line in lines] + unchecked


def lora_bypass_warnings(model) -> list[str]:
    """Falcon-H1's fused training path (mamba_split_conv1d_scan_combined) passes `out_proj.weight`
    straight to the kernel: a LoRA adapter on a Mamba mixer's out_proj then gets no gradient."""
    bound = {b.kernel: b.implementation for b in kernel_dispatch(model)}
    if bound.get("mamba_split_conv1d_scan_combined") != "fused":
        return []
    names = [n for n, m in model.named_modules() if n.endswith("mamba.out_proj") and hasattr(m, "lora_A")]
    return [f"{n}: LoRA bypassed by the fused Mamba-2 training kernel" for n in names]


@contextlib.contextmanager
def reference_path(*architectures: str):
    """Temporarily route the given architectures' (default: both) kernel sites to transformers'
    torch reference functions, e.g. to time fused vs reference in one process. Imports the
    modeling modules (only do this where importing the kernel packages is safe)."""
    archs = set(architectures or {s.architecture for s in SITES})
    saved = []
    try:
        for s in SITES:
            if s.architecture in archs:
                module = importlib.import_module(s.module)
                func = getattr(module, s.attribute)
                torch_fn = _closure(func).get("torch_function")
                if torch_fn is not None:
                    saved.append((module, s.attribute, func))
                    setattr(module, s.attribute, torch_fn)
        yield
    finally:
        for module, attr, func in reversed(saved):
            setattr(module, attr, func)


def dispatch_summary(model_or_none=None) -> dict:
    """Kernel provenance for a report: device, versions, one row per kernel, fast-path verdict."""
    import torch
    import transformers

    cuda = _cuda()
    bindings = kernel_dispatch(model_or_none)
    return {
        "cuda": cuda,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "transformers": transformers.__version__,
        "packages": {DISTRIBUTION[p]: package_version(p) for p in DISTRIBUTION},
        "fast_path": all(b.implementation == "fused" for b in bindings),
        "kernels": [asdict(b) for b in bindings],
    }
