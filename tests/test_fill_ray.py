"""`loraplace fill --engine ray` on a local Ray instance with 2 CPUs (one instance for the module):
the tiny track's entries are byte-identical to the local engine's, a second fill creates nothing,
a task killed mid-write is retried and leaves no partial entry, a failure is reported and the
finished entries stay. (The micro profile, one organism: the mechanics, at CI cost.)"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import fill_tasks
import loraplace
from loraplace.scale import ray_engine
from loraplace.scale.fill import fill, plan_tiny
from loraplace.train.cache import Cache
from test_fill import MICRO, failing, work_of, writer

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module", autouse=True)
def ray_instance():
    """Workers import loraplace and `fill_tasks` from where this process does."""
    path = [str(Path(loraplace.__file__).resolve().parents[1]), str(Path(__file__).parent),
            os.environ.get("PYTHONPATH", "")]
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING",
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in path if p)}})
    yield
    ray.shutdown()


def _contents(root) -> dict:
    return {(e.kind, e.key): e.files for e in Cache(root).entries()}


def test_ray_fill_creates_the_local_engines_bytes_and_a_second_fill_creates_nothing(tmp_path):
    on_ray = fill(plan_tiny(MICRO, tmp_path / "ray", ("parallel",)), engine="ray", progress=False)
    local = fill(plan_tiny(MICRO, tmp_path / "local", ("parallel",)), engine="local", workers=1, progress=False)
    assert on_ray.errors == () and (on_ray.created, on_ray.failed) == (on_ray.entries, 0) == (local.created, 0)
    assert not Cache(tmp_path / "ray").verify()
    assert _contents(tmp_path / "ray") == _contents(tmp_path / "local")  # same keys, same file sha256s
    again = fill(plan_tiny(MICRO, tmp_path / "ray", ("parallel",)), engine="ray", progress=False)
    assert (again.created, again.reused, again.tasks_run) == (0, on_ray.entries, 0)


def test_a_task_killed_mid_write_is_retried_on_ray(tmp_path):
    marker = tmp_path / "died"
    events = []
    outcomes = ray_engine.run([writer(tmp_path / "cache", "killed", die_marker=str(marker))], retries=2,
                              on_event=lambda kind, task_id: events.append(kind), poll_s=0.2)
    assert marker.exists() and outcomes["write/killed"].ok and outcomes["write/killed"].attempts == 2
    assert "retry" in events and events[-1] == "done"
    assert not Cache(tmp_path / "cache").verify()
    assert [sorted(e.files) for e in Cache(tmp_path / "cache").entries()] == [["part1.bin", "part2.bin"]]
    assert not list((tmp_path / "cache").glob("*/.*.tmp-*"))


def test_a_failure_on_ray_is_reported_and_finished_entries_stay(tmp_path):
    tasks = [failing(), writer(tmp_path, "after-boom", deps=["fail/boom"]), writer(tmp_path, "independent")]
    result = fill(work_of(tmp_path, tasks), engine="ray", retries=2, progress=False)
    assert (result.entries, result.created, result.failed) == (3, 1, 2)
    errors = {e["task"]: e for e in result.errors}
    assert errors["fail/boom"]["attempts"] == 3 and "boom went wrong" in errors["fail/boom"]["error"]
    assert errors["write/after-boom"] == {"task": "write/after-boom", "attempts": 0,
                                          "error": "dependency fail/boom failed"}
    assert fill_tasks.probe(str(tmp_path), ["independent"]) == {"fill-test/independent": True}
