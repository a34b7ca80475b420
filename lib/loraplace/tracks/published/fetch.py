"""Fetch the study's released data at its pinned commits and verify every byte.

The package ships a manifest (`loraplace/data/published_manifest.json`, written by
`scripts/make_published_manifest.py`) with the relative path, size, sha256 and source commit
of every file. `fetch_published` downloads each file from `{base_url}/{commit}/{path}` into a
temporary directory beside the destination and moves it into place with a single directory
rename only when *all* files verify: a failed, partial or tampered download leaves nothing
behind. `verify_published` checks any directory (a fetched one, or a copy the user supplies).
"""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from loraplace.evidence.records import sha256_file

DEFAULT_BASE_URL = "https://raw.githubusercontent.com/hecboar/lora-placement-hybrid"
ENV_DIR = "LORAPLACE_PUBLISHED_DIR"
DATASET_NAME = "hecboar-lora-placement-hybrid"
CHUNK = 1 << 16
MANIFEST_PATH = Path(__file__).resolve().parents[2] / "data" / "published_manifest.json"


class FetchError(RuntimeError):
    """A download failed or did not verify; the message names the file."""


@dataclass(frozen=True)
class ManifestEntry:
    path: str  # relative POSIX path inside the dataset
    sha256: str
    size: int
    commit: str  # the commit of hecboar/lora-placement-hybrid the file is fetched from


@lru_cache(maxsize=1)
def load_manifest() -> dict:
    """The packaged manifest: `repository`, `commits`, `files` (a tuple of ManifestEntry)."""
    raw = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    entries = tuple(ManifestEntry(**f) for f in raw["files"])
    for e in entries:  # the manifest decides where files are written: no escaping dest
        p = PurePosixPath(e.path)
        if p.is_absolute() or ".." in p.parts or not p.parts:
            raise ValueError(f"unsafe path in published manifest: {e.path!r}")
    return {**raw, "files": entries}


def manifest_entries() -> tuple[ManifestEntry, ...]:
    return load_manifest()["files"]


def default_published_dir() -> Path:
    """$LORAPLACE_PUBLISHED_DIR, else $XDG_CACHE_HOME (or ~/.cache)/loraplace/published/…"""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "loraplace" / "published" / DATASET_NAME


def _has_data(root: Path) -> bool:
    return (root / "results" / "eval_details").is_dir()


def resolve_published_dir(option: str | os.PathLike | None = None) -> Path:
    """The one place the study's released data is looked for, in order: the option
    (`--published-dir`), `$LORAPLACE_PUBLISHED_DIR`, the fetch cache once `loraplace fetch
    published` has filled it, `../shared/published/<dataset>` beside a source checkout; else the
    fetch cache's path (where `loraplace fetch published` would put it; callers say so)."""
    if option:
        return Path(option).expanduser()
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR]).expanduser()
    cache = default_published_dir()
    if _has_data(cache):
        return cache
    checkout = Path(__file__).resolve().parents[4]  # <checkout>/lib/loraplace/tracks/published/fetch.py
    beside = checkout.parent / "shared" / "published" / DATASET_NAME
    if (checkout / "pyproject.toml").is_file() and _has_data(beside):
        return beside
    return cache


def verify_published(directory: Path | str) -> list[str]:
    """Problems with `directory` against the manifest (missing, wrong size, wrong sha256).

    An empty list means every manifest file is present with the expected bytes. Files the
    manifest does not list are ignored.
    """
    root = Path(directory)
    if not root.is_dir():
        return [f"{root}: not a directory"]
    problems = []
    for e in manifest_entries():
        path = root / e.path
        if not path.is_file():
            problems.append(f"{e.path}: missing")
        elif (size := path.stat().st_size) != e.size:
            problems.append(f"{e.path}: size {size} bytes, expected {e.size}")
        elif (digest := sha256_file(path)) != e.sha256:
            problems.append(f"{e.path}: sha256 mismatch: expected {e.sha256}, got {digest}")
    return problems


def fetch_published(
    dest: Path | str,
    *,
    base_url: str = DEFAULT_BASE_URL,
    force: bool = False,
    progress: bool = True,
    workers: int = 4,
    timeout: float = 30.0,
    retries: int = 2,
) -> Path:
    """Download and verify the published data into `dest`; return `dest`.

    If `dest` already holds a complete, verified copy this is a no-op unless `force`. A `dest`
    that exists but does not verify is replaced only with `force` (it is never silently
    overwritten). Raises FetchError naming the file on any HTTP error, short read or hash
    mismatch; then neither `dest` nor any temporary directory is left behind.
    """
    dest = Path(dest).expanduser().absolute()
    if dest.exists() and not dest.is_dir():
        raise FetchError(f"{dest} exists and is not a directory")
    existing = dest.is_dir() and any(dest.iterdir())
    if existing and not force:
        problems = verify_published(dest)
        if not problems:
            _say(progress, f"{dest}: already complete and verified "
                           f"({len(manifest_entries())} files); use --force to fetch again")
            return dest
        raise FetchError(f"{dest} exists but does not verify ({len(problems)} problems, "
                         f"first: {problems[0]}); use --force to replace it")

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        _download_all(tmp, base_url.rstrip("/"), progress, workers, timeout, retries)
        problems = verify_published(tmp)  # re-read from disk: what lands is what was checked
        if problems:
            raise FetchError(f"downloaded data does not verify: {problems[0]}")
        _move_into_place(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _say(enabled: bool, message: str) -> None:
    if enabled:
        print(message, file=sys.stderr)


def _download_all(tmp: Path, base_url: str, progress: bool, workers: int, timeout: float,
                  retries: int) -> None:
    entries = manifest_entries()
    for d in {(tmp / e.path).parent for e in entries}:
        d.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    bar = tqdm(total=sum(e.size for e in entries), unit="B", unit_scale=True,
               desc="published data", disable=not progress)
    lock = threading.Lock()

    def advance(n: int) -> None:
        with lock:
            bar.update(n)

    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = [pool.submit(_fetch_one, e, base_url, tmp, timeout, retries, stop, advance)
                       for e in entries]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            errors = [f.exception() for f in done if f.exception() is not None]
            if errors:
                stop.set()
                for f in futures:
                    f.cancel()
                raise errors[0]
    finally:
        bar.close()


def _fetch_one(e: ManifestEntry, base_url: str, tmp: Path, timeout: float, retries: int,
               stop: threading.Event, advance) -> None:
    if stop.is_set():
        return
    url = f"{base_url}/{e.commit}/{urllib.parse.quote(e.path)}"
    for attempt in range(retries + 1):
        try:
            _download(url, e, tmp / e.path, timeout, stop, advance)
            return
        except _Transient as exc:
            if attempt == retries or stop.is_set():
                raise FetchError(f"{e.path}: download failed from {url}: {exc}") from exc


class _Transient(Exception):
    """A failure worth one more try (connection trouble, 5xx, short read)."""


def _download(url: str, e: ManifestEntry, out: Path, timeout: float, stop: threading.Event,
              advance) -> None:
    h, got = hashlib.sha256(), 0
    request = urllib.request.Request(url, headers={"User-Agent": "loraplace-fetch"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp, open(out, "wb") as fh:
            while chunk := resp.read(CHUNK):
                if stop.is_set():
                    return
                h.update(chunk)
                fh.write(chunk)
                got += len(chunk)
                advance(len(chunk))
                if got > e.size:
                    break
    except urllib.error.HTTPError as exc:
        if exc.code >= 500:
            raise _Transient(f"HTTP {exc.code} {exc.reason}") from exc
        raise FetchError(f"{e.path}: HTTP {exc.code} {exc.reason} from {url}") from exc
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        advance(-got)
        raise _Transient(f"{type(exc).__name__}: {exc}") from exc
    if got != e.size:
        advance(-got)
        kind = "short read" if got < e.size else "too long"
        raise _Transient(f"{kind}: got {got}{'+' if got > e.size else ''} bytes, "
                         f"expected {e.size}")
    if (digest := h.hexdigest()) != e.sha256:
        raise FetchError(f"{e.path}: sha256 mismatch (from {url}): "
                         f"expected {e.sha256}, got {digest}")


def _move_into_place(tmp: Path, dest: Path) -> None:
    """Rename `tmp` to `dest`; an existing `dest` is moved aside first and removed after."""
    if dest.is_dir() and not any(dest.iterdir()):
        dest.rmdir()
    old = None
    if dest.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
        old.rmdir()
        os.rename(dest, old)
    try:
        os.rename(tmp, dest)
    except OSError:
        if old is not None:
            os.rename(old, dest)  # put the previous copy back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
