"""Component type of every parameter-holding module of a transformers causal LM.

The study's variable is *which component type* gets LoRA. Components are decided by the
class of the owning module (nearest ancestor whose class name matches a rule), never by a
list of module names for particular models:

    attention       *Attention / *SelfAttention / *Attn (softmax attention)
    recurrent       *GatedDeltaNet, *DeltaAttention, *Mamba*Mixer / *MambaLayer / *Mixer with
                    an SSM state (A_log), *LightningAttention, *ShortConv, *RecurrentBlock, ...
    mlp             *MLP / *Mlp / *MoE / *SparseMoeBlock / *Experts / *FeedForward
    embedding/head  nn.Embedding, and the model's output embedding (lm_head)
    other           norms, rotary tables, and anything no rule matches (named in a warning)

A Linear is LoRA-eligible unless a fused kernel of its mixer reads `<child>.weight` directly
(e.g. Mamba-2's `mamba_split_conv1d_scan_combined(..., outproj_weight=self.out_proj.weight)`),
which bypasses the module's forward -- adapters there would be silently ignored, and peft
refuses `out_proj`/`conv1d` on Mamba model types. This is found by reading the mixer's source.
Convolutions and direct parameters (A_log, dt_bias, expert tensors) are reported, not eligible.
"""
from __future__ import annotations

import functools
import inspect
import re
import warnings
from dataclasses import dataclass

from torch import nn

ATTENTION, RECURRENT, MLP, EMBEDDING_HEAD, OTHER = "attention", "recurrent", "mlp", "embedding/head", "other"
COMPONENTS = (ATTENTION, RECURRENT, MLP, EMBEDDING_HEAD, OTHER)
SEQUENTIAL, PARALLEL, PURE_ATTENTION, PURE_RECURRENT = "sequential", "parallel", "pure-attention", "pure-recurrent"

# (pattern on the class name with the model prefix removed, mixer kind); first match wins.
_RECURRENT_RULES: tuple[tuple[str, str], ...] = (
    (r"GatedDeltaNet", "gated-deltanet"),
    (r"Delta(Attention|Net)", "delta-rule"),
    (r"Mamba\d?(Mixer|Layer)$|Mixer$", "mamba"),  # mamba vs mamba2 decided by structure
    (r"LightningAttention", "lightning-attention"),
    (r"ShortConv", "short-conv"),
    (r"RecurrentBlock|Rglru", "rg-lru"),
    (r"Rwkv|RWKV|(Time|Channel)Mix", "rwkv"),
    (r"[xsm]LSTM", "xlstm"),
)
_ATTENTION_RULE = re.compile(r"(Attention|Attn)$|SelfAttention|CrossAttention")
_MLP_RULE = re.compile(r"MLP|Mlp|MoE|Moe|Experts?$|FeedForward|FFN|Ffn")
_NORM_RULE = re.compile(r"Norm|Rotary|Identity|Activation|Dropout")
_OUTPUT_PROJ = re.compile(r"^(o|out|output|dense|c|wo)(_proj)?$|^out_proj$|^o_proj$")
# `self.<child>.weight` consumed as a tensor, not merely inspected for dtype/device/shape.
_WEIGHT_USE = re.compile(r"self\.(\w+)\.weight\b(?!\s*\.\s*(dtype|device|shape|requires_grad|is_cuda|numel)\b)")


@dataclass(frozen=True)
class ModuleInfo:
    """One parameter-holding module (a Linear, a conv, an embedding, or direct parameters)."""

    name: str  # dotted name in the model ("" for the root); direct parameters: "<owner>.<param>"
    kind: str  # "linear" | "conv" | "embedding" | "params" | "norm"
    module_class: str
    owner_class: str | None  # class of the ancestor that decided the component
    component: str
    mixer_kind: str | None
    layer_idx: int | None
    in_features: int | None
    out_features: int | None
    n_params: int
    lora_eligible: bool
    exclude_reason: str | None = None

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    @property
    def is_attention_output(self) -> bool:
        """The attention output projection (o_proj / out_proj / dense / c_proj / wo)."""
        return self.component == ATTENTION and self.kind == "linear" and bool(_OUTPUT_PROJ.match(self.short_name))


@dataclass(frozen=True)
class Taxonomy:
    model_type: str
    model_class: str
    topology: str
    hidden_size: int | None
    layer_kinds: tuple[str, ...]  # per decoder layer, e.g. "attention", "recurrent:mamba2", "attention+recurrent:mamba2"
    modules: tuple[ModuleInfo, ...]
    unclassified: tuple[str, ...]  # parameter-holding modules no rule matched (reported as `other`)

    @property
    def mixer_kinds(self) -> tuple[str, ...]:
        return tuple(sorted({m.mixer_kind for m in self.modules if m.mixer_kind}))

    def linears(self, component: str | None = None, eligible: bool | None = True) -> tuple[ModuleInfo, ...]:
        return tuple(
            m for m in self.modules
            if m.kind == "linear" and (component is None or m.component == component)
            and (eligible is None or m.lora_eligible == eligible)
        )

    @functools.cached_property
    def _by_name(self) -> dict[str, ModuleInfo]:
        return {m.name: m for m in self.modules}

    def get(self, name: str) -> ModuleInfo:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"Unknown module {name!r} in {self.model_class}") from None

    def param_counts(self) -> dict[str, int]:
        """Base-model parameters per component (tied/shared tensors counted once)."""
        counts = {c: 0 for c in COMPONENTS}
        for m in self.modules:
            counts[m.component] += m.n_params
        return counts

    def eligible_counts(self) -> dict[str, int]:
        counts = {c: 0 for c in COMPONENTS}
        for m in self.linears():
            counts[m.component] += m.n_params
        return counts


def _model_prefix(model: nn.Module) -> str:
    name = type(model).__name__
    for suffix in ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration", "Model"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return ""


def _strip(cls_name: str, prefix: str) -> str:
    return cls_name[len(prefix):] if prefix and cls_name.startswith(prefix) and cls_name != prefix else cls_name


def _ssm_kind(module: nn.Module) -> str:
    direct = dict(module.named_parameters(recurse=False))
    if "dt_bias" in direct:
        return "mamba2"
    return "mamba" if ("A_log" in direct or hasattr(module, "x_proj") or "x_proj_weight" in direct) else "mixer"


def classify_class(cls_name: str, module: nn.Module | None = None, prefix: str = "") -> tuple[str, str | None] | None:
    """(component, mixer kind) for a module class, or None when no rule matches."""
    name = _strip(cls_name, prefix)
    for pattern, kind in _RECURRENT_RULES:
        if re.search(pattern, name):
            if kind == "mamba":
                has_state = module is None or any(n in dict(module.named_parameters(recurse=False)) for n in ("A_log", "D"))
                if not has_state and "Mamba" not in name:
                    continue  # a "*Mixer" without an SSM state is not recurrent
                return RECURRENT, (_ssm_kind(module) if module is not None else kind)
            return RECURRENT, kind
    if _ATTENTION_RULE.search(name):
        return ATTENTION, None
    if _MLP_RULE.search(name):
        return MLP, None
    return None


@functools.lru_cache(maxsize=None)
def bypassed_children(cls: type) -> frozenset[str]:
    """Children whose `.weight` the class's own code hands to a kernel (skipping their forward)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is nn.Module or not klass.__module__.startswith(("transformers", "loraplace")):
            continue
        try:
            names.update(m.group(1) for m in _WEIGHT_USE.finditer(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
    return frozenset(names)


_LAYER_IDX = re.compile(r"(?:^|\.)(?:layers|h|blocks)\.(\d+)(?:\.|$)")


def _layer_idx(name: str) -> int | None:
    m = _LAYER_IDX.search(name)
    return None if m is None else int(m.group(1))


def _kind_of(mod: nn.Module) -> str:
    """What a parameter-holding module is: linear, conv, embedding, norm, or bare params."""
    if isinstance(mod, nn.Linear):
        return "linear"
    if isinstance(mod, (nn.Conv1d, nn.Conv2d)):
        return "conv"
    if isinstance(mod, nn.Embedding):
        return "embedding"
    if _NORM_RULE.search(type(mod).__name__):
        return "norm"
    return "params"


def _owner_of(name: str, modules_by_name: dict, model: nn.Module,
              prefix: str) -> tuple[str | None, tuple[str, str | None] | None, nn.Module | None]:
    """(class name, component rule hit, module) of the nearest classified ancestor of `name`."""
    parts = name.split(".")
    for cut in range(len(parts) - 1, -1, -1):
        anc_name = ".".join(parts[:cut])
        anc = modules_by_name.get(anc_name)
        if anc is None or anc is model:
            continue
        hit = classify_class(type(anc).__name__, anc, prefix)
        if hit is not None:
            return type(anc).__name__, hit, anc
    return None, None, None


def _eligibility(name: str, kind: str, owner: nn.Module | None, owner_cls: str | None) -> tuple[bool, str | None]:
    """Whether LoRA may target the module, and why not."""
    if kind == "conv":
        return False, "convolution: not a LoRA target in this study (peft refuses conv1d on Mamba models)"
    if kind == "linear" and owner is not None and name.rsplit(".", 1)[-1] in bypassed_children(type(owner)):
        return False, (f"{owner_cls} hands `{name.rsplit('.', 1)[-1]}.weight` to a fused kernel, bypassing the "
                       "module's forward (an adapter there is silently ignored; peft refuses it on Mamba models)")
    return kind == "linear", None


def classify_model(model: nn.Module, strict: bool = False) -> Taxonomy:
    """Classify every parameter-holding module; warn (or raise if strict) on unclassifiable ones."""
    prefix = _model_prefix(model)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    modules_by_name = dict(model.named_modules())
    seen_params: set[int] = set()
    infos: list[ModuleInfo] = []
    unclassified: list[str] = []
    for name, mod in model.named_modules():
        direct = list(mod.named_parameters(recurse=False))
        if not direct:
            continue
        n_params = sum(int(p.numel()) for _, p in direct if id(p) not in seen_params)  # tied tensors once
        seen_params.update(id(p) for _, p in direct)
        own = classify_class(type(mod).__name__, mod, prefix)
        kind = _kind_of(mod)
        owner_cls, hit, owner = (type(mod).__name__, own, mod) if (own and kind == "params") else \
            _owner_of(name, modules_by_name, model, prefix)
        if mod is head or kind == "embedding":
            component, mixer, owner_cls = EMBEDDING_HEAD, None, None
        elif hit is not None:
            component, mixer = hit
        else:
            component, mixer = OTHER, None
            if kind != "norm":
                unclassified.append(f"{name or '<root>'} ({type(mod).__name__})")
        eligible, reason = _eligibility(name, kind, owner, owner_cls)
        infos.append(ModuleInfo(
            name=name if kind != "params" else f"{name}.<{','.join(n for n, _ in direct)}>",
            kind=kind, module_class=type(mod).__name__, owner_class=owner_cls, component=component,
            mixer_kind=mixer, layer_idx=_layer_idx(name),
            in_features=getattr(mod, "in_features", None), out_features=getattr(mod, "out_features", None),
            n_params=n_params, lora_eligible=eligible, exclude_reason=reason,
        ))
    if unclassified:
        msg = (f"{type(model).__name__}: no component rule matches {len(unclassified)} parameter-holding "
               f"module(s), reported as '{OTHER}': " + ", ".join(unclassified[:20])
               + (" ..." if len(unclassified) > 20 else ""))
        if strict:
            raise ValueError(msg)
        warnings.warn(msg, stacklevel=2)
    layer_kinds, topology = _topology(model, prefix)
    config = getattr(model, "config", None)
    return Taxonomy(
        model_type=str(getattr(config, "model_type", "")), model_class=type(model).__name__,
        topology=topology, hidden_size=getattr(config, "hidden_size", None), layer_kinds=layer_kinds,
        modules=tuple(infos), unclassified=tuple(unclassified),
    )


def _decoder_layers(model: nn.Module) -> list[nn.Module]:
    """Children of the largest ModuleList of the model (the decoder stack)."""
    lists = [m for m in model.modules() if isinstance(m, nn.ModuleList)]
    if not lists:
        return []
    return list(max(lists, key=len))


def _mixers(module: nn.Module, prefix: str) -> list[tuple[str, str, str | None]]:
    """(child path, component, kind) of the attention/recurrent mixers reachable inside `module`,
    not descending into a mixer once found."""
    found = []

    def walk(mod: nn.Module, path: str) -> None:
        for cname, child in mod.named_children():
            hit = classify_class(type(child).__name__, child, prefix)
            if hit is not None and hit[0] in (ATTENTION, RECURRENT):
                found.append((f"{path}{cname}", hit[0], hit[1]))
            else:
                walk(child, f"{path}{cname}.")

    walk(module, "")
    return found


def _topology(model: nn.Module, prefix: str) -> tuple[tuple[str, ...], str]:
    """`parallel` if a block holds an attention and a recurrent mixer as siblings (outputs summed),
    `sequential` if layers alternate mixer kinds, `pure-*` for non-hybrids."""
    kinds, parallel, comps = [], False, set()
    for layer in _decoder_layers(model):
        mixers = _mixers(layer, prefix)
        parents: dict[str, set[str]] = {}
        for path, comp, _ in mixers:
            parents.setdefault(path.rpartition(".")[0], set()).add(comp)
        parallel |= any(len(c) == 2 for c in parents.values())
        comps.update(c for _, c, _ in mixers)
        labels = sorted({comp if kind is None else f"{comp}:{kind}" for _, comp, kind in mixers})
        kinds.append("+".join(labels) if labels else "none")
    if parallel:
        topology = PARALLEL
    elif comps == {ATTENTION, RECURRENT}:
        topology = SEQUENTIAL
    elif comps == {RECURRENT}:
        topology = PURE_RECURRENT
    else:
        topology = PURE_ATTENTION
    return tuple(kinds), topology
