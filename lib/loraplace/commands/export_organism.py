"""`loraplace export-organism NAME DIR`: a tiny model organism as a Hugging Face checkpoint.

The organism's pretrained base (from the tiny track's cache; pretrained there first if missing,
which takes minutes on CPU) is written to DIR in the Hugging Face layout -- config.json,
model.safetensors, the character tokenizer -- plus `loraplace_organism.json` (organism, profile,
base sha256), so `transformers` loads it like any checkpoint, the paper track takes it as
`--paper-model TOPOLOGY=DIR`, and `loraplace recommend --model DIR` races on it with the tiny
track's own runs (shared cache entries).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from loraplace.recommend.tiny_backend import MARKER

SKIP = ("entry.json", "losses.json")  # the cache's own sidecar; pretraining losses stay in the cache


def register(sub) -> None:
    p = sub.add_parser("export-organism", help="write a tiny model organism as a Hugging Face checkpoint",
                       description=__doc__)
    p.add_argument("name", help="organism key (tiny_qwen3_5, tiny_falcon_h1, tiny_bamba, tiny_falcon_h1_gdn) "
                                "or a topology (sequential, parallel)")
    p.add_argument("dest", metavar="DIR", help="directory to write (created; must be empty if it exists)")
    p.add_argument("--profile", default="default", help="tiny profile whose pretraining to use (default %(default)s)")
    p.add_argument("--cache-dir", default=None, help="cache of trained variants (default: $LORAPLACE_CACHE_DIR/"
                                                     "variants or ~/.cache/loraplace/variants)")
    p.set_defaults(func=run)


def export(name: str, dest: Path, *, profile="default", cache_dir=None) -> dict:
    """Write the organism's base checkpoint to `dest`; returns the marker written beside it."""
    from loraplace.evidence.records import sha256_file
    from loraplace.tracks.tiny import track as tiny
    from loraplace.train.cache import Cache

    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise ValueError(f"{dest} exists and is not empty: export into a new or empty directory")
    p = tiny.profile(profile) if isinstance(profile, str) else profile  # a name, or a Profile (tests)
    (spec,) = tiny.specs(p, (name,)).values()
    base_dir = tiny.cached_base(Cache(cache_dir), spec, p, progress=True)
    dest.mkdir(parents=True, exist_ok=True)
    for f in sorted(base_dir.iterdir()):
        if f.is_file() and f.name not in SKIP:
            shutil.copy2(f, dest / f.name)
    marker = {"organism": spec.key, "topology": spec.topology, "model_class": spec.model_class, "profile": p.name,
              "base_sha256": sha256_file(dest / "model.safetensors")}
    (dest / MARKER).write_text(json.dumps(marker, indent=1, sort_keys=True))
    return marker


def run(args) -> int:
    marker = export(args.name, Path(args.dest), profile=args.profile, cache_dir=args.cache_dir)
    print(f"{marker['organism']} ({marker['model_class']}, {marker['topology']}, profile {marker['profile']}) "
          f"written to {args.dest}")
    return 0
