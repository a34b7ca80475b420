"""`recommend` on an exported tiny organism: the tiny track's own training, evaluation and cache.

A directory written by `loraplace export-organism` carries `loraplace_organism.json` (organism,
profile, base checkpoint sha256). Its runs are the tiny track's entries exactly (same specs: the
organism's base, condition, synthetic domain, seed, profile recipe), so a later `pytest
hypotheses/` reuses every adapter and evaluation `recommend` trained, and the reverse. A budget-
matched candidate is a tiny-track control, which the track evaluates on its domain's targets
only; its off-target battery is evaluated here and cached as a `recommend-retention` entry.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from loraplace.evidence.records import BASE, sha256_file
from loraplace.study import DOMAINS, TARGETS, off_target

MARKER = "loraplace_organism.json"
SCORER = "corrected"


class NotAnOrganism(ValueError):
    """The directory is no exported tiny organism (or its weights are not the exported ones)."""


def read_marker(model_dir: Path) -> dict | None:
    path = Path(model_dir) / MARKER
    return json.loads(path.read_text()) if path.is_file() else None


def scores_of(records, benchmarks) -> dict[str, np.ndarray]:
    """{benchmark: item scores in item order} under the suite's corrected scorer."""
    out = {}
    for b in benchmarks:
        rows = sorted((r for r in records if r.benchmark == b and r.scorer == SCORER), key=lambda r: r.item_key)
        out[b] = np.array([r.score for r in rows], float)
    return out


class TinyBackend:
    """Train and evaluate candidates of one exported organism on one synthetic study domain."""

    def __init__(self, model_dir: Path, domain: str, *, cache_dir=None, profile=None):
        from loraplace.tracks.tiny import track as tiny
        from loraplace.train.cache import Cache

        marker = read_marker(model_dir)
        if marker is None:
            raise NotAnOrganism(f"{model_dir}: no {MARKER} (write one with `loraplace export-organism`)")
        if domain not in DOMAINS:
            raise ValueError(f"Unknown domain {domain!r} for a tiny organism (its world is synthetic). "
                             f"Available: {', '.join(DOMAINS)}")
        self.p = profile if profile is not None else tiny.profile(marker["profile"])
        self.cache, self.domain, self.tiny = Cache(cache_dir), domain, tiny
        self.base = tiny.ensure_base(self.cache, self.p, marker["organism"])
        if sha256_file(Path(model_dir) / "model.safetensors") != self.base.sha256:
            raise NotAnOrganism(f"{model_dir}: its weights are not the exported organism's base "
                                f"({marker['organism']}, profile {self.p.name}): re-export it")
        evaluated = self.p.n_items
        self.targets = tuple(b for b in TARGETS[domain] if b in evaluated)
        self.retention = tuple(b for b in off_target(domain) if b in evaluated)
        self.name = marker["organism"]
        self.seconds = 0.0  # spent creating entries in this process

    @property
    def taxonomy(self):
        from loraplace.models.taxonomy import classify_model

        return classify_model(self.base.model)

    @property
    def rank(self) -> int:
        return self.p.rank

    @property
    def seeds(self) -> tuple[int, ...]:
        return self.p.seeds

    def base_scores(self) -> dict[str, np.ndarray]:
        return scores_of(self.base.records, (*self.targets, *self.retention))

    def prefetch(self, pairs: list[tuple[str, int]], *, engine: str = "local", workers: int | None = None,
                 address: str | None = None) -> None:
        """Train and evaluate one round's (condition, seed) runs side by side: the tiny track's own
        tasks (`tracks.tiny.tasks`) on the local process pool or Ray; `run` then reads the cache."""
        from loraplace.scale import local, ray_engine
        from loraplace.scale.graph import Task
        from loraplace.tracks.tiny.build import default_workers

        pairs = [(cond, seed) for cond, seed in pairs if not self.cached(cond, seed)]
        if not pairs:  # a warm cache: no worker process to start
            return
        root, key, d = str(self.cache.root), self.name, self.domain
        tasks = []
        for cond, seed in pairs:
            run = f"{key}/{cond}/{d}/{seed}"
            args = (self.p, root, key, cond, d, seed)
            tasks += [Task(f"adapter/{run}", "loraplace.tracks.tiny.tasks:adapter", args, (f"tiny-adapter/{run}",)),
                      Task(f"eval/{run}", "loraplace.tracks.tiny.tasks:evaluate", args, (f"tiny-records/{run}",),
                           deps=(f"adapter/{run}",))]
        t0 = time.perf_counter()
        if engine == "ray":
            outcomes = ray_engine.run(tasks, address=address)
        else:
            outcomes = local.run(tasks, workers=workers or default_workers())
        self.seconds += time.perf_counter() - t0
        failed = [f"{o.id}: {o.error}" for o in outcomes.values() if not o.ok]
        if failed:
            raise RuntimeError("training runs failed: " + "; ".join(failed[:3]))

    def cached(self, condition: str, seed: int) -> bool:
        """Whether the run's adapter and evaluation are in the cache already."""
        try:
            self.tiny.ensure_run(self.cache, self.p, self.base, condition, self.domain, seed, allow_create=False)
        except self.tiny.Missing:
            return False
        return True

    def run(self, condition: str, seed: int) -> dict[str, np.ndarray]:
        """One candidate's training seed: fine-tuned and evaluated (or read from the cache)."""
        t0 = time.perf_counter()
        records, _ = self.tiny.ensure_run(self.cache, self.p, self.base, condition, self.domain, seed)
        scores = scores_of(records, self.targets)
        missing = [b for b in self.retention if not any(r.benchmark == b for r in records)]
        scores.update(scores_of(records, tuple(b for b in self.retention if b not in missing)))
        if missing:
            scores.update(scores_of(self._retention_records(condition, seed, missing), missing))
        self.seconds += time.perf_counter() - t0
        return scores

    def _retention_records(self, condition: str, seed: int, benchmarks: list[str]) -> list:
        """A control's off-target battery (the tiny track evaluates controls on target only)."""
        from loraplace.evidence.records import read_jsonl, write_jsonl
        from loraplace.tracks.tiny import evaluate as tiny_eval
        from loraplace.train import lora

        tiny, p = self.tiny, self.p
        adapter_dir = tiny.ensure_adapter(self.cache, p, self.base, condition, self.domain, seed)
        run = tiny_eval.Run(self.base.spec.key, self.base.topology, condition, self.domain, seed)
        n_items = {b: p.n_items[b] for b in benchmarks}
        spec = {**tiny.records_spec(replace(p, items=tuple(n_items.items())), run, self.base.sha256,
                                    sha256_file(adapter_dir / "adapter.safetensors")),
                "items": n_items, "purpose": "recommend: a control's off-target battery"}

        def create(d: Path) -> None:
            state, _ = lora.load_adapter(adapter_dir)
            model = lora.adapted(self.base.model, condition, state, p.rank, seed=seed)
            with tiny.single_threaded():
                recs = tiny_eval.evaluate(model, self.base.tokenizer, run, n_items, mc_batch=p.mc_batch,
                                          gen_batch=p.gen_batch, max_new_tokens=p.max_new_tokens,
                                          code_tokens=p.code_tokens)
            write_jsonl(recs, d / "records.jsonl")

        entry = self.cache.get_or_create("recommend-retention", spec, create)
        return list(read_jsonl(entry / "records.jsonl"))

    def describe(self) -> dict:
        return {"backend": "tiny", "device": "cpu", "organism": self.name, "topology": self.base.topology,
                "model_class": self.base.spec.model_class, "profile": self.p.name, "domain": self.domain,
                "base_sha256": self.base.sha256, "targets": list(self.targets), "retention": list(self.retention),
                "recipe": {k: v for k, v in asdict(self.p).items() if k.startswith(("finetune", "rank", "seq"))},
                "condition_of_base": BASE}
