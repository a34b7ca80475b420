"""`loraplace fetch published` against a local HTTP server that plays raw.githubusercontent.com.

The server serves `/<commit>/<path>` from the local copy of the study's data (only at the
commit the manifest names for that path) and can be told to tamper with, withhold or
truncate one file. No network beyond 127.0.0.1.
"""
from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from loraplace import cli
from loraplace.tracks.published.fetch import (
    FetchError,
    default_published_dir,
    fetch_published,
    load_manifest,
    manifest_entries,
    resolve_published_dir,
    verify_published,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
SRC = resolve_published_dir()
pytestmark = pytest.mark.skipif(
    not SRC.is_dir(), reason=f"local copy of the published data not found at {SRC} "
                             "(set LORAPLACE_PUBLISHED_DIR)")

DATA_COMMIT = "4972e7b0dd2ac5579dd218ce44e32f1307cc2438"
INDICES_COMMIT = "3d98377d2567bbd7e35c7d77890199cca00f0e75"
VICTIM = "results/eval_details/qwen3_5_0_8b_base__base__mmlu.jsonl"


class FakeGitHub(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.commit_of = {e.path: e.commit for e in manifest_entries()}
        self.faults: dict[str, str] = {}  # path -> "tamper" | "missing" | "truncate"
        self.requests = 0
        self.hits: Counter[str] = Counter()  # requests per path
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeGitHub

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.requests += 1
        commit, _, rel = self.path.lstrip("/").partition("/")
        with self.server.lock:
            self.server.hits[rel] += 1
        fault = self.server.faults.get(rel)
        if self.server.commit_of.get(rel) != commit or fault == "missing":
            self.send_error(404, "Not Found")
            return
        body = (self.server.root / rel).read_bytes()
        if fault == "tamper":
            body = bytes([body[0] ^ 1]) + body[1:]  # same size, different bytes
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if fault == "truncate" else body)


@pytest.fixture(scope="module")
def github():
    server = FakeGitHub(SRC)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def server(github):
    github.faults.clear()
    yield github
    github.faults.clear()


def fetch(dest: Path, server: FakeGitHub, **kw) -> Path:
    return fetch_published(dest, base_url=server.base_url, progress=False, **kw)


def test_manifest_covers_local_copy_at_pinned_commits():
    manifest = load_manifest()
    assert manifest["commits"] == {"data": DATA_COMMIT, "eval_indices": INDICES_COMMIT}
    entries = manifest_entries()
    paths = {e.path for e in entries}
    for top in ("results/", "tables/", "stats/"):
        assert any(p.startswith(top) for p in paths), top
    for e in entries:
        want = INDICES_COMMIT if e.path.startswith("results/eval_indices/") else DATA_COMMIT
        assert e.commit == want, e.path
        assert len(e.sha256) == 64 and e.size >= 0
    assert verify_published(SRC) == []


def test_full_fetch_verifies_every_file(server, tmp_path):
    dest = tmp_path / "published"
    assert fetch(dest, server) == dest.absolute()
    assert verify_published(dest) == []
    n_files = sum(1 for p in dest.rglob("*") if p.is_file())
    assert n_files == len(manifest_entries())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["published"]  # no temp dirs left


@pytest.mark.parametrize("fault, expect", [
    ("tamper", "sha256 mismatch"),
    ("missing", "HTTP 404"),
    ("truncate", "download failed"),
])
def test_bad_download_raises_and_leaves_nothing(server, tmp_path, fault, expect):
    server.faults[VICTIM] = fault
    dest = tmp_path / "published"
    with pytest.raises(FetchError) as info:
        fetch(dest, server, retries=0)
    message = str(info.value)
    assert VICTIM in message and expect in message
    if fault == "tamper":
        want = next(e.sha256 for e in manifest_entries() if e.path == VICTIM)
        assert f"expected {want}, got " in message
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []


def test_truncated_download_is_retried_then_refused(server, tmp_path):
    server.faults[VICTIM] = "truncate"
    server.hits.clear()
    with pytest.raises(FetchError, match="short read|IncompleteRead") as info:
        fetch(tmp_path / "published", server, retries=1, workers=1)
    assert VICTIM in str(info.value)
    assert server.hits[VICTIM] == 2  # one retry, then refused
    assert list(tmp_path.iterdir()) == []


def test_rerun_on_complete_dest_is_a_noop_and_force_refetches(server, tmp_path, capsys):
    dest = tmp_path / "published"
    fetch(dest, server)
    before = server.requests
    fetch_published(dest, base_url=server.base_url, progress=True)
    assert server.requests == before
    assert "already complete and verified" in capsys.readouterr().err

    fetch(dest, server, force=True)
    assert server.requests - before == len(manifest_entries())
    assert verify_published(dest) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["published"]


def test_damaged_dest_is_refused_without_force_and_repaired_with_it(server, tmp_path):
    dest = tmp_path / "published"
    fetch(dest, server)
    (dest / VICTIM).write_text("not the data\n")
    (dest / "stats" / "README.md").unlink()
    problems = verify_published(dest)
    assert any(p.startswith(f"{VICTIM}: size") for p in problems)
    assert "stats/README.md: missing" in problems
    with pytest.raises(FetchError, match="does not verify.*--force"):
        fetch(dest, server)
    assert (dest / VICTIM).read_text() == "not the data\n"  # untouched

    server.faults[VICTIM] = "tamper"  # a failed forced refetch keeps the old copy
    with pytest.raises(FetchError):
        fetch(dest, server, force=True, retries=0)
    assert (dest / VICTIM).read_text() == "not the data\n"

    server.faults.clear()
    fetch(dest, server, force=True)
    assert verify_published(dest) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["published"]


def test_verify_reports_hash_mismatch_and_missing_dir(tmp_path):
    assert verify_published(tmp_path / "nope") == [f"{tmp_path / 'nope'}: not a directory"]
    e = next(e for e in manifest_entries() if e.size > 0)
    (tmp_path / e.path).parent.mkdir(parents=True, exist_ok=True)
    data = bytearray((SRC / e.path).read_bytes())
    data[0] ^= 1
    (tmp_path / e.path).write_bytes(bytes(data))
    problems = verify_published(tmp_path)
    assert f"{e.path}: sha256 mismatch: expected {e.sha256}, got " in "\n".join(problems)
    assert len(problems) == len(manifest_entries())


def test_default_dir_from_env_then_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("LORAPLACE_PUBLISHED_DIR", str(tmp_path / "mine"))
    assert default_published_dir() == tmp_path / "mine"
    monkeypatch.delenv("LORAPLACE_PUBLISHED_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_published_dir() == (
        tmp_path / "cache" / "loraplace" / "published" / "hecboar-lora-placement-hybrid")


def test_cli_fetch_published(server, tmp_path, capsys):
    dest = tmp_path / "published"
    argv = ["fetch", "published", "--dest", str(dest), "--base-url", server.base_url]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert str(dest) in out and "207 files verified" in out and DATA_COMMIT[:12] in out
    assert verify_published(dest) == []

    server.faults[VICTIM] = "missing"
    assert cli.main(argv + ["--force", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "error" in err and VICTIM in err
    assert verify_published(dest) == []  # the good copy survived


def test_cli_rejects_unknown_target():
    with pytest.raises(SystemExit):
        cli.main(["fetch", "everything"])


def test_manifest_is_hashes_not_data():
    raw = json.loads((REPO_ROOT / "lib/loraplace/data/published_manifest.json").read_text())
    assert set(raw["files"][0]) == {"path", "sha256", "size", "commit"}


def test_one_resolver_option_then_env_then_fetch_cache_then_shared_beside_the_checkout(monkeypatch, tmp_path):
    from loraplace.tracks.published import fetch
    def data(root):
        (root / "results" / "eval_details").mkdir(parents=True)
        return root

    monkeypatch.setenv("LORAPLACE_PUBLISHED_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_published_dir(tmp_path / "opt") == tmp_path / "opt"
    assert resolve_published_dir() == tmp_path / "env"
    monkeypatch.delenv("LORAPLACE_PUBLISHED_DIR")
    cache = tmp_path / "xdg" / "loraplace" / "published" / fetch.DATASET_NAME
    checkout = Path(fetch.__file__).resolve().parents[4]
    beside = checkout.parent / "shared" / "published" / fetch.DATASET_NAME
    # nothing fetched: the checkout's neighbour if it is there, else where fetch would put it
    assert resolve_published_dir() == (beside if (beside / "results" / "eval_details").is_dir() else cache)
    data(cache)
    assert resolve_published_dir() == cache  # once fetched, the fetch cache wins over ../shared
