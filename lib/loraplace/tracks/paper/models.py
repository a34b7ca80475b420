"""The paper track's models: which checkpoint plays each topology, its conditions, its identity.

    refs = resolve_models(["sequential=Qwen/Qwen3.5-0.8B-Base", "parallel=/models/falcon"])
    info = inspect_model(refs["sequential"])   # config, taxonomy-derived conditions, fingerprint
    model, tokenizer = load_model(refs["sequential"], device="cuda")

A model is a hub id (optionally ``ID@REVISION``) or a local directory in the Hugging Face layout
(works offline). Target modules come from the class-based taxonomy (`loraplace.models`): the
study's own condition set where the model type has one (Qwen3.5, Falcon-H1: the published
names, so a run pairs with the published track), else the harmonized set, so any hybrid
checkpoint can be pointed at the track. The topology the user names is checked against the
taxonomy's. The identity that enters every cache key is the resolved hub commit, or for a
local directory the sha256 of its weight, config and tokenizer files.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from loraplace.evidence.records import sha256_file, sha256_text
from loraplace.roles import STUDY_ROLE
from loraplace.vocab import TOPOLOGIES

log = logging.getLogger(__name__)

HUB_IDS = {"sequential": "Qwen/Qwen3.5-0.8B-Base", "parallel": "tiiuae/Falcon-H1-0.5B-Base"}
_STUDY_KEY = {"Qwen/Qwen3.5-0.8B-Base": "qwen3_5_0_8b_base", "tiiuae/Falcon-H1-0.5B-Base": "falcon_h1_0_5b_base"}

_IDENTITY_FILES = re.compile(r"(\.safetensors|\.bin|config\.json|tokenizer.*\.json|vocab\.json|merges\.txt|"
                             r"\.model|special_tokens_map\.json)$")


class PaperModelError(ValueError):
    """A model cannot be resolved or loaded (the message names it and how to provide it)."""


@dataclass(frozen=True)
class ModelRef:
    topology: str
    source: str  # hub id or local directory
    revision: str | None
    key: str  # the model key its records carry

    @property
    def local(self) -> bool:
        return Path(self.source).is_dir()


def _key(source: str) -> str:
    if source in _STUDY_KEY:
        return _STUDY_KEY[source]
    return re.sub(r"[^0-9A-Za-z]+", "_", Path(source.rstrip("/")).name or source).strip("_").lower() or "model"


def resolve_models(specs: list[str] | tuple[str, ...] | None) -> dict[str, ModelRef]:
    """{topology: ModelRef} from ``TOPOLOGY=ID_OR_DIR[@REVISION]`` strings; the study's models by default."""
    chosen = dict(HUB_IDS)
    for spec in specs or ():
        topology, sep, source = spec.partition("=")
        if not sep or not source:
            raise PaperModelError(f"--paper-model {spec!r}: expected TOPOLOGY=ID_OR_DIR (e.g. sequential=/models/qwen)")
        if topology not in TOPOLOGIES:
            raise PaperModelError(f"--paper-model {spec!r}: unknown topology {topology!r}. Available: "
                                  f"{', '.join(TOPOLOGIES)}")
        chosen[topology] = source
    refs = {}
    for topology, source in chosen.items():
        revision = None
        if not Path(source).is_dir() and "@" in source:
            source, _, revision = source.partition("@")
        refs[topology] = ModelRef(topology, source, revision, _key(source))
    if refs["sequential"].key == refs["parallel"].key:
        raise PaperModelError(f"the sequential and parallel models both have the key {refs['sequential'].key!r}; "
                              "give them distinct directory names")
    return refs


def _how_to_provide(ref: ModelRef) -> str:
    return (f"pass --paper-model {ref.topology}=DIR with a local copy in the Hugging Face layout "
            f"(config.json, *.safetensors, tokenizer files), or allow the hub (unset HF_HUB_OFFLINE) "
            f"to download {ref.source} once")


def config_path(ref: ModelRef) -> str:
    """The model's config.json on this machine: in its directory, or from the hub (cache first)."""
    if ref.local:
        return str(Path(ref.source) / "config.json")
    from huggingface_hub import hf_hub_download

    try:
        return hf_hub_download(ref.source, "config.json", revision=ref.revision)
    except Exception as exc:  # offline, unknown, gated
        raise PaperModelError(f"{ref.topology} model {ref.source!r}: its config.json is not available: "
                              f"{type(exc).__name__}. To provide it: {_how_to_provide(ref)}") from None


def load_config(ref: ModelRef):
    from transformers import AutoConfig

    if not ref.local and (ref.source.startswith(("/", ".", "~")) or ref.source.count("/") > 1):
        raise PaperModelError(f"{ref.topology} model {ref.source!r}: no such directory. To provide it: "
                              f"{_how_to_provide(ref)}")
    try:
        return AutoConfig.from_pretrained(ref.source, revision=ref.revision)
    except Exception as exc:  # OSError, HfHubHTTPError, LocalEntryNotFoundError, ValueError …
        raise PaperModelError(f"{ref.topology} model {ref.source!r}{'@' + ref.revision if ref.revision else ''} "
                              f"is not available: {type(exc).__name__}: {str(exc).splitlines()[0]}. "
                              f"To provide it: {_how_to_provide(ref)}") from None


@dataclass(frozen=True)
class ModelInfo:
    ref: ModelRef
    model_type: str
    model_class: str
    condition_set: str  # "study" | "harmonized"
    conditions: dict  # condition name -> loraplace.models.placement.Condition (at the profile's rank)
    roles: dict  # study role -> condition name
    n_params: int
    fingerprint: str
    commit: str | None
    mixer: str = ""  # the factorial's recurrent mixer (loraplace.study.mixer_of); not part of any cache key

    def to_source(self) -> dict:
        return {"source": self.ref.source, "revision": self.ref.revision, "commit": self.commit,
                "local": self.ref.local, "fingerprint": self.fingerprint, "model_type": self.model_type,
                "model_class": self.model_class, "condition_set": self.condition_set, "n_params": self.n_params}


def _fingerprint(ref: ModelRef, config) -> tuple[str, str | None]:
    commit = getattr(config, "_commit_hash", None)
    if ref.local:
        files = sorted(p for p in Path(ref.source).iterdir() if p.is_file() and _IDENTITY_FILES.search(p.name))
        if not any(p.suffix in (".safetensors", ".bin") for p in files):
            raise PaperModelError(f"{ref.topology} model directory {ref.source} has no weights (*.safetensors). "
                                  f"To provide it: {_how_to_provide(ref)}")
        return sha256_text("".join(f"{p.name} {sha256_file(p)}\n" for p in files)), None
    return sha256_text(f"{ref.source}@{commit or ref.revision or 'unknown'}"), commit


def inspect_model(ref: ModelRef, rank: int = 16, condition_set: str | None = None) -> ModelInfo:
    """Config, taxonomy-derived placement conditions (on the meta device: no weights) and identity.
    `condition_set`: study | harmonized; None: the study's own set for its two architectures,
    harmonized for any other (`placement.default_condition_set`)."""
    from loraplace.models.organisms import param_count
    from loraplace.models.placement import build_conditions, default_condition_set
    from loraplace.models.taxonomy import classify_model
    from loraplace.models.zoo import build_meta_model
    from loraplace.study import mixer_of

    config = load_config(ref)
    meta = build_meta_model(config)
    taxonomy = classify_model(meta)
    if taxonomy.topology != ref.topology:
        raise PaperModelError(f"{ref.source} was given as the {ref.topology} model, but its taxonomy says "
                              f"{taxonomy.topology} ({taxonomy.model_class}: {', '.join(taxonomy.layer_kinds[:4])}…)")
    condition_set = condition_set or default_condition_set(taxonomy.model_type)
    try:
        conditions = build_conditions(taxonomy, condition_set, rank)
    except KeyError as exc:  # --conditions study on a model the study did not run
        raise PaperModelError(f"{ref.topology} model {ref.source}: {exc.args[0]}") from None
    roles = {STUDY_ROLE[c.role]: name for name, c in conditions.items()}
    n_params = param_count(meta)
    fingerprint, commit = _fingerprint(ref, config)
    return ModelInfo(ref, taxonomy.model_type, taxonomy.model_class, condition_set, conditions, roles, n_params,
                     fingerprint, commit, mixer_of(taxonomy.mixer_kinds))


def load_tokenizer(ref: ModelRef):
    """The model's tokenizer (pad = EOS where it has no pad token, as the study's `load_tokenizer`)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(ref.source, revision=ref.revision)
    except Exception as exc:
        raise PaperModelError(f"{ref.topology} model {ref.source!r}: its tokenizer could not be loaded: "
                              f"{type(exc).__name__}: {str(exc).splitlines()[0]}. To provide it: "
                              f"{_how_to_provide(ref)}") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def weight_problems(model, info: dict) -> list[str]:
    """What did not load as it is: missing, unexpected and shape-mismatched weights, by name (tied
    weights such as a tied `lm_head` count as present; transformers' own ignore patterns apply)."""
    tied = set(getattr(model, "all_tied_weights_keys", None) or ())
    missing = sorted(k for k in info.get("missing_keys") or () if k not in tied)
    unexpected = sorted(info.get("unexpected_keys") or ())
    mismatched = sorted(str(k[0] if isinstance(k, (tuple, list)) else k) for k in info.get("mismatched_keys") or ())
    out = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape-mismatched", mismatched)):
        if keys:
            shown = ", ".join(keys[:12]) + (f" … ({len(keys)} in all)" if len(keys) > 12 else "")
            out.append(f"{label}: {shown}")
    return out


def load_model(ref: ModelRef, device: str = "cpu", *, allow_missing_weights: bool = False):
    """(model, tokenizer) on `device`: bf16 on a GPU that supports it, else float32. A checkpoint
    whose weights do not all load (missing, unexpected or mismatched names: they would be randomly
    initialised or dropped) is refused by name unless `allow_missing_weights`."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if device.startswith("cuda") and torch.cuda.is_bf16_supported() else torch.float32
    tokenizer = load_tokenizer(ref)
    try:
        model, info = AutoModelForCausalLM.from_pretrained(ref.source, revision=ref.revision, dtype=dtype,
                                                           output_loading_info=True)
    except Exception as exc:
        raise PaperModelError(f"{ref.topology} model {ref.source!r} could not be loaded: {type(exc).__name__}: "
                              f"{str(exc).splitlines()[0]}. To provide it: {_how_to_provide(ref)}") from None
    problems = weight_problems(model, info)
    if problems:
        text = f"{ref.topology} model {ref.source!r}: weights do not match the checkpoint — {'; '.join(problems)}"
        if not allow_missing_weights:
            raise PaperModelError(f"{text}. Such weights would be randomly initialised; refusing (pass "
                                  f"--allow-missing-weights to load anyway)")
        log.warning("%s (loaded anyway: --allow-missing-weights)", text)
    return model.to(device).eval(), tokenizer
