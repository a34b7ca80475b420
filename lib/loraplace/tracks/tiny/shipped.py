"""The tiny organisms' pretrained bases, shipped with the package like a real model's checkpoint.

    path = shipped.lookup(cache_key)          # the shipped files of a `tiny-base` entry, or None
    shipped.install(cache_key, directory)     # write them into a new cache entry
    shipped.ship(entries, destination)        # (scripts/ship_bases.py) copy cache entries here

Pretraining the four organisms is most of a cold smoke build (1,200 steps each, minutes of CPU),
and it is the same computation on every machine: a pure function of the code, the library
versions and the seed. So its output is shipped: `loraplace/data/organisms/<organism>/` holds each
base's `model.safetensors` and `losses.json`, and `manifest.json` maps the `tiny-base` cache key
they were made under (spec + code salt + library versions: `loraplace.train.cache.Cache.key`) to
the organism and the sha256 of both files.

On a `tiny-base` cache miss, `tracks.tiny.track.cached_base` installs the shipped files when the
manifest holds the entry's key and the files match their sha256; otherwise (another torch or
transformers version, a changed recipe, a damaged file) it pretrains, as before. Installed files
are byte-for-byte the shipped ones, so every adapter and record key downstream (they hash the
base's `model.safetensors`) is what a local pretraining on the reference machine gives.

Whether this machine's pretraining reproduces them bit for bit is checked by
`python scripts/ship_bases.py --verify` (pretrains each organism afresh, single-threaded, and
compares); the result on the reference machine is in benchmarks/RESULTS.md.
"""
from __future__ import annotations

import json
import shutil
import warnings
from importlib import resources
from pathlib import Path

from loraplace.evidence.records import sha256_file
from loraplace.train.cache import library_versions

FILES = ("model.safetensors", "losses.json")  # what pretraining makes that the spec does not determine
MANIFEST = "manifest.json"


def root() -> Path:
    return Path(str(resources.files("loraplace") / "data" / "organisms"))


def manifest(directory: Path | None = None) -> dict:
    """{cache key: {"organism": key, "files": {name: sha256}, "libraries": {name: major.minor}}}
    (empty when nothing is shipped)."""
    path = (directory or root()) / MANIFEST
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def lookup(key: str, directory: Path | None = None) -> Path | None:
    """The directory of the shipped files for `tiny-base` cache key `key`, or None when none is
    shipped for it or a file fails its sha256 (warned: the base is then pretrained)."""
    directory = directory or root()
    entry = manifest(directory).get(key)
    if entry is None:
        return None
    src = directory / entry["organism"]
    bad = [n for n, sha in entry["files"].items() if not (src / n).is_file() or sha256_file(src / n) != sha]
    if bad:
        warnings.warn(f"shipped base {entry['organism']}: {', '.join(bad)} missing or not matching "
                      f"its sha256 in {directory / MANIFEST}; pretraining it instead", stacklevel=2)
        return None
    return src


def install(key: str, destination: Path, directory: Path | None = None) -> bool:
    """Copy the shipped files of `key` into `destination` (overwriting); False when none are shipped."""
    src = lookup(key, directory)
    if src is None:
        return False
    for name in FILES:
        shutil.copyfile(src / name, Path(destination) / name)
    return True


def ship(entries: list[tuple[str, str, Path]], destination: Path | None = None) -> dict:
    """Ship cache entries: [(cache key, organism key, entry directory)] -> the new manifest. Files
    of organisms not in `entries` and their manifest rows are kept."""
    destination = destination or root()
    destination.mkdir(parents=True, exist_ok=True)
    out = {k: v for k, v in manifest(destination).items()
           if v["organism"] not in {organism for _, organism, _ in entries}}
    for key, organism, entry_dir in entries:
        (destination / organism).mkdir(exist_ok=True)
        for name in FILES:
            shutil.copyfile(Path(entry_dir) / name, destination / organism / name)
        out[key] = {"organism": organism, "files": {n: sha256_file(destination / organism / n) for n in FILES},
                    "libraries": library_versions()}
    (destination / MANIFEST).write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    return out
