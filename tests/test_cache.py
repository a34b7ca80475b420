"""The content-addressed cache: keys, verification, concurrency, crash safety, the CLI."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from loraplace.cli import main
from loraplace.train.cache import SIDECAR, Cache

SPEC = {"model": "tiny_qwen3_5", "condition": "attention_only", "domain": "gsm8k_train", "seed": 1, "lr": 1e-3}


def _write(tmp, text="weights"):
    (tmp / "adapter.safetensors").write_text(text)
    (tmp / "config.json").write_text("{}")


def test_created_once_then_loaded(tmp_path):
    cache, calls = Cache(tmp_path), []
    def create(tmp):
        calls.append(tmp)
        _write(tmp)
    first = cache.get_or_create("adapter", SPEC, create)
    again = cache.get_or_create("adapter", dict(reversed(list(SPEC.items()))), create)  # key order irrelevant
    assert first == again and len(calls) == 1
    meta = json.loads((first / SIDECAR).read_text())
    assert meta["spec"] == SPEC and set(meta["files"]) == {"adapter.safetensors", "config.json"}
    assert meta["libraries"]["torch"] != "absent"


def test_every_spec_field_is_part_of_the_key(tmp_path):
    cache = Cache(tmp_path)
    keys = {cache.key("adapter", dict(SPEC, **{k: "changed"})) for k in SPEC} | {cache.key("adapter", SPEC),
                                                                                 cache.key("base", SPEC)}
    assert len(keys) == len(SPEC) + 2


def test_corrupted_entry_is_recreated_with_a_warning(tmp_path):
    cache = Cache(tmp_path)
    path = cache.get_or_create("adapter", SPEC, _write)
    (path / "adapter.safetensors").write_text("tampered")
    assert cache.verify() == [(path, ["sha256 mismatch in adapter.safetensors"])]
    with pytest.warns(RuntimeWarning, match="corrupted .*sha256 mismatch"):
        again = cache.get_or_create("adapter", SPEC, _write)
    assert (again / "adapter.safetensors").read_text() == "weights" and cache.verify() == []


def test_failed_create_leaves_nothing(tmp_path):
    cache = Cache(tmp_path)
    def boom(tmp):
        _write(tmp)
        raise RuntimeError("training diverged")
    with pytest.raises(RuntimeError):
        cache.get_or_create("adapter", SPEC, boom)
    assert not cache.path("adapter", SPEC).exists() and list(cache.entries()) == []
    assert not list((tmp_path / "adapter").glob(".*tmp-*"))


_CHILD = textwrap.dedent("""
    import sys, time, os
    from pathlib import Path
    from loraplace.train.cache import Cache
    root, log, mode = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    def create(tmp):
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()}\\n")
        (tmp / "a.bin").write_text("x" * 1000)
        if mode == "hang":
            (Path(root) / "started").write_text("1")
            time.sleep(60)
        time.sleep(1.0)
        (tmp / "b.bin").write_text("y")
    print(Cache(root).get_or_create("adapter", {"seed": 1}, create))
""")


def _child(tmp_path, mode):
    return subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path), str(tmp_path / "log"), mode],
                            stdout=subprocess.PIPE, text=True)


def test_two_processes_create_an_entry_once(tmp_path):
    procs = [_child(tmp_path, "ok") for _ in range(2)]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outs[0] == outs[1]
    assert len((tmp_path / "log").read_text().split()) == 1  # trained once


def test_process_killed_mid_write_leaves_no_readable_entry(tmp_path):
    proc = _child(tmp_path, "hang")
    deadline = time.monotonic() + 30
    while not (tmp_path / "started").exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    cache = Cache(tmp_path)
    assert not cache.path("adapter", {"seed": 1}).exists() and list(cache.entries()) == []
    assert cache.prune()  # the abandoned temporary directory
    path = cache.get_or_create("adapter", {"seed": 1}, _write)  # the lock was released by the kill
    assert cache.verify() == [] and path.exists()


def test_cache_cli(tmp_path, capsys):
    cache = Cache(tmp_path)
    path = cache.get_or_create("adapter", SPEC, _write)
    assert main(["cache", "ls", "--cache-dir", str(tmp_path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["key"] for r in rows] == [path.name] and rows[0]["spec"] == SPEC
    assert main(["cache", "verify", "--cache-dir", str(tmp_path)]) == 0
    (path / "config.json").unlink()
    capsys.readouterr()
    assert main(["cache", "verify", "--cache-dir", str(tmp_path)]) == 1
    assert "missing file config.json" in capsys.readouterr().out
    assert main(["cache", "prune", "--cache-dir", str(tmp_path)]) == 0
    assert not path.exists()


def test_cache_ls_says_what_each_entry_is(tmp_path, capsys):
    """Model, condition, domain and seed come from the entry's spec (a run's records nest them in `run`)."""
    cache = Cache(tmp_path)
    cache.get_or_create("tiny-adapter", {"organism": "tiny_bamba", "condition": "attention_only",
                                         "domain": "gsm8k_train", "seed": 2}, _write)
    cache.get_or_create("tiny-records", {"run": {"model": "tiny_qwen3_5", "condition": "full", "domain": "base",
                                                 "seed": 0}}, _write)
    assert main(["cache", "ls", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "tiny_bamba attention_only gsm8k_train seed 2" in out
    assert "tiny_qwen3_5 full base seed 0" in out
    assert main(["cache", "ls", "--cache-dir", str(tmp_path), "--json"]) == 0
    rows = {r["kind"]: r for r in json.loads(capsys.readouterr().out)}
    assert (rows["tiny-adapter"]["model"], rows["tiny-adapter"]["seed"]) == ("tiny_bamba", 2)


def test_cache_ls_refuses_a_kind_it_does_not_have_and_lists_those_it_has(tmp_path, capsys):
    Cache(tmp_path).get_or_create("tiny-adapter", SPEC, _write)
    assert main(["cache", "ls", "--cache-dir", str(tmp_path), "--kind", "adapter"]) == 2
    err = capsys.readouterr().err
    assert "Unknown kind 'adapter'" in err and "Available: tiny-adapter" in err


def test_cache_ls_into_a_closed_pipe_exits_quietly(tmp_path):
    """`loraplace cache ls | head -1`: the reader leaves early; no traceback, exit 0 (the listing is
    larger than a pipe's buffer, so the writer does meet the closed pipe)."""
    cache = Cache(tmp_path)
    for seed in range(300):
        cache.get_or_create("tiny-adapter", {**SPEC, "seed": seed}, _write)
    cmd = f"{sys.executable} -m loraplace.cli cache ls --json --cache-dir {tmp_path} | head -1"
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_version():
    from importlib import metadata

    proc = subprocess.run([sys.executable, "-m", "loraplace.cli", "--version"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == f"loraplace {metadata.version('loraplace')}"
