"""`loraplace fill` without Ray: the task graph of both tracks, the local engine's order, retries
and failure reports, a second fill that creates nothing, and the paper tasks' GPU request."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import fill_tasks
from loraplace import cli
from loraplace.scale import graph, local, ray_engine
from loraplace.scale.fill import Work, check_engine, fill, plan_tiny
from loraplace.scale.graph import Task
from loraplace.tracks.tiny import track as tiny
from loraplace.train.cache import Cache

MICRO = dataclasses.replace(
    tiny.PROFILES["smoke"], name="micro", hidden_size=32, pretrain_steps=4, pretrain_batch=2, pretrain_seq_len=63,
    seq_len=47, finetune_steps=2, finetune_batch=2, seeds=(0,), items=tiny.item_counts(3, 2, 3), max_new_tokens=4,
    code_tokens=4)


def writer(root, name, deps=(), die_marker=None) -> Task:
    return Task(f"write/{name}", "fill_tasks:write_entry", (str(root), name, die_marker),
                (f"{fill_tasks.KIND}/{name}",), deps=tuple(deps))


def failing(name="boom") -> Task:
    return Task(f"fail/{name}", "fill_tasks:fail_always", (f"{name} went wrong",), (f"{fill_tasks.KIND}/{name}",))


def work_of(root, tasks) -> Work:
    names = [e.split("/", 1)[1] for t in tasks for e in t.entries]
    return Work("test", "none", str(root), tuple(tasks), lambda: fill_tasks.probe(str(root), names), 2)


def test_order_puts_dependencies_first_and_refuses_cycles():
    a, b, c = (Task(i, "m:f", (), (), deps=d) for i, d in (("a", ("b",)), ("b", ("c",)), ("c", ())))
    assert [t.id for t in graph.ordered([a, b, c])] == ["c", "b", "a"]
    assert [t.id for t in graph.ordered([a])] == ["a"]  # a dependency outside the list is satisfied
    with pytest.raises(ValueError, match="cycle"):
        graph.ordered([Task("x", "m:f", (), (), deps=("y",)), Task("y", "m:f", (), (), deps=("x",))])
    with pytest.raises(ValueError, match="duplicate"):
        graph.ordered([c, c])


def test_tiny_plan_orders_pretraining_adapters_and_evaluations():
    tasks = plan_tiny(MICRO, "/nowhere").tasks
    specs = tiny.specs(MICRO)
    assert len(specs) == 4 and len(tasks) == sum(2 + 2 * len(tiny.runs_of(MICRO, s)) for s in specs.values())
    by_id = {t.id: t for t in tasks}
    for t in tasks:
        kind = t.id.split("/")[0]
        organism = t.id.split("/")[1]
        assert (t.num_cpus, t.num_gpus, t.fresh_process) == (1.0, 0.0, False)
        expected = {"pretrain": (), "base-eval": (f"pretrain/{organism}",), "adapter": (f"pretrain/{organism}",),
                    "eval": ("adapter/" + t.id.split("/", 1)[1],)}[kind]
        assert t.deps == expected and all(d in by_id for d in t.deps)
    entries = [e for t in tasks for e in t.entries]
    assert len(entries) == len(set(entries))
    probe = plan_tiny(MICRO, "/nowhere").probe()
    assert set(probe) == set(entries) and not any(probe.values())
    only = plan_tiny(MICRO, "/nowhere", ("parallel",)).tasks  # a topology names the study's organism of it
    assert len(only) == 2 + 2 * len(tiny.runs_of(MICRO, specs["tiny_falcon_h1"]))
    assert all(t.id.split("/")[1] == "tiny_falcon_h1" for t in only)
    bamba = plan_tiny(MICRO, "/nowhere", ("tiny_bamba",)).tasks
    assert len(bamba) == 2 + 2 * len(tiny.runs_of(MICRO, specs["tiny_bamba"])) < len(only)
    with pytest.raises(ValueError, match="Available: tiny_qwen3_5, tiny_falcon_h1, tiny_bamba"):
        plan_tiny(MICRO, "/nowhere", ("hybrid",))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failed_task_is_retried_then_reported_and_finished_entries_stay(tmp_path, workers):
    tasks = [failing(), writer(tmp_path, "after-boom", deps=["fail/boom"]), writer(tmp_path, "independent")]
    events = []
    outcomes = local.run(tasks, workers=workers, retries=2, on_event=lambda k, i: events.append((k, i)))
    assert outcomes["fail/boom"] == graph.Outcome("fail/boom", False, 3, "RuntimeError: boom went wrong")
    assert outcomes["write/after-boom"] == graph.Outcome("write/after-boom", False, 0, "dependency fail/boom failed")
    assert outcomes["write/independent"].ok
    assert events.count(("retry", "fail/boom")) == 2 and events.count(("start", "fail/boom")) == 3
    assert ("start", "write/after-boom") not in events
    assert fill_tasks.probe(str(tmp_path), ["independent", "after-boom"]) == {
        "fill-test/independent": True, "fill-test/after-boom": False}


def test_a_task_killed_mid_write_is_retried_and_leaves_no_partial_entry(tmp_path):
    marker = tmp_path / "died"
    tasks = [writer(tmp_path / "cache", "killed", die_marker=str(marker)), writer(tmp_path / "cache", "other")]
    outcomes = local.run(tasks, workers=2, retries=2)
    assert marker.exists()  # the first attempt did die
    assert outcomes["write/killed"].ok and outcomes["write/killed"].attempts == 2
    cache = Cache(tmp_path / "cache")
    assert not cache.verify()
    assert [sorted(e.files) for e in cache.entries()] == [["part1.bin", "part2.bin"]] * 2  # whole entries only
    assert not list((tmp_path / "cache").glob("*/.*.tmp-*"))  # the retry removed the half-written dir


def test_fill_counts_entries_and_a_second_fill_creates_nothing(tmp_path):
    work = work_of(tmp_path, [writer(tmp_path, "a"), writer(tmp_path, "b", deps=["write/a"]), failing()])
    first = fill(work, engine="local", workers=1, retries=0, progress=False)
    assert (first.entries, first.created, first.reused, first.failed, first.tasks_run) == (3, 2, 0, 1, 3)
    assert [e["task"] for e in first.errors] == ["fail/boom"]
    second = fill(work_of(tmp_path, work.tasks[:2]), engine="local", progress=False)
    assert (second.created, second.reused, second.failed, second.tasks_run, second.errors) == (0, 2, 0, 0, ())
    assert set(second.to_json()) >= {"engine", "entries", "created", "reused", "failed", "wall_s"}


def test_an_entry_the_driver_cannot_see_counts_as_failed(tmp_path):
    # the task writes into another directory, as a worker would without a shared cache dir
    task = writer(tmp_path / "elsewhere", "a")
    here = str(tmp_path / "here")
    work = Work("test", "none", here, (task,), lambda: fill_tasks.probe(here, ["a"]), 1)
    result = fill(work, engine="local", progress=False)
    assert (result.created, result.failed) == (0, 1)
    assert "is the cache directory shared" in result.errors[0]["error"]


def test_unknown_engine_lists_the_choices(capsys):
    with pytest.raises(ValueError, match="Unknown engine 'spark'. Available: local, ray"):
        check_engine("spark")
    assert cli.main(["fill", "--engine", "spark", "--cache-dir", "/nowhere"]) == 2
    assert "Available: local, ray" in capsys.readouterr().err


def test_gpu_tasks_are_refused_by_a_cluster_without_gpus():
    task = Task("run/x", "m:f", (), (), num_gpus=1.0)
    with pytest.raises(ValueError, match="1 GPU each but the Ray cluster has 0"):
        ray_engine.check_resources([task], {"CPU": 2.0})
    ray_engine.check_resources([task], {"CPU": 2.0, "GPU": 1.0})


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    from loraplace.tracks.paper import toy as paper_toy
    root = tmp_path_factory.mktemp("fill-paper")
    return dict(paper_toy.write_all(root / "inputs"), cache=root / "cache")


def test_paper_plan_submits_one_gpu_per_run_in_a_fresh_process(toy):
    from loraplace.scale.fill import plan_paper
    from loraplace.tracks.paper import plan as paper_plan

    work = plan_paper("smoke", toy["cache"], models=toy["paper_models"], data_dir=toy["paper_data"])
    runs = paper_plan.plan(paper_plan.profile("smoke"))
    assert len(work.tasks) == len(runs) == 38
    for t in work.tasks:
        opts = ray_engine.options(t, retries=2)
        assert (opts["num_gpus"], opts["num_cpus"], opts["max_retries"]) == (1.0, 1.0, 2) and opts["retry_exceptions"]
        assert t.fresh_process and t.deps == ()
        assert len(t.entries) == (1 if t.id.startswith("base-eval/") else 2)
    assert set(work.probe()) == {e for t in work.tasks for e in t.entries}


def test_paper_tasks_build_the_entries_a_session_reads(toy):
    """One fine-tuning run through the local engine (CPU): its adapter and records exist
    afterwards exactly where the pytest session's `build_paper` looks for them."""
    from loraplace.scale.fill import plan_paper
    from loraplace.tracks.paper import track as paper

    work = plan_paper("smoke", toy["cache"], models=toy["paper_models"], data_dir=toy["paper_data"], device="cpu")
    assert work.tasks[1].id.startswith("run/")
    result = fill(dataclasses.replace(work, tasks=(work.tasks[1],)), engine="local", progress=False)
    assert (result.entries, result.created, result.failed, result.errors) == (2, 2, 0, ())
    session = paper.prepare("smoke", models=toy["paper_models"], data_dir=toy["paper_data"],
                            cache=Cache(toy["cache"]), progress=False)
    assert [session.present(r) for r in session.runs[:3]] == [False, True, False]


def test_fill_command_json(tmp_path, capsys, monkeypatch):
    import loraplace.scale.fill as fill_module

    monkeypatch.setattr(fill_module, "plan_tiny", lambda p, root, topologies=None: work_of(root, [writer(root, "a")]))
    assert cli.main(["fill", "--evidence", "tiny", "--profile", "smoke", "--cache-dir", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["engine"], out["entries"], out["created"], out["reused"], out["failed"]) == ("local", 1, 1, 0, 0)
    assert Path(out["cache_dir"]) == tmp_path.resolve()
