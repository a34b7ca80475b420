"""The tiny track's parallel cache fill: worker processes create exactly the bytes an in-process
build creates, a warm build starts no workers, and a worker's error reaches the caller."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from loraplace.tracks.tiny import build as tiny_build
from loraplace.tracks.tiny import evaluate as tiny_eval
from loraplace.tracks.tiny import pool as tiny_pool
from loraplace.tracks.tiny import track as tiny
from loraplace.train.cache import Cache

# A profile small enough to build twice in a test (the organisms are not competent: mechanics only).
MICRO = dataclasses.replace(
    tiny.PROFILES["smoke"], name="micro", hidden_size=32, pretrain_steps=4, pretrain_batch=2, pretrain_seq_len=63,
    seq_len=47, finetune_steps=2, finetune_batch=2, seeds=(0,), items=tiny.item_counts(3, 2, 3), max_new_tokens=4,
    code_tokens=4)


def _contents(cache: Cache) -> dict[tuple[str, str], dict]:
    """(kind, key) -> {file: sha256} of every entry; the entries must all verify."""
    entries = list(cache.entries())
    assert entries and not [e.path for e in entries if e.problems()]
    return {(e.kind, e.key): e.files for e in entries}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-pool")
    caches = {"workers": Cache(root / "workers"), "in_process": Cache(root / "in_process")}
    return caches, {
        "workers": tiny_build.build_tiny(MICRO, cache=caches["workers"], workers=2, progress=False),
        "in_process": tiny_build.build_tiny(MICRO, cache=caches["in_process"], workers=1, progress=False),
    }


def test_workers_and_in_process_build_create_identical_entries(built):
    caches, ev = built
    assert ev["workers"].source["filled_by_workers"] == 2
    assert ev["in_process"].source["filled_by_workers"] == 0
    n_runs = sum(1 + len(tiny.runs_of(MICRO, spec)) for spec in tiny.specs(MICRO).values())  # base + its runs
    assert len({r.run for r in ev["workers"].records}) == n_runs
    assert _contents(caches["workers"]) == _contents(caches["in_process"])  # same keys, same file hashes
    assert tiny_eval.records_digest(ev["workers"].records) == tiny_eval.records_digest(ev["in_process"].records)


def test_warm_build_starts_no_workers(built, monkeypatch):
    caches, ev = built

    def no_fill(*args, **kwargs):
        raise AssertionError("a warm build must not start the worker pool")

    monkeypatch.setattr(tiny_pool, "fill", no_fill)
    again = tiny_build.build_tiny(MICRO, cache=caches["workers"], workers=2, progress=False)
    assert again.source["filled_by_workers"] == 0
    assert tiny_eval.records_digest(again.records) == tiny_eval.records_digest(ev["workers"].records)


def test_a_worker_error_reaches_the_caller(tmp_path):
    broken = dataclasses.replace(MICRO, name="broken", items=(("gsm8k", 2), ("no_such_benchmark", 2)))
    with pytest.raises(ValueError, match="no_such_benchmark"):
        tiny_build.build_tiny(broken, cache=Cache(tmp_path), workers=2, progress=False)
    assert not list(Cache(tmp_path).entries("tiny-records"))  # nothing half-written was kept


def test_entries_are_created_single_threaded_and_the_caller_threads_restored():
    was = torch.get_num_threads()
    with tiny.single_threaded():
        assert torch.get_num_threads() == tiny.THREADS == 1
    assert torch.get_num_threads() == was


def test_default_workers_follows_the_cpus_and_the_environment(monkeypatch):
    monkeypatch.delenv("LORAPLACE_WORKERS", raising=False)
    monkeypatch.setattr(tiny_build.os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert tiny_build.default_workers() == tiny_build.MAX_DEFAULT_WORKERS
    monkeypatch.setattr(tiny_build.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert tiny_build.default_workers() == 2
    monkeypatch.setenv("LORAPLACE_WORKERS", "12")
    assert tiny_build.default_workers() == 12
    monkeypatch.setenv("LORAPLACE_WORKERS", "two")
    with pytest.raises(ValueError, match="LORAPLACE_WORKERS"):
        tiny_build.default_workers()


def test_bases_only_fill_pretrains_and_evaluates_the_bases_and_nothing_else(tmp_path):
    tiny_pool.fill(MICRO, tmp_path, workers=2, progress=False, bases_only=True)
    kinds = sorted(e.kind for e in Cache(tmp_path).entries())
    n = len(tiny.specs(MICRO))
    assert kinds == ["tiny-base"] * n + ["tiny-records"] * n  # one base and its evaluation per organism
