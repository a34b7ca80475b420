"""Content-addressed cache of trained artefacts (base checkpoints, LoRA adapters, eval records).

An entry is a directory ``<root>/<kind>/<key>/`` whose key is the sha256 of the canonical JSON
of everything that determines it: the caller's spec (model spec, base-checkpoint hash,
condition, domain, hyper-parameters, seed, …) plus a code-version salt and the major library
versions. Next to the files sits ``entry.json``: the spec and the sha256 of every file.

* created in a temporary directory and renamed into place, so a process killed mid-write
  leaves no readable entry (only a ``.tmp-*`` directory, removed by the next creator of that
  entry or by `prune`);
* a file lock per entry, so concurrent pytest-xdist workers create each entry once;
* verified on every load; a corrupted entry is re-created with a warning.

Weights are safetensors and metadata JSON; nothing is pickled.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterator

from filelock import FileLock

from loraplace.evidence.records import sha256_file

log = logging.getLogger(__name__)
SALT = "loraplace-cache-1"  # bump when what the code writes into entries changes meaning
SIDECAR = "entry.json"
ENV = "LORAPLACE_CACHE_DIR"
LIBRARIES = ("torch", "transformers", "peft", "tokenizers", "safetensors")


def default_root() -> Path:
    """$LORAPLACE_CACHE_DIR/variants, else $XDG_CACHE_HOME (or ~/.cache)/loraplace/variants."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser() / "variants"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "loraplace" / "variants"


def library_versions() -> dict[str, str]:
    """Major.minor of the libraries whose behaviour shapes trained weights."""
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = ".".join(metadata.version(name).split(".")[:2])
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass(frozen=True)
class Entry:
    kind: str
    key: str
    path: Path
    spec: dict
    files: dict  # relative path -> sha256
    created: float

    def problems(self) -> list[str]:
        """What is wrong with the entry on disk (empty when it verifies)."""
        found = {str(p.relative_to(self.path)) for p in self.path.rglob("*") if p.is_file()} - {SIDECAR}
        out = [f"missing file {rel}" for rel in sorted(set(self.files) - found)]
        out += [f"unexpected file {rel}" for rel in sorted(found - set(self.files))]
        for rel in sorted(set(self.files) & found):
            if sha256_file(self.path / rel) != self.files[rel]:
                out.append(f"sha256 mismatch in {rel}")
        return out


class Cache:
    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()

    def key(self, kind: str, spec: dict) -> str:
        return hashlib.sha256(canonical({"kind": kind, "spec": spec, "salt": SALT,
                                         "libraries": library_versions()}).encode()).hexdigest()

    def path(self, kind: str, spec: dict) -> Path:
        return self.root / kind / self.key(kind, spec)

    def load(self, path: Path) -> Entry | None:
        """The entry at `path` if its sidecar parses (None otherwise); files are not checked here."""
        try:
            meta = json.loads((path / SIDECAR).read_text())
            return Entry(meta["kind"], meta["key"], path, meta["spec"], meta["files"], meta["created"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def has(self, kind: str, spec: dict) -> bool:
        """Whether a verified entry for (kind, spec) exists."""
        return self._valid(self.path(kind, spec))

    def _valid(self, path: Path) -> bool:
        entry = self.load(path) if path.is_dir() else None
        return entry is not None and entry.key == path.name and not entry.problems()

    def get_or_create(self, kind: str, spec: dict, create: Callable[[Path], None], *, timeout: float = -1) -> Path:
        """The verified entry for (kind, spec), created once by `create(tmpdir)` if needed.

        `timeout`: seconds to wait for another process creating the same entry (-1: as long as it
        takes; 0: `filelock.Timeout` at once, so a caller can build another entry meanwhile)."""
        path = self.path(kind, spec)
        if self._valid(path):
            log.debug("cache hit %s/%s", kind, path.name[:16])
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock", timeout=timeout):
            if self._valid(path):  # another process created it while we waited
                log.debug("cache hit %s/%s (created by another process)", kind, path.name[:16])
                return path
            if path.exists():
                warnings.warn(f"cache entry {path} is corrupted ({'; '.join(self._why(path))}); re-creating it",
                              RuntimeWarning, stacklevel=2)
                shutil.rmtree(path)
            for stale in path.parent.glob(f".{path.name}.tmp-*"):  # left by a process killed mid-write: only
                shutil.rmtree(stale, ignore_errors=True)           # the lock holder writes this entry's temp dirs
            tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
            t0 = time.perf_counter()
            log.info("cache miss %s/%s: creating", kind, path.name[:16])
            try:
                create(tmp)
                files = {str(p.relative_to(tmp)): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
                meta = {"kind": kind, "key": path.name, "spec": json.loads(canonical(spec)), "salt": SALT,
                        "libraries": library_versions(), "files": files, "created": time.time()}
                (tmp / SIDECAR).write_text(json.dumps(meta, indent=1, sort_keys=True))
                os.rename(tmp, path)
                log.info("created %s/%s in %.1f s", kind, path.name[:16], time.perf_counter() - t0)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return path

    def _why(self, path: Path) -> list[str]:
        entry = self.load(path)
        return ["unreadable entry.json"] if entry is None else entry.problems()

    def entries(self, kind: str | None = None) -> Iterator[Entry]:
        kinds = [self.root / kind] if kind else sorted(p for p in self.root.glob("*") if p.is_dir())
        for folder in kinds:
            for path in sorted(folder.glob("*")):
                if path.is_dir() and not path.name.startswith("."):
                    entry = self.load(path)
                    yield entry if entry is not None else Entry(folder.name, path.name, path, {}, {}, 0.0)

    def verify(self, kind: str | None = None) -> list[tuple[Path, list[str]]]:
        """(entry, problems) for every entry that does not verify."""
        return [(e.path, self._why(e.path)) for e in self.entries(kind) if self._why(e.path)]

    def prune(self, *, kind: str | None = None, invalid: bool = True, older_than_days: float | None = None) -> list[Path]:
        """Remove abandoned temporary directories, invalid entries and (optionally) old ones."""
        removed = []
        for tmp in self.root.glob("*/.*.tmp-*"):
            if kind is None or tmp.parent.name == kind:
                shutil.rmtree(tmp, ignore_errors=True)
                removed.append(tmp)
        cutoff = time.time() - older_than_days * 86400 if older_than_days is not None else None
        for entry in list(self.entries(kind)):
            if (invalid and self._why(entry.path)) or (cutoff is not None and entry.created < cutoff):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.path)
        return removed
