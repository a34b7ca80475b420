"""The tiny evidence track: the study's design re-run on CPU model organisms, cached.

    evidence = build_tiny("smoke", cache=Cache(root))

For each organism -- the study's pair (sequential `tiny_qwen3_5`, parallel `tiny_falcon_h1`) and
the two cells completing the mixer × topology 2×2 (`tiny_bamba`, `tiny_falcon_h1_gdn`), parameters
matched within 5 % -- pretrain on the synthetic mixture (cached), evaluate the base model, then
for every run of `tiny_design.runs_of` (condition x fine-tuning domain x seed): LoRA-fine-tune
(cached adapter) and evaluate (cached records, JSONL). Every cache spec holds what determines its
output (organism, base-checkpoint sha256, condition, domain, hyper-parameters, seed, eval sizes,
torch threads); the cache adds its code salt and library versions. Profiles differ in sizes only
(and `controls`: whether the budget controls run), never otherwise in the design.

Every entry is created with torch on one thread, so its bytes do not depend on the machine's
core count; a cold build spreads the missing entries over worker processes instead
(`loraplace.tracks.tiny.pool`), and the evidence is always assembled from the cache. The
orchestration -- try the cache, fill it in parallel, assemble -- is `tiny_build.build_tiny`, so
that this module (the entries) and the pool (which creates them) do not import each other.
"""
from __future__ import annotations

import contextlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from loraplace.evidence.records import BASE, Evidence, read_jsonl, sha256_file, write_jsonl
from loraplace.models import organisms as org
from loraplace.progress import events as _progress
from loraplace.tracks.tiny import evaluate as tiny_eval
from loraplace.tracks.tiny import shipped
from loraplace.tracks.tiny.design import (  # noqa: F401  (the profiles and runs, re-exported)
    PROFILES,
    ROLE_OF,
    Profile,
    is_study_organism,
    item_counts,
    items_of,
    profile,
    runs_of,
    specs,
)
from loraplace.train import lora
from loraplace.train.tokenizer import build_tokenizer

# Bump when the synthetic world / training / evaluation semantics change (part of every cache spec).
WORLD_VERSION = "tiny-world-2"  # 2: graded GSM8K and HumanEval analogues (see synthetic.py)
TRAIN_VERSION = "tiny-train-3"  # 2: fused AdamW, foreach clipping, MaskDropout; 3: single-threaded
EVAL_VERSION = "tiny-eval-4"  # 2: single-threaded; 3: choices scored behind one pass over their prompt and
# the Gated DeltaNet run in its recurrent form (tracks/tiny/fastpath.py); 4: the Mamba-2 mixers'
# functions written for the evaluation's shapes (tracks/tiny/mamba2.py). 3 and 4: the same sums in
# another floating-point order, so every `tiny-records` entry is re-made (bases and adapters keep their keys)
THREADS = 1  # torch threads while any entry is created (part of every spec; see `single_threaded`)


class Timer:
    def __init__(self):
        self.spent: dict[str, float] = {}

    def add(self, key: str, t0: float) -> None:
        self.spent[key] = self.spent.get(key, 0.0) + time.perf_counter() - t0


class Missing(LookupError):
    """A cache entry is absent and the caller asked not to create it (the parallel-fill probe)."""


@contextlib.contextmanager
def single_threaded():
    """Torch pinned to one thread while an entry is created: the bits of every trained weight and
    evaluated log-likelihood then do not depend on the machine's core count. Parallelism comes
    from worker processes instead (`loraplace.tracks.tiny.pool`)."""
    was = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(was)


def _get(cache, kind: str, spec: dict, create, allow_create: bool) -> Path:
    def guarded(d: Path) -> None:
        if not allow_create:
            raise Missing(kind)
        with single_threaded():
            create(d)

    return cache.get_or_create(kind, spec, guarded)


def base_spec(spec: org.OrganismSpec, p: Profile) -> dict:
    """The cache spec of an organism's pretrained base (`tiny-base`). The factorial's added cells
    also hold their config overrides, so changing one makes a new entry (the study pair's specs
    stay as their existing entries were keyed: tests/golden/tiny_cache_specs.json)."""
    out = {"organism": spec.to_dict(), "world": WORLD_VERSION, "train": TRAIN_VERSION, "source": "pretrain",
           "seed": 0, "steps": p.pretrain_steps, "batch": p.pretrain_batch, "lr": p.pretrain_lr,
           "seq_len": p.pretrain_seq_len, "threads": THREADS}
    if not is_study_organism(spec):
        out["overrides"] = spec.overrides()
    return out


def cached_base(cache, spec: org.OrganismSpec, p: Profile, progress: bool = False, allow_create: bool = True) -> Path:
    """The directory of the organism's pretrained base checkpoint under profile `p` (pretrained
    and saved on a cache miss -- or installed from the package's shipped bases when they were
    made under this very key, `tracks.tiny.shipped`; every profile with the same pretraining
    shares the entry)."""
    b_spec = base_spec(spec, p)

    def create(d: Path) -> None:
        key = cache.key("tiny-base", b_spec)
        if shipped.lookup(key) is not None:  # the config and tokenizer files from the code, the weights shipped
            lora.save_base(org.build(spec, 0), build_tokenizer(), spec, d)
            shipped.install(key, d)
            return
        model, tok = lora.pretrain(spec, "pretrain", p.pretrain_steps, 0, batch=p.pretrain_batch,
                                   seq_len=p.pretrain_seq_len, lr=p.pretrain_lr, progress=progress)
        lora.save_base(model, tok, spec, d)

    return _get(cache, "tiny-base", b_spec, create, allow_create)


@dataclass
class Base:
    """A loaded base organism with its base-model records."""

    topology: str
    spec: org.OrganismSpec
    model: torch.nn.Module
    tokenizer: object
    sha256: str
    path: Path
    records: list
    records_path: Path


def ensure_base(cache, p: Profile, organism: str, *, timer: Timer | None = None, progress: bool = False,
                allow_create: bool = True) -> Base:
    """Pretrain (or load) an organism's base checkpoint (by key, or a topology for the study's
    organism of it) and evaluate (or load) the base model."""
    timer = timer or Timer()
    (spec,) = specs(p, (organism,)).values()
    topology = spec.topology
    t0 = time.perf_counter()
    base_dir = cached_base(cache, spec, p, progress, allow_create)
    model, tok = lora.load_base(base_dir)
    sha = sha256_file(base_dir / "model.safetensors")
    timer.add("pretrain", t0)
    run = tiny_eval.Run(spec.key, topology, BASE, BASE, 0)
    recs, path = _evaluate_cached(cache, p, model, tok, run, sha, None, timer, allow_create)
    return Base(topology, spec, model, tok, sha, base_dir, recs, path)


def adapter_spec(p: Profile, organism_key: str, base_sha: str, condition: str, domain: str, seed: int) -> dict:
    """The cache spec of one fine-tuning run's adapter (`tiny-adapter`)."""
    return {"organism": organism_key, "base_sha256": base_sha, "condition": condition, "domain": domain,
            "seed": seed, "steps": p.finetune_steps, "lr": p.finetune_lr, "rank": p.rank,
            "batch": p.finetune_batch, "seq_len": p.seq_len, "world": WORLD_VERSION, "train": TRAIN_VERSION,
            "threads": THREADS}


def ensure_adapter(cache, p: Profile, base: Base, condition: str, domain: str, seed: int, *,
                   timer: Timer | None = None, allow_create: bool = True) -> Path:
    """LoRA-fine-tune (or find) one adapter of `base` -> its entry directory (needs only the base
    checkpoint: `base.records` may be empty)."""
    timer = timer or Timer()
    t0 = time.perf_counter()
    ft = adapter_spec(p, base.spec.key, base.sha256, condition, domain, seed)

    def create_adapter(d: Path) -> None:
        losses: list[float] = []
        state = lora.finetune(base.model, condition, domain, seed=seed, steps=p.finetune_steps, lr=p.finetune_lr,
                              rank=p.rank, batch=p.finetune_batch, seq_len=p.seq_len, tokenizer=base.tokenizer,
                              losses=losses)
        lora.save_adapter(state, base.model, condition, p.rank, d, losses, seed=seed)

    adapter_dir = _get(cache, "tiny-adapter", ft, create_adapter, allow_create)
    timer.add("finetune", t0)
    return adapter_dir


def ensure_run(cache, p: Profile, base: Base, condition: str, domain: str, seed: int, *,
               timer: Timer | None = None, allow_create: bool = True) -> tuple[list, Path]:
    """LoRA-fine-tune (or load) one adapter of `base` and evaluate (or load) it -> (records, path)."""
    timer = timer or Timer()
    adapter_dir = ensure_adapter(cache, p, base, condition, domain, seed, timer=timer, allow_create=allow_create)
    adapter_sha = sha256_file(adapter_dir / "adapter.safetensors")
    run = tiny_eval.Run(base.spec.key, base.topology, condition, domain, seed)
    return _evaluate_cached(cache, p, base.model, base.tokenizer, run, base.sha256,
                            (adapter_dir, condition, adapter_sha, seed), timer, allow_create)


def assemble(p: Profile, cache, *, progress: bool, allow_create: bool, t_start: float, workers: int,
             filled: dict | None = None) -> Evidence:
    """The track's Evidence from the cache (creating what is missing in this process when
    `allow_create`, else raising `Missing`); `filled`: the phase seconds of a parallel fill."""
    timer = Timer()
    every = specs(p)
    records, inputs, bases = [], [], {}
    bar = None
    if progress:
        bar = _progress.phase(f"tiny[{p.name}] bases + runs", sum(1 + len(runs_of(p, s)) for s in every.values()),
                              unit="run")
    for key, spec in every.items():
        base = ensure_base(cache, p, key, timer=timer, progress=progress, allow_create=allow_create)
        bases[base.spec.key] = {"path": str(base.path), "sha256": base.sha256}
        records += base.records
        inputs.append({"path": str(base.records_path), "sha256": sha256_file(base.records_path)})
        if bar:
            bar.advance(current=f"base {base.spec.key}")
        for cond, domain, seed in runs_of(p, spec):
            recs, path = ensure_run(cache, p, base, cond, domain, seed, timer=timer, allow_create=allow_create)
            records += recs
            inputs.append({"path": str(path), "sha256": sha256_file(path)})
            if bar:
                bar.advance(current=f"{base.spec.key} {cond}/{domain}/s{seed}")
    if bar:
        bar.close()
    # Phase timings: with a parallel fill, the summed seconds its workers spent (CPU-parallel, so
    # they can exceed the wall time); otherwise this process's own. "total" is always wall time.
    spent = dict(filled) if filled else timer.spent
    spent["total"] = time.perf_counter() - t_start
    return Evidence(
        "tiny", records, inputs=inputs,
        source={"profile": asdict(p), "organisms": {s.key: s.to_dict() for s in every.values()},
                "param_counts": org.param_counts(p.hidden_size), "bases": bases, "world": WORLD_VERSION,
                "train": TRAIN_VERSION, "eval": EVAL_VERSION,
                "timings_s": {k: round(v, 2) for k, v in spent.items()},
                "threads": THREADS, "filled_by_workers": workers if filled else 0},
        models={topo: spec.key for topo, spec in org.organisms(p.hidden_size).items()},
        roles={key: _roles(p, spec) for key, spec in every.items()},
        cells={key: {"topology": spec.topology, "mixer": spec.mixer} for key, spec in every.items()},
        condition_sets={key: "harmonized" for key in every},
    )


def _roles(p: Profile, spec: org.OrganismSpec) -> dict[str, str]:
    """{role: condition} of an organism: the harmonized roles, and the controls where they run."""
    from loraplace.models.controls import CONTROL_ROLES

    roles = {role: cond for cond, role in ROLE_OF.items()}
    if p.controls and is_study_organism(spec):
        roles.update(CONTROL_ROLES)
    return roles


def records_spec(p: Profile, run: tiny_eval.Run, base_sha: str, adapter_sha: str | None) -> dict:
    """The cache spec of one evaluation's records (`tiny-records`; adapter_sha None: the base model)."""
    return {"run": asdict(run), "base_sha256": base_sha, "adapter_sha256": adapter_sha,
            "items": items_of(p, run.condition, run.domain), "max_new_tokens": p.max_new_tokens, "code_tokens": p.code_tokens,
            "rank": p.rank, "world": WORLD_VERSION, "eval": EVAL_VERSION, "threads": THREADS}


def _evaluate_cached(cache, p: Profile, model, tok, run: tiny_eval.Run, base_sha: str, adapter, timer,
                     allow_create: bool = True):
    spec = records_spec(p, run, base_sha, adapter[2] if adapter else None)

    def create(d: Path) -> None:
        t0 = time.perf_counter()
        evaluated = model
        if adapter is not None:
            state, _ = lora.load_adapter(adapter[0])
            evaluated = lora.adapted(model, adapter[1], state, p.rank, seed=adapter[3])
        recs = tiny_eval.evaluate(evaluated, tok, run, items_of(p, run.condition, run.domain), mc_batch=p.mc_batch, gen_batch=p.gen_batch,
                                  max_new_tokens=p.max_new_tokens, code_tokens=p.code_tokens)
        write_jsonl(recs, d / "records.jsonl")
        (d / "summary.json").write_text(json.dumps(
            {s: tiny_eval.accuracy(recs, s) for s in ("as-published", "corrected")}, sort_keys=True))
        timer.add("eval_inner", t0)

    t0 = time.perf_counter()
    entry = _get(cache, "tiny-records", spec, create, allow_create)
    timer.add("eval", t0)
    path = entry / "records.jsonl"
    return list(read_jsonl(path)), path
