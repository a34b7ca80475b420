"""`recommend` on your own data: any causal-LM checkpoint, a JSONL to train on, held-out items.

    backend = DataBackend("MODEL_DIR", "train.jsonl", target_eval=None, seeds=3, recipe=paper_profile)

The model is any checkpoint `transformers` loads (a directory, or a hub id already in the local
cache): an exported tiny organism, a tiny Llama, a real hybrid. Its placements come from the
taxonomy (`recommend.candidates.conditions`, at the recipe's rank or `rank`, budget-matched at
`budget_params` or attention-only's count at `budget_rank`). Each (placement, seed) is trained by
the paper track's trainer (`train.trainer.train_lora`: peft + transformers' Trainer with SFT
semantics, the recipe a `tracks.paper.plan.PaperProfile`) on the training rows and scored on the
items (`recommend.item_scores`); adapters and scores are cache entries (`recommend-adapter`,
`recommend-scores`, keyed by the weights' sha256, the modules, rank, data, recipe and seed). LoRA
alpha is 2 x rank for every candidate, as everywhere in the suite, so a budget-matched variant at
another rank keeps the adapter's scale alpha / rank.

The target is the items of `--target-eval`, or a held-out split of `--train`: its accuracy
(exact match, multiple choice) where items have answers, else minus the per-token loss; the loss
is then reported beside it. The retention battery is `--retention` item files with answers.
"""
from __future__ import annotations

import copy
import hashlib
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from loraplace.recommend import data as rdata
from loraplace.recommend.candidates import UnclassifiableModel, conditions, refusal

VERSION = "recommend-data-1"  # bump when what the entries hold changes meaning
ACCURACY = ("exact_match", "multiple_choice")


def default_recipe(name: str = "study"):
    """The paper track's recipe `name` (study: 3 epochs, batch 4 x 4, lr 2e-4, rank 16, seq 1024)."""
    from loraplace.tracks.paper.plan import profile

    return profile(name)


def weights_sha256(model_dir: Path) -> str:
    """sha256 over config.json and every *.safetensors file of a checkpoint directory."""
    h = hashlib.sha256()
    for f in [model_dir / "config.json", *sorted(model_dir.glob("*.safetensors"))]:
        h.update(f.name.encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def load(model: str | Path):
    """(model in eval mode on CPU in float32, tokenizer, fingerprint) of a directory or cached hub id."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(model)
    model_obj = AutoModelForCausalLM.from_pretrained(str(model), dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(str(model))
    if path.is_dir():
        fp = weights_sha256(path)
    else:
        fp = f"{model}@{getattr(model_obj.config, '_commit_hash', None) or 'unknown'}"
    return model_obj, tok, fp


class DataBackend:
    """Train and evaluate one model's placements on the user's JSONL."""

    def __init__(self, model: str | Path, train: str | Path, *, target_eval=None, retention=(), cache_dir=None,
                 recipe=None, seeds: int = 3, rank: int | None = None, budget_params: int | None = None,
                 budget_rank: int | None = None, held_out: float = 0.2, loaded=None):
        from loraplace.models.taxonomy import classify_model
        from loraplace.train.cache import Cache

        self.options = {"model": str(model), "train": str(train), "target_eval": target_eval and str(target_eval),
                        "retention": [str(f) for f in retention], "cache_dir": cache_dir and str(cache_dir),
                        "recipe": recipe, "seeds": seeds, "rank": rank, "budget_params": budget_params,
                        "budget_rank": budget_rank, "held_out": held_out}  # to rebuild it in a worker
        examples = rdata.read_train(train)  # the data first: a bad row is named before any model loads
        if target_eval:
            self.train_rows, items = examples, rdata.read_items(target_eval)
        else:
            self.train_rows, held = rdata.split(examples, held_out)
            items = rdata.held_out_items(held)
        self.model, self.tokenizer, self.fingerprint = loaded or load(model)
        self.taxonomy = classify_model(self.model)
        if self.taxonomy.unclassified:
            parents = {n: type(m).__name__ for n, m in self.model.named_modules()}
            raise UnclassifiableModel(refusal(self.taxonomy, parents))
        self.recipe = recipe or default_recipe()
        self.rank = rank or self.recipe.rank
        self.budget_params, self.budget_rank = budget_params, budget_rank
        self.seeds = tuple(3407 + i for i in range(seeds))
        self.items = rdata.by_kind(items)
        acc = tuple(k for k in ACCURACY if k in self.items)
        self.targets = acc or ("loss",)
        self.secondary = ("loss",) if acc and "loss" in self.items else ()
        self.unit = "pp" if acc else "nats/token"
        self.retention_items = {Path(f).stem: _retention_items(f) for f in retention}
        self.retention = tuple(self.retention_items)
        self.cache, self.name, self.train_path = Cache(cache_dir), str(model), str(train)
        self.target_eval = str(target_eval) if target_eval else None
        found, _ = conditions(self.taxonomy, self.rank, budget_params=budget_params, budget_rank=budget_rank)
        self.conditions = {c.name: cond for c, cond in found}
        self.seconds = 0.0

    def texts(self) -> list[str]:
        return [ex.text(self.tokenizer) for ex in self.train_rows]

    def _recipe_spec(self) -> dict:
        return {k: v for k, v in self.recipe.to_dict().items() if k not in ("name", "seeds", "items", "splits",
                                                                          "rank", "lora_alpha")
                and not k.startswith(("eval_", "humaneval_", "train_examples"))}

    def adapter_spec(self, name: str, seed: int) -> dict:
        from loraplace.train.trainer import full_determinism

        cond = self.conditions[name]
        return {"model": self.fingerprint, "modules": list(cond.modules), "rank": cond.rank, "lora_alpha": 2 * cond.rank,
                "train_data": rdata.fingerprint(self.texts()), "recipe": self._recipe_spec(), "seed": seed,
                "version": VERSION, "full_determinism": full_determinism()}

    def _score_spec(self, adapter_sha: str | None) -> dict:
        every = [it for items in self.items.values() for it in items]
        every += [it for items in self.retention_items.values() for it in items]
        return {"model": self.fingerprint, "adapter_sha256": adapter_sha, "items": rdata.fingerprint(every),
                "version": VERSION}

    def _scores(self, model, adapter_sha: str | None) -> dict[str, np.ndarray]:
        from loraplace.recommend.item_scores import score_items

        def create(d: Path) -> None:
            out = {k: v.tolist() for k, v in score_items(model(), self.tokenizer,
                                                         [it for its in self.items.values() for it in its]).items()}
            for bench, its in self.retention_items.items():
                out[bench] = float_list(score_items(model(), self.tokenizer, its))
            (d / "scores.json").write_text(json.dumps(out))

        entry = self.cache.get_or_create("recommend-scores", self._score_spec(adapter_sha), create)
        return {k: np.asarray(v, float) for k, v in json.loads((entry / "scores.json").read_text()).items()}

    def base_scores(self) -> dict[str, np.ndarray]:
        return self._scores(lambda: self.model, None)

    def cached(self, name: str, seed: int) -> bool:
        """Whether the run's adapter and scores are in the cache already."""
        from loraplace.evidence.records import sha256_file

        spec = self.adapter_spec(name, seed)
        if not self.cache.has("recommend-adapter", spec):
            return False
        sha = sha256_file(self.cache.path("recommend-adapter", spec) / "adapter_model.safetensors")
        return self.cache.has("recommend-scores", self._score_spec(sha))

    def run(self, name: str, seed: int) -> dict[str, np.ndarray]:
        """One placement's training seed: trained and scored (or read from the cache)."""
        from loraplace.evidence.records import sha256_file
        from loraplace.train.trainer import load_adapter, save_adapter, train_lora

        t0, cond, held = time.perf_counter(), self.conditions[name], {}

        def create_adapter(d: Path) -> None:
            peft_model, info = train_lora(copy.deepcopy(self.model), self.tokenizer, cond, self.texts(),
                                          replace(self.recipe, rank=cond.rank, lora_alpha=2 * cond.rank), seed=seed)
            save_adapter(peft_model, d, info, cond)
            held["model"] = peft_model

        adapter_dir = self.cache.get_or_create("recommend-adapter", self.adapter_spec(name, seed), create_adapter)
        sha = sha256_file(adapter_dir / "adapter_model.safetensors")

        def model():
            if "model" not in held:
                held["model"] = load_adapter(copy.deepcopy(self.model), adapter_dir)
            return held["model"]

        out = self._scores(model, sha)
        self.seconds += time.perf_counter() - t0
        return out

    def prefetch(self, pairs: list[tuple[str, int]], *, engine: str = "local", workers: int | None = None,
                 address: str | None = None) -> None:
        """A round's runs side by side (`recommend.parallel`: worker processes, or Ray tasks)."""
        from loraplace.recommend.parallel import prefetch

        t0 = time.perf_counter()
        prefetch(f"{__name__}:DataBackend", self.options, pairs, engine=engine, workers=workers, address=address)
        self.seconds += time.perf_counter() - t0

    def describe(self) -> dict:
        return {"backend": "data", "name": Path(self.name).name or self.name, "model": self.name,
                "model_class": self.taxonomy.model_class, "topology": self.taxonomy.topology,
                "domain": Path(self.train_path).name, "train_rows": len(self.train_rows),
                "target_eval": self.target_eval or f"a held-out split of {Path(self.train_path).name}",
                "items": {k: len(v) for k, v in self.items.items()}, "targets": list(self.targets),
                "secondary": list(self.secondary), "unit": self.unit, "retention": list(self.retention),
                "recipe": self._recipe_spec(), "weights_sha256": self.fingerprint}


def float_list(scores: dict) -> list[float]:
    """The one kind's scores of a retention file (accuracy items only: checked on reading)."""
    (values,) = scores.values()
    return values.tolist()


def _retention_items(path) -> list:
    items = rdata.read_items(path)
    kinds = {it.kind for it in items}
    if kinds - set(ACCURACY) or len(kinds) != 1:
        raise rdata.DataError(f"{path}: a retention file holds items of one kind with answers (exact match, or "
                              f"multiple choice), got {', '.join(sorted(kinds))}")
    return items

