"""Evidence track `paper`: the study re-run on the real models (GPU; CPU for tiny checkpoints), cached.

    evidence = build_paper("study", models=["sequential=DIR", "parallel=DIR"], data_dir=None, cache=Cache())

For each model (the study's two by default; `--paper-model TOPOLOGY=ID_OR_DIR`): evaluate the
base model, then for every placement condition x domain x seed of the profile's plan
(`paper_plan.plan`) LoRA-fine-tune with transformers' `Trainer` (`train/trainer.py`) and
evaluate the in-memory peft model through lm-eval (`lmeval.py`). Two cache entries a run:

  paper-adapter  adapter_model.safetensors + adapter_config.json (peft) + train_info.json; its spec
                 holds the model identity (hub commit or file hashes), the condition's exact
                 modules, the domain, the seed, the recipe and the fingerprint of the training texts
  paper-records  records.jsonl; its spec holds the model identity, the adapter's sha256, the
                 evaluation subsets' fingerprints, the task settings and the lm-eval version

Entries are content-addressed and lock-safe (`train/cache.py`): a session trains only what is
missing, a corrupted entry is re-created with a warning, and under `pytest -n N` each xdist
worker builds what no other worker holds the lock of (rotated start, non-blocking locks), on
its own GPU (`gpu_for_worker`). The evidence is always assembled from the cache.
"""
from __future__ import annotations

import copy
import logging
import os
import time
from pathlib import Path

from loraplace.evidence.records import BASE, Evidence, read_jsonl, sha256_file, sha256_text, write_jsonl
from loraplace.progress import events as _progress
from loraplace.study import BENCHMARKS
from loraplace.tracks.paper import plan as paper_plan
from loraplace.tracks.paper.data import SHOT_POOLS, Dataset, PaperDataError, load_dataset_rows
from loraplace.tracks.paper.estimate import session_estimate
from loraplace.tracks.paper.models import ModelInfo, inspect_model, load_model, load_tokenizer, resolve_models
from loraplace.tracks.paper.protocol import protocol as get_protocol
from loraplace.tracks.paper.provenance import ran

log = logging.getLogger(__name__)
TRAIN_VERSION = "paper-train-2"  # 2: the study's chat-formatted texts and data rules, EOS trained
EVAL_VERSION = "paper-eval-2"  # 2: the protocol in the key


def gpu_for_worker(worker_id: str | None, visible: str | None, count: int) -> str | None:
    """The CUDA_VISIBLE_DEVICES of an xdist worker (``gw3`` -> the 4th of the visible GPUs, round
    robin); None outside xdist or without GPUs (nothing to change)."""
    if not worker_id or not worker_id.startswith("gw") or count <= 0:
        return None
    devices = [d.strip() for d in visible.split(",") if d.strip()] if visible else [str(i) for i in range(count)]
    return devices[int(worker_id[2:]) % len(devices)]


def _study_indices(published_dir) -> dict[str, list[int]]:
    """benchmark -> the union of the study's released evaluation subsets (sorted benchmark indices)."""
    from loraplace.tracks.published.fetch import resolve_published_dir
    from loraplace.tracks.published.loader import load_indices

    root = resolve_published_dir(published_dir)
    try:
        indices = load_indices(root)
    except ValueError as exc:
        raise PaperDataError(f"the study profile evaluates the study's released subsets: {exc}. Run "
                             "`loraplace fetch published` or pass --published-dir") from None
    out: dict[str, set] = {}
    for (bench, _), values in indices.items():
        out.setdefault(bench, set()).update(values)
    return {b: sorted(v) for b, v in out.items()}


def eval_rows(p, data_dir, published_dir=None) -> tuple[dict[str, list[dict]], dict[str, Dataset]]:
    """{benchmark: rows to evaluate} under the profile, and the datasets they come from."""
    subsets = _study_indices(published_dir) if p.items == "study" else {}
    rows, sets = {}, {}
    for bench in BENCHMARKS:
        ds = load_dataset_rows(bench, data_dir, split=p.splits.get(bench))
        sets[bench] = ds
        if p.items == "all":
            chosen = list(ds.rows)
        elif p.items == "study":
            wanted = subsets.get(bench)
            if wanted is None:
                raise PaperDataError(f"no released evaluation subset for {bench}")
            if wanted[-1] >= len(ds.rows):
                raise PaperDataError(f"{ds.origin}: has {len(ds.rows)} rows, but the study's {bench} subset "
                                     f"needs index {wanted[-1]}; provide the whole split")
            chosen = [ds.rows[i] for i in wanted]
        else:
            chosen = list(ds.rows[:paper_plan.eval_items(p)[bench]])
        rows[bench] = chosen
    return rows, sets


class _Models:
    """Loads each base model once, on first need (a warm session loads none)."""

    def __init__(self, infos: dict[str, ModelInfo], device: str, allow_missing_weights: bool = False) -> None:
        self.infos, self.device, self.loaded, self.tokenizers = infos, device, {}, {}
        self.allow_missing_weights = allow_missing_weights

    def get(self, topology: str):
        if topology not in self.loaded:
            log.info("loading the %s model %s on %s", topology, self.infos[topology].ref.source, self.device)
            self.loaded[topology] = load_model(self.infos[topology].ref, self.device,
                                               allow_missing_weights=self.allow_missing_weights)
        return self.loaded[topology]

    def tokenizer(self, topology: str):
        """The model's tokenizer alone (training texts and prompts need no weights)."""
        if topology in self.loaded:
            return self.loaded[topology][1]
        if topology not in self.tokenizers:
            self.tokenizers[topology] = load_tokenizer(self.infos[topology].ref)
        return self.tokenizers[topology]


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class PaperSession:
    """A profile's resolved models, data and plan over one cache: what `build_paper` assembles and
    `loraplace fill` (`loraplace.scale`) turns into one task per planned run.

    Resolving the profile's models and data, planning its runs and computing their cache specs
    loads no model; a model is loaded when a run that needs it is built. `device`: where runs are
    built (default: cuda if available, else cpu); it enters the adapter specs, so a driver without
    a GPU probes the entries that GPU workers make by passing "cuda"."""

    def __init__(self, profile_name: str, *, models=None, data_dir=None, cache=None, published_dir=None,
                 progress: bool = True, device: str | None = None, protocol: str | None = None,
                 allow_missing_weights: bool = False, conditions: str | None = None):
        from loraplace.train.cache import Cache

        self.cache = cache if cache is not None else Cache()
        self.p = p = paper_plan.profile(profile_name)
        self.proto = get_protocol(protocol)
        refs = resolve_models(models)
        self.infos = {topo: inspect_model(ref, p.rank, conditions) for topo, ref in refs.items()}  # topology -> ModelInfo
        self.load_data_and_plan(data_dir, published_dir)
        self.device = device or default_device()
        self.progress = progress
        self.loader = _Models(self.infos, self.device, allow_missing_weights)
        for topology in self.infos:  # a model without a usable tokenizer is named now, before any plan or build
            self.loader.tokenizer(topology)
        self._tasks: dict = {}
        self._texts: dict = {}

    def load_data_and_plan(self, data_dir, published_dir) -> None:
        """The evaluated rows, training sets, few-shot pools, their fingerprint (in every spec)
        and the plan of `self.p` over `self.infos` under `self.proto`."""
        self.rows, self.sets = eval_rows(self.p, data_dir, published_dir)  # benchmark -> rows, Dataset evaluated
        self.train_sets = {d: load_dataset_rows(d, data_dir) for d in ("gsm8k_train", "codealpaca", "ultrachat")}
        # the study protocol's few-shot pools (its GSM8K pool comes from gsm8k_train)
        self.pools = ({b: load_dataset_rows(name, data_dir) for b, name in SHOT_POOLS.items()}
                      if self.proto.evaluation == "notebook" else {})
        self.eval_print = sha256_text("|".join(
            f"{b}:{sha256_text(str([r['_index'] for r in self.rows[b]]))}:{self.sets[b].fingerprint}"
            for b in BENCHMARKS) + self.train_sets["gsm8k_train"].fingerprint
            + "".join(f"|{b}:{ds.fingerprint}" for b, ds in self.pools.items()))
        self.lm_eval_version = _version("lm_eval")  # from the installed metadata: importing lm_eval costs ~1 s
        self.runs = paper_plan.plan(self.p, {t: (i.ref.key, i.roles) for t, i in self.infos.items()},
                                    self.proto.name)  # plan order

    def present(self, run) -> bool:
        """Whether the run's entries are all in the cache (nothing to train or evaluate)."""
        return all(self.status(run).values())

    def tasks(self, topology: str):
        """The lm-eval tasks of the profile under the protocol (built once; per model under the study
        protocol, whose prompts are capped in the model's own tokens)."""
        key = topology if self.proto.evaluation == "notebook" else None
        if key not in self._tasks:
            if self.proto.evaluation == "notebook":
                from loraplace.tracks.paper.study_tasks import build_study_tasks

                self._tasks[key] = build_study_tasks(self.rows, self.pool_rows(), self.loader.tokenizer(topology),
                                                     self.proto, self.p)
            else:
                from loraplace.tracks.paper.lmeval import build_tasks

                self._tasks[key] = build_tasks(self.rows, self.p, self.proto,
                                               fewshot_rows=list(self.train_sets["gsm8k_train"].rows))
        return self._tasks[key]

    def pool_rows(self) -> dict[str, list[dict]]:
        """benchmark -> its few-shot pool under the study protocol (GSM8K: the 128 held-out shots)."""
        from loraplace.tracks.paper.prompts import gsm8k_pool

        out = {b: list(ds.rows) for b, ds in self.pools.items()}
        out["gsm8k"] = gsm8k_pool(list(self.train_sets["gsm8k_train"].rows), self.proto.training)
        return out

    def adapter_spec(self, run, texts_print: str) -> dict:
        from loraplace.train.trainer import full_determinism

        info, p = self.infos[run.topology], self.p
        cond = info.conditions[run.condition]
        return {"model": info.fingerprint, "condition": run.condition,
                "modules": list(cond.modules), "domain": run.domain, "seed": run.seed,
                "recipe": {k: v for k, v in p.to_dict().items() if k not in ("name", "seeds", "items", "splits")
                           and not k.startswith(("gsm8k_", "humaneval_", "eval_"))},
                "training": dict(self.proto.key()["training"]),
                "train_data": texts_print, "version": TRAIN_VERSION, "device": self.device,
                "full_determinism": full_determinism()}

    def records_spec(self, run, adapter_sha: str | None) -> dict:
        return {"model": self.infos[run.topology].fingerprint, "run": run.to_dict(),
                "adapter_sha256": adapter_sha, "eval": self.eval_print, "lm_eval": self.lm_eval_version,
                "protocol": self.proto.key(), "settings": {"eval_gen_tokens_cap": self.p.eval_gen_tokens_cap,
                             "eval_prompt_tokens_cap": self.p.eval_prompt_tokens_cap},
                "version": EVAL_VERSION}

    def evaluate(self, run, model, tokenizer, d: Path) -> None:
        from loraplace.evidence.records import Run
        from loraplace.scoring.programs import execute
        from loraplace.tracks.paper.lmeval import run_lm_eval, to_records

        samples = run_lm_eval(model, tokenizer, self.tasks(run.topology), batch_size=self.p.eval_batch,
                              device=self.device, protocol=self.proto)
        recs = to_records(Run(run.model, run.topology, BASE if run.is_base else run.condition,
                              BASE if run.is_base else run.domain, run.seed), samples, execute,
                          protocol=self.proto.name)
        write_jsonl(recs, d / "records.jsonl")

    def split_of(self, topology: str, domain: str) -> dict[str, list[str]]:
        """{"train", "validation"} texts of a domain for a model (its chat template): the study's
        draw, the same for every condition and seed (the study shuffles with 3407 whatever the seed)."""
        from loraplace.tracks.paper.prompts import training_split

        key = (topology, domain)
        if key not in self._texts:
            self._texts[key] = training_split(domain, list(self.train_sets[domain].rows),
                                              self.loader.tokenizer(topology), self.p.train_examples,
                                              self.proto.training)
        return self._texts[key]

    def texts_of(self, run) -> list[str]:
        return self.split_of(run.topology, run.domain)["train"]

    def status(self, run) -> dict[str, bool]:
        """{entry kind: whether it is in the cache} of the run's entries."""
        cache = self.cache
        if run.is_base:
            return {"paper-records": cache.has("paper-records", self.records_spec(run, None))}
        spec = self.adapter_spec(run, sha256_text("\n\0".join(self.texts_of(run))))
        if not cache.has("paper-adapter", spec):
            return {"paper-adapter": False, "paper-records": False}
        adapter_sha = sha256_file(cache.path("paper-adapter", spec) / "adapter_model.safetensors")
        return {"paper-adapter": True, "paper-records": cache.has("paper-records", self.records_spec(run, adapter_sha))}

    def build(self, run, timeout: float) -> Path:
        """The records entry of one planned run, trained / evaluated if missing."""
        cache, loader = self.cache, self.loader
        if run.is_base:
            def create_base(d):
                model, tok = loader.get(run.topology)
                self.evaluate(run, model, tok, d)
            return cache.get_or_create("paper-records", self.records_spec(run, None), create_base, timeout=timeout)
        texts = self.texts_of(run)
        condition = self.infos[run.topology].conditions[run.condition]
        held: dict = {}

        def create_adapter(d):
            from loraplace.train.trainer import save_adapter, train_lora

            model, tok = loader.get(run.topology)
            peft_model, info = train_lora(copy.deepcopy(model), tok, condition, texts, self.p, seed=run.seed,
                                          progress=self.progress)
            save_adapter(peft_model, d, info, condition)
            held["model"] = peft_model  # evaluate the in-memory model right after training

        adapter_dir = cache.get_or_create("paper-adapter", self.adapter_spec(run, sha256_text("\n\0".join(texts))),
                                          create_adapter, timeout=timeout)
        adapter_sha = sha256_file(adapter_dir / "adapter_model.safetensors")

        def create_records(d):
            from loraplace.train.trainer import load_adapter

            model, tok = loader.get(run.topology)
            peft_model = held.get("model") or load_adapter(copy.deepcopy(model), adapter_dir)
            self.evaluate(run, peft_model, tok, d)

        return cache.get_or_create("paper-records", self.records_spec(run, adapter_sha), create_records,
                                   timeout=timeout)


def prepare(profile_name: str, **options) -> PaperSession:
    """The `PaperSession` of a profile (`PaperSession`'s options: models, data_dir, cache,
    published_dir, progress, device, protocol, allow_missing_weights)."""
    return PaperSession(profile_name, **options)


def build_paper(profile_name: str, *, models=None, data_dir=None, cache=None, published_dir=None,
                progress: bool = True, protocol: str | None = None, allow_missing_weights: bool = False,
                conditions: str | None = None) -> Evidence:
    """Train (or load) and evaluate every run of the profile's plan -> Evidence("paper", …)."""
    t_start = time.perf_counter()
    s = prepare(profile_name, models=models, data_dir=data_dir, cache=cache, published_dir=published_dir,
                progress=progress, protocol=protocol, allow_missing_weights=allow_missing_weights,
                conditions=conditions)
    p, infos, sets, train_sets, lm_eval_version, device, runs, build = (
        s.p, s.infos, s.sets, s.train_sets, s.lm_eval_version, s.device, s.runs, s.build)
    present = s.present
    missing = [run for run in runs if not present(run)]
    if missing:
        _progress.note(plan_text(p, missing, runs, {i.ref.key: i.n_params for i in infos.values()},
                                 cpu=session_estimate(s, missing) if device == "cpu" else None,
                                 condition_sets={i.ref.key: i.condition_set for i in infos.values()}))
        _fill(missing, build, progress, p)
    records, inputs = [], []
    for run in runs:
        path = build(run, -1) / "records.jsonl"
        records += list(read_jsonl(path))
        inputs.append({"path": str(path), "sha256": sha256_file(path)})
    return Evidence(
        "paper", records, inputs=inputs,
        source={"profile": p.to_dict(), "protocol": s.proto.key(),
                "models": {i.ref.key: i.to_source() for i in infos.values()},
                "data": {name: ds.to_source() for name, ds in
                         {**sets, **train_sets, **{SHOT_POOLS[b]: ds for b, ds in s.pools.items()}}.items()},
                "lm_eval": lm_eval_version, "device": device, "runs": len(runs), "ran": ran(s),
                "timings_s": {"total": round(time.perf_counter() - t_start, 2)}},
        models={t: i.ref.key for t, i in infos.items()},
        roles={i.ref.key: dict(i.roles) for i in infos.values()},
        cells={i.ref.key: {"topology": t, "mixer": i.mixer} for t, i in infos.items()},
        condition_sets={i.ref.key: i.condition_set for i in infos.values()})


def _version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def plan_text(p, missing, runs, n_params: dict, cpu: dict | None = None, condition_sets: dict | None = None) -> str:
    """What a cold session is about to build, with the rough cost (the `loraplace plan` rows);
    `cpu`: this machine's estimate, when the runs build on its CPU; `condition_sets`: per model."""
    est = paper_plan.estimate_gpu_hours(missing, n_params)
    plan_cmd = f"`loraplace plan --evidence paper --profile {p.name}{' --probe' if cpu else ''}`"
    cost = (f"~{cpu['cpu_hours'] * 60:.2g} CPU-minutes on this machine (each model probed; rough; {plan_cmd})"
            if cpu else f"~{est['gpu_hours']} GPU-hours on one H100-class GPU (rough; {plan_cmd})")
    head = (f"loraplace paper[{p.name}, protocol {missing[0].protocol if missing else 'study'}]: building "
            f"{len(missing)} of {len(runs)} planned entries ({sum(r.is_base for r in missing)} base evaluations, "
            f"{sum(not r.is_base for r in missing)} fine-tuning runs); {cost}")
    if condition_sets:
        head += "\n  condition sets: " + ", ".join(f"{m} {cs}" for m, cs in condition_sets.items())
    return "\n".join([head] + [f"  {r.model} {r.condition} {r.domain} seed {r.seed}" for r in missing])


def _fill(runs, build, progress: bool, p) -> None:
    """Build every missing entry: start at this xdist worker's offset, skip entries another
    process is building (non-blocking lock), come back to them until all exist."""
    from filelock import Timeout

    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    offset = (int(worker[2:]) if worker[2:].isdigit() else 0) * max(1, len(runs) // _n_workers())
    pending = runs[offset:] + runs[:offset]
    bar = _progress.phase(f"paper[{p.name}] training + lm-eval evaluation", len(runs), unit="run",
                          enabled=progress, tty_only=True)
    while pending:
        busy = []
        for run in pending:
            try:
                build(run, 0)
            except Timeout:
                busy.append(run)
                continue
            bar.advance(current=f"{run.model} {run.condition}/{run.domain}/s{run.seed}")
        if busy and len(busy) == len(pending):
            time.sleep(2.0)
        pending = busy
    bar.close()


def _n_workers() -> int:
    try:
        return max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    except ValueError:
        return 1


def load(profile: str, cache_dir: str | None = None, paper_models: tuple[str, ...] = (),
         paper_data: str | None = None, published_dir: str | None = None, protocol: str | None = None,
         allow_missing_weights: bool = False, conditions: str | None = None) -> Evidence:
    """The track's loader (`loraplace.evidence.registry`): every planned run built into (or read
    from) the cache, under the protocol (default `study`)."""
    from loraplace.train.cache import Cache

    return build_paper(profile, models=tuple(paper_models), data_dir=paper_data, cache=Cache(cache_dir),
                       published_dir=published_dir, protocol=protocol, allow_missing_weights=allow_missing_weights,
                       conditions=conditions)
