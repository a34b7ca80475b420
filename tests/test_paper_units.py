"""The paper track's parts that need no training: plan, data, models, GPU placement, the repro check."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from loraplace.study import DOMAINS, MODELS, ROLES
from loraplace.tracks.paper import toy as paper_toy
from loraplace.tracks.paper.data import SOURCES, PaperDataError, load_dataset_rows
from loraplace.tracks.paper.models import PaperModelError, inspect_model, resolve_models
from loraplace.tracks.paper.plan import PLAN_KEYS, plan, profile
from loraplace.tracks.paper.track import eval_rows, gpu_for_worker

REPO = Path(__file__).resolve().parents[1]


def _recipe_table(published_dir: Path) -> dict[str, str]:
    """The `| Parameter | Value |` rows of the study's REPRODUCIBILITY.md."""
    text = (published_dir / "REPRODUCIBILITY.md").read_text(encoding="utf-8")
    return {m[1].strip(): m[2].strip() for m in re.finditer(r"^\|([^|\n]+)\|([^|\n]+)\|\s*$", text, re.M)}


def test_study_plan_lists_the_36_runs_with_the_published_recipe(published_dir):
    table = _recipe_table(published_dir)
    out = subprocess.run([sys.executable, "-m", "loraplace.cli", "plan", "--evidence", "paper", "--profile", "study",
                          "--json"], capture_output=True, text=True, check=True)
    data = json.loads(out.stdout)
    runs = [r for r in data["runs"] if r["kind"] == "finetune+eval"]
    n_models, n_seeds = len(MODELS), 1  # the study: 2 models, single seed 3407
    assert len(runs) == n_models * len(ROLES) * len(DOMAINS) == data["finetune_runs"]
    assert data["base_evaluations"] == n_models
    assert len({(r["model"], r["condition"], r["domain"], r["seed"]) for r in runs}) == len(runs)
    for r in runs:
        assert set(PLAN_KEYS) <= set(r)
        assert r["rank"] == int(table["Rank `r`"])
        assert r["lora_alpha"] == int(table["`alpha`"].split()[0])
        assert r["lora_dropout"] == float(table["Dropout"])
        assert r["learning_rate"] == float(table["Learning rate"])
        assert r["epochs"] == float(table["Epochs"])
        assert r["effective_batch_size"] == int(table["Effective batch size"].split()[0])
        assert r["seq_len"] == int(table["Max sequence length"].replace(",", ""))
        assert r["seed"] == int(re.search(r"\d+", table["Random seed"])[0]) and n_seeds == 1
        assert r["drawn_examples"] == 2000  # REPRODUCIBILITY.md: 2,000 train samples per domain
        # of which the notebook's prepare_training_dataset holds out min(max(64, 5 %), 256) = 100
        held_out = min(max(64, int(0.05 * 2000)), 256)
        assert (r["train_examples"], r["validation_examples"]) == (2000 - held_out, held_out) == (1900, 100)
        assert r["protocol"] == "study"
    # the study's own condition names, per model
    assert {r["condition"] for r in runs if r["model"] == "qwen3_5_0_8b_base"} == set(MODELS["qwen3_5_0_8b_base"].conditions.values())
    assert data["estimate"]["gpu_hours"] > 0


def test_full_profile_has_three_seeds_and_the_full_splits():
    p = profile("full")
    runs = plan(p)
    assert len(p.seeds) == 3 and sum(not r.is_base for r in runs) == 2 * 6 * 3 * 3
    assert profile("default") == profile("study")
    with pytest.raises(ValueError, match="Available: smoke, study, full"):
        profile("huge")


@pytest.mark.parametrize("worker, visible, count, want", [
    ("gw0", None, 4, "0"), ("gw5", None, 4, "1"), ("gw1", "2,5", 8, "5"), ("gw2", "2,5", 8, "2"),
    (None, None, 4, None), ("gw0", None, 0, None), ("master", None, 2, None)])
def test_each_xdist_worker_takes_its_own_gpu(worker, visible, count, want):
    assert gpu_for_worker(worker, visible, count) == want


def test_local_data_is_validated_with_file_line_and_field(tmp_path):
    paper_toy.write_data(tmp_path, n=3)
    lines = (tmp_path / "mmlu.jsonl").read_text().splitlines()
    bad = json.loads(lines[1])
    del bad["subject"]
    (tmp_path / "mmlu.jsonl").write_text("\n".join([lines[0], json.dumps(bad), lines[2]]) + "\n")
    with pytest.raises(PaperDataError, match=r"mmlu\.jsonl:2: missing field 'subject'"):
        load_dataset_rows("mmlu", tmp_path)
    with pytest.raises(PaperDataError, match=r"no file .*nothing\.jsonl|Unknown dataset 'nothing'"):
        load_dataset_rows("nothing", tmp_path)
    (tmp_path / "arc_challenge.jsonl").unlink()
    with pytest.raises(PaperDataError, match=r"arc_challenge.*--paper-data DIR with arc_challenge\.jsonl "
                                             r"\(fields: id, question, choices, answerKey\)"):
        load_dataset_rows("arc_challenge", tmp_path)


def test_rows_carry_their_benchmark_index(tmp_path):
    paper_toy.write_data(tmp_path, n=10)
    ds = load_dataset_rows("mmlu", tmp_path)
    assert [r["_index"] for r in ds.rows] == list(range(10))


def test_study_profile_evaluates_exactly_the_released_subsets(tmp_path, published_dir):
    """Every benchmark's rows are the union of the study's eval_indices files (read here directly)."""
    want: dict[str, set] = {}
    for path in (published_dir / "results" / "eval_indices").glob("indices__*.json"):
        want.setdefault(path.name.split("__")[1], set()).update(json.loads(path.read_text()))
    size = max(max(v) for v in want.values()) + 1
    for name in SOURCES:
        rows = paper_toy.rows(name, 1 if name in DOMAINS else size)
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    rows, _ = eval_rows(profile("study"), tmp_path, published_dir)
    assert {b: {r["_index"] for r in rs} for b, rs in rows.items()} == want
    # a local file shorter than the study's split is refused, naming the benchmark
    (tmp_path / "hellaswag.jsonl").write_text("".join(json.dumps(r) + "\n" for r in paper_toy.rows("hellaswag", 20)))
    with pytest.raises(PaperDataError, match="hellaswag.*provide the whole split"):
        eval_rows(profile("study"), tmp_path, published_dir)


def test_model_specs_are_checked(tmp_path):
    with pytest.raises(PaperModelError, match="unknown topology 'serial'"):
        resolve_models(["serial=/x"])
    with pytest.raises(PaperModelError, match="expected TOPOLOGY=ID_OR_DIR"):
        resolve_models(["sequential"])
    refs = resolve_models([f"sequential={tmp_path / 'missing'}"])
    assert refs["parallel"].source == "tiiuae/Falcon-H1-0.5B-Base" and refs["parallel"].key == "falcon_h1_0_5b_base"
    with pytest.raises(PaperModelError, match=r"no such directory\. To provide it: pass --paper-model sequential=DIR"):
        inspect_model(refs["sequential"])


def test_a_checkpoint_given_the_wrong_topology_is_refused(tmp_path):
    paper_toy.write_checkpoint("parallel", tmp_path / "falcon")
    ref = resolve_models([f"sequential={tmp_path / 'falcon'}"])["sequential"]
    with pytest.raises(PaperModelError, match="given as the sequential model, but its taxonomy says parallel"):
        inspect_model(ref)
    ok = inspect_model(resolve_models([f"parallel={tmp_path / 'falcon'}"])["parallel"])
    assert ok.condition_set == "study" and ok.roles["attention"] == "attention_only"
    assert ok.conditions["ssm_only"].modules and all(m.endswith("in_proj") for m in ok.conditions["ssm_only"].modules)


OFFLINE_PROBE = """
import sys
from loraplace.tracks.paper.data import PaperDataError, load_dataset_rows
from loraplace.tracks.paper.models import PaperModelError, inspect_model, resolve_models
try:
    inspect_model(resolve_models(None)["sequential"])
except PaperModelError as exc:
    print("MODEL:", exc)
try:
    load_dataset_rows("gsm8k")
except PaperDataError as exc:
    print("DATA:", exc)
"""


def test_offline_without_local_copies_is_one_clear_error_each(tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    out = subprocess.run([sys.executable, "-c", OFFLINE_PROBE], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = dict(line.split(": ", 1) for line in out.stdout.splitlines() if line.startswith(("MODEL:", "DATA:")))
    assert "Qwen/Qwen3.5-0.8B-Base" in lines["MODEL"] and "--paper-model sequential=DIR" in lines["MODEL"]
    assert "openai/gsm8k" in lines["DATA"] and "HF_HUB_OFFLINE is set" in lines["DATA"]
    assert "--paper-data DIR with gsm8k.jsonl" in lines["DATA"]


def _repro_script():
    spec = importlib.util.spec_from_file_location("gpu_reproducibility", REPO / "scripts" / "gpu_reproducibility.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_cache(root: Path, scores: dict) -> None:
    for i, ((bench, item), score) in enumerate(scores.items()):
        d = root / "paper-records" / f"k{i}"
        d.mkdir(parents=True)
        d.joinpath("records.jsonl").write_text(json.dumps(
            {"model": "m", "topology": "sequential", "condition": "c", "domain": "d", "seed": 1, "benchmark": bench,
             "item_key": f"{bench}:{item}",
             "scorer": "corrected", "score": score}) + "\n")


def test_repro_comparison_is_exact_for_loglikelihood_and_tolerant_for_generations(tmp_path):
    repro = _repro_script()
    base = {("mmlu", i): float(i % 2) for i in range(50)} | {("gsm8k", i): float(i % 3 == 0) for i in range(200)}
    _write_cache(tmp_path / "a", base)
    _write_cache(tmp_path / "same", base)
    assert repro.compare_caches(tmp_path / "a", tmp_path / "same")["ok"]
    one_mc = {**base, ("mmlu", 7): 1 - base[("mmlu", 7)]}
    _write_cache(tmp_path / "mc", one_mc)
    res = repro.compare_caches(tmp_path / "a", tmp_path / "mc")
    assert not res["ok"] and res["benchmarks"]["mmlu"]["differ"] == 1
    two_gen = {**base, ("gsm8k", 1): 1.0, ("gsm8k", 2): 1.0}  # 2 of 200 = 1 %
    _write_cache(tmp_path / "gen", two_gen)
    assert repro.compare_caches(tmp_path / "a", tmp_path / "gen", gen_tolerance=0.01)["ok"]
    assert not repro.compare_caches(tmp_path / "a", tmp_path / "gen", gen_tolerance=0.005)["ok"]
    _write_cache(tmp_path / "short", dict(list(base.items())[:-1]))
    assert repro.compare_caches(tmp_path / "a", tmp_path / "short")["unmatched"] == 1


def test_repro_script_runs_pytest_twice_into_separate_caches(tmp_path):
    repro = _repro_script()
    calls = []

    def fake(cmd, log):  # the pytest runs themselves are exercised by test_paper.py
        cache = Path(next(a.split("=", 1)[1] for a in cmd if a.startswith("--cache-dir=")))
        _write_cache(cache, {("arc_challenge", 0): 1.0, ("humaneval", 0): 0.0})
        calls.append(cmd)
        return 0

    rc = repro.main(["--out", str(tmp_path / "out"), "--paper-model", "sequential=/m/q", "--paper-data", "/d",
                     "--study-part", "C2-seq"], runner=fake)
    assert rc == 0 and len(calls) == 3
    caches = [next(a for a in c if a.startswith("--cache-dir=")) for c in calls]
    assert len(set(caches)) == 3
    assert all("--evidence" in c and "paper" in c and "--paper-model=sequential=/m/q" in c for c in calls)
    assert calls[2][calls[2].index("--profile") + 1] == "study" and calls[2][-2:] == ["-k", "C2-seq"]
    summary = json.loads((tmp_path / "out" / "reproducibility.json").read_text())
    assert summary["ok"] and summary["comparison"]["benchmarks"]["arc_challenge"]["differ"] == 0


@pytest.mark.parametrize("name, field, value, message", [
    ("mmlu", "answer", "A", "an int in 0..3, got 'A'"),
    ("mmlu", "answer", 4, "an int in 0..3, got 4"),
    ("mmlu", "answer", True, "got True"),
    ("arc_challenge", "answerKey", "Z", "'answerKey' 'Z' is not one of choices.label"),
    ("hellaswag", "label", "7", "'label' must index 'endings'"),
])
def test_a_gold_label_that_names_no_choice_is_refused_by_file_and_line(tmp_path, name, field, value, message):
    from loraplace.tracks.paper import toy

    toy.write_data(tmp_path)
    path = tmp_path / f"{name}.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[1][field] = value
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(PaperDataError, match=rf"{name}\.jsonl:2: .*{re.escape(message)}"):
        load_dataset_rows(name, tmp_path)


def test_a_model_directory_without_a_tokenizer_is_named_before_any_plan(tmp_path):
    """One clear error naming the model, at session set-up: before the plan line, before any build."""
    from loraplace.tracks.paper import toy
    from loraplace.tracks.paper.models import PaperModelError
    from loraplace.tracks.paper.track import PaperSession

    data = toy.write_data(tmp_path / "data")
    seq = toy.write_checkpoint("sequential", tmp_path / "seq")
    par = toy.write_checkpoint("parallel", tmp_path / "par")
    for f in par.iterdir():
        if f.name.startswith(("tokenizer", "special_tokens")):
            f.unlink()
    with pytest.raises(PaperModelError, match=r"parallel model .*par.*tokenizer could not be loaded"):
        PaperSession("smoke", models=[f"sequential={seq}", f"parallel={par}"], data_dir=data, progress=False)
