"""Real-size parameter accounting (C5, the report's component table), computed once per code +
config + transformers version.

    cached_parameter_ratio("qwen3_5_0_8b_base", "harmonized", 16, cache=Cache())
    cached_accounting("components", {"models": [...], "rank": 16}, compute, cache=Cache())

`placement.parameter_ratio` and the report's `components` import transformers and build the
real-size models on the meta device (seconds); their answers are a handful of integers that
change only when an architecture's config, the code that classifies and selects modules, or
transformers' module layout change. So an answer is a cache entry (`train/cache.py`, kind
`c5-accounting`) whose spec holds the question, the sha256 of every shipped model config and of
the accounting code's source files, and the exact transformers version: any change recomputes
it. A cache that cannot be written (read-only home) only costs the recomputation.
"""
from __future__ import annotations

import hashlib
import json
from importlib import metadata, resources
from pathlib import Path
from typing import Callable

KIND = "c5-accounting"
VERSION = 1
_SOURCES = ("models/accounting.py", "models/placement.py", "models/taxonomy.py", "models/zoo.py", "study.py",
            "report/build.py")


def _digest(paths) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def accounting_spec(question: str, params: dict) -> dict:
    """What an answer depends on: the question, the configs, the code and transformers."""
    package = Path(__file__).resolve().parents[1]
    configs = sorted((Path(str(p)) for p in resources.files("loraplace.data").iterdir()
                      if p.name.endswith(".config.json")), key=lambda p: p.name)
    try:
        transformers = metadata.version("transformers")
    except metadata.PackageNotFoundError:
        transformers = "absent"
    return {"question": question, "params": params, "version": VERSION, "configs": _digest(configs),
            "code": _digest(package / s for s in _SOURCES), "transformers": transformers}


def cached_accounting(question: str, params: dict, compute: Callable[[], object], *, cache=None):
    """`compute()` (JSON-able), read from `cache` (a `train.cache.Cache`; default: the default
    cache) when an entry for the same spec exists, else computed and stored."""
    from loraplace.train.cache import Cache

    cache = cache if cache is not None else Cache()

    def create(d: Path) -> None:
        (d / "answer.json").write_text(json.dumps(compute(), sort_keys=True))

    try:
        entry = cache.get_or_create(KIND, accounting_spec(question, params), create)
        return json.loads((entry / "answer.json").read_text())
    except OSError:
        return compute()


def cached_parameter_ratio(model_key: str, condition_set: str = "harmonized", rank: int = 16, *,
                           cache=None) -> dict:
    """`placement.parameter_ratio(...)`, cached (see `cached_accounting`)."""
    def compute() -> dict:
        from loraplace.models.placement import parameter_ratio

        return parameter_ratio(model_key, condition_set, rank=rank)

    return cached_accounting("parameter_ratio", {"model": model_key, "condition_set": condition_set,
                                                 "rank": rank}, compute, cache=cache)
