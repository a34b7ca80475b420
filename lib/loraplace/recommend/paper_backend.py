"""`recommend` on a real checkpoint with a study domain: the paper track's own runs and cache.

    backend = PaperBackend("MODEL_DIR_OR_ID", "gsm8k_train", data_dir=DIR, profile="study", seeds=3)  # 3407..3409

The model is any hybrid checkpoint (sequential or parallel topology, by the taxonomy). Its runs
are the paper track's exactly: `OneModelSession` is `tracks.paper.track.PaperSession` over this
one model (the track's session holds the study's two), and every method that names an entry --
the adapter spec, the records spec, training (`train.trainer.train_lora`: peft + Trainer),
evaluation (lm-eval under --protocol study|harness) -- is the session's own, so a later `pytest
--evidence paper --paper-model TOPOLOGY=MODEL` finds every adapter and evaluation recommend made
(tests/test_recommend_paper.py checks the specs against a real session). Candidates are the
harmonized placements at the profile's rank; the paper track trains no budget controls, so none
are raced here (a note says so). A model the paper track cannot run -- a non-hybrid, or one the
taxonomy cannot classify -- gets a clear error pointing to `--train FILE.jsonl`.
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from loraplace.evidence.records import BASE, read_jsonl
from loraplace.recommend.candidates import UnclassifiableModel, refusal
from loraplace.recommend.tiny_backend import scores_of
from loraplace.study import DOMAINS, TARGETS, off_target
from loraplace.tracks.paper import plan as paper_plan
from loraplace.tracks.paper.models import inspect_model, load_model, load_tokenizer, resolve_models
from loraplace.tracks.paper.protocol import protocol as get_protocol
from loraplace.tracks.paper.track import PaperSession

SEED0 = 3407  # the study's seed; more seeds count up from it, as the paper track's full profile


class Loader:
    """Loads the one model (and its tokenizer) on first need."""

    def __init__(self, info, device: str) -> None:
        self.info, self.device, self.loaded, self.tok = info, device, None, None

    def get(self, topology: str):
        if self.loaded is None:
            self.loaded = load_model(self.info.ref, self.device)
        return self.loaded

    def tokenizer(self, topology: str):
        if self.loaded is not None:
            return self.loaded[1]
        if self.tok is None:
            self.tok = load_tokenizer(self.info.ref)
        return self.tok


class OneModelSession(PaperSession):
    """A `PaperSession` over one model: the same attributes, so the session's methods make the
    same entries (its `__init__` resolves the study's two models; this one resolves one)."""

    def __init__(self, p, info, *, data_dir=None, cache=None, published_dir=None, protocol=None,
                 device: str = "cpu", progress: bool = False):
        from loraplace.train.cache import Cache

        self.cache = cache if cache is not None else Cache()
        self.p, self.proto = p, get_protocol(protocol)
        self.infos = {info.ref.topology: info}
        self.load_data_and_plan(data_dir, published_dir)
        self.device, self.progress = device, progress
        self.loader = Loader(info, device)
        self._tasks, self._texts = {}, {}


def topology_of(source: str):
    """(taxonomy) of a checkpoint from its config alone (meta device); refusals for what the paper
    track cannot run."""
    from transformers import AutoConfig

    from loraplace.models.taxonomy import classify_model
    from loraplace.models.zoo import build_meta_model

    try:
        config = AutoConfig.from_pretrained(source)
    except Exception as exc:  # OSError, ValueError (an unrecognised model type), hub errors offline
        raise ValueError(f"{source}: transformers cannot read its config ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200]})") from None
    taxonomy = classify_model(build_meta_model(config))
    if taxonomy.unclassified:
        raise UnclassifiableModel(refusal(taxonomy))
    if taxonomy.topology not in ("sequential", "parallel"):
        raise ValueError(f"{source}: {taxonomy.model_class} is not a hybrid (topology {taxonomy.topology}); the "
                         "paper track runs the study's domains on hybrids only. Pass --train FILE.jsonl to race its "
                         "attention / MLP placements on your own data")
    return taxonomy


class PaperBackend:
    """Train and evaluate one real checkpoint's harmonized placements on a study domain."""

    def __init__(self, model: str, domain: str, *, data_dir=None, protocol: str | None = None, cache_dir=None,
                 seeds: int | None = None, profile: str = "study", device: str | None = None, published_dir=None):
        from loraplace.tracks.paper.track import default_device
        from loraplace.train.cache import Cache

        device = device or default_device()  # cuda where there is one, as the paper track

        self.options = {"model": str(model), "domain": domain, "data_dir": data_dir and str(data_dir),
                        "protocol": protocol, "cache_dir": cache_dir and str(cache_dir), "seeds": seeds,
                        "profile": profile, "device": device, "published_dir": published_dir}
        if domain not in DOMAINS:
            raise ValueError(f"Unknown domain {domain!r}. Available: {', '.join(DOMAINS)} (or a JSONL file)")
        self.taxonomy = topology_of(str(model))
        ref = resolve_models([f"{self.taxonomy.topology}={model}"])[self.taxonomy.topology]
        base_p = paper_plan.profile(profile)
        p = replace(base_p, seeds=tuple(SEED0 + i for i in range(seeds or 3)))  # racing needs several seeds
        info = inspect_model(ref, p.rank, "harmonized")
        self.session = OneModelSession(p, info, data_dir=data_dir, cache=Cache(cache_dir), protocol=protocol,
                                       device=device, published_dir=published_dir)
        self.info, self.domain, self.p = info, domain, p
        self.rank, self.seeds = p.rank, p.seeds
        self.targets, self.retention = TARGETS[domain], off_target(domain)
        self.controls = False  # the paper track trains no budget-matched placements
        self.notes = ["budget-matched variants are not raced: the paper track trains no budget controls "
                      "(--train FILE.jsonl races them, with --budget or --rank)"]
        self.seconds = 0.0

    def _run(self, condition: str, seed: int):
        for run in self.session.runs:
            if run.condition == condition and (run.is_base or (run.domain == self.domain and run.seed == seed)):
                return run
        raise KeyError(f"Unknown paper run {condition}/{self.domain}/{seed}. Available conditions: "
                       f"{', '.join(sorted({r.condition for r in self.session.runs}))}")

    def _scores(self, run) -> dict[str, np.ndarray]:
        t0 = time.perf_counter()
        path = self.session.build(run, timeout=-1)
        self.seconds += time.perf_counter() - t0
        return scores_of(list(read_jsonl(Path(path) / "records.jsonl")), (*self.targets, *self.retention))

    def base_scores(self) -> dict[str, np.ndarray]:
        return self._scores(self._run(BASE, self.seeds[0]))

    def cached(self, condition: str, seed: int) -> bool:
        return self.session.present(self._run(condition, seed))

    def run(self, condition: str, seed: int) -> dict[str, np.ndarray]:
        return self._scores(self._run(condition, seed))

    def prefetch(self, pairs: list[tuple[str, int]], *, engine: str = "local", workers: int | None = None,
                 address: str | None = None) -> None:
        """A round's runs side by side: Ray tasks (a GPU each on a GPU machine), or local worker
        processes with --workers N on CPU; by default one after another in this process."""
        from loraplace.recommend.parallel import prefetch

        if engine != "ray" and self.options["device"] != "cpu":
            return  # one local GPU: the runs take it in turn
        t0 = time.perf_counter()
        prefetch(f"{__name__}:PaperBackend", self.options, pairs, engine=engine, workers=workers, address=address,
                 gpus=1.0 if self.options["device"] != "cpu" else 0.0)
        self.seconds += time.perf_counter() - t0

    def describe(self) -> dict:
        return {"backend": "paper", "name": self.info.ref.key, "model": self.info.ref.source,
                "model_class": self.info.model_class, "topology": self.info.ref.topology, "domain": self.domain,
                "profile": self.p.name, "protocol": self.session.proto.name, "targets": list(self.targets),
                "retention": list(self.retention), "weights": self.info.fingerprint, "device": self.session.device}
