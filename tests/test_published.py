"""The published loader: file-name schemes, item pairing through eval_indices, clear errors."""
import json
import shutil
from pathlib import Path

import pytest

from loraplace.judging.pairing import pair
from loraplace.tracks.published.loader import PublishedDataError, load_published, parse_name

QWEN = "qwen3_5_0_8b_base"


def test_every_released_file_becomes_records(published_dir, published):
    files = sorted((published_dir / "results" / "eval_details").glob("*.jsonl"))
    assert len({i["path"] for i in published.inputs if "eval_details" in i["path"]}) == len(files)
    lines = sum(1 for f in files for _ in f.open())
    # every line gives one record per scorer (HumanEval's corrected one from the sandbox)
    assert len(published.records) == 2 * lines


@pytest.mark.parametrize("name, want", [
    ("qwen3_5_0_8b_base__base__gsm8k.jsonl", (QWEN, "base", "base", 3407, "gsm8k")),
    ("train__falcon_h1_0_5b_base__ssm_plus_mlp__gsm8k_train__seed3407__inline_eval__arc_challenge.jsonl",
     ("falcon_h1_0_5b_base", "ssm_plus_mlp", "gsm8k_train", 3407, "arc_challenge")),
    ("train__qwen3_5_0_8b_base__gdn_only__ultrachat__seed7__inline_eval__humaneval.jsonl",
     (QWEN, "gdn_only", "ultrachat", 7, "humaneval")),
])
def test_file_name_schemes(name, want):
    run = parse_name(Path(name))
    assert (run.model, run.condition, run.domain, run.seed, run.benchmark) == want


@pytest.mark.parametrize("name, message", [
    ("results.jsonl", "unknown file name scheme"),
    ("llama__base__gsm8k.jsonl", "Unknown model 'llama'. Available: qwen3_5_0_8b_base, falcon_h1_0_5b_base"),
    ("train__qwen3_5_0_8b_base__ssm_only__ultrachat__seed1__inline_eval__gsm8k.jsonl", "Unknown condition 'ssm_only'"),
    ("qwen3_5_0_8b_base__base__drop.jsonl", "unknown benchmark 'drop'"),
])
def test_unknown_names_are_clear_errors(name, message):
    with pytest.raises(PublishedDataError, match=message) as err:
        parse_name(Path(name))
    assert name in str(err.value)


def test_pairing_across_mismatched_subsets_only_pairs_the_same_question(published_dir, published):
    # Qwen's base GSM8K run used 128 questions, its UltraChat runs 256 different positions.
    idx = published_dir / "results" / "eval_indices"
    i128 = json.loads((idx / "indices__gsm8k__test__128.json").read_text())
    i256 = json.loads((idx / "indices__gsm8k__test__256.json").read_text())
    shared = set(i128) & set(i256)
    paired = pair(published, QWEN, "as-published", "all_layers", "base", "ultrachat", "gsm8k")
    assert {int(k.split(":")[1]) for k in paired.item_keys} == shared
    assert len(paired.a[0]) == len(shared) < 128  # not 128 position-wise pairs
    # the same question has the same gold answer in both files
    details = published_dir / "results" / "eval_details"
    base = [json.loads(line) for line in (details / f"{QWEN}__base__gsm8k.jsonl").open()]
    tuned = [json.loads(line) for line in
             (details / f"train__{QWEN}__all_layers__ultrachat__seed3407__inline_eval__gsm8k.jsonl").open()]
    gold_base = {i128[r["example_id"]]: r["gold_answer"] for r in base}
    gold_tuned = {i256[r["example_id"]]: r["gold_answer"] for r in tuned}
    assert all(gold_base[q] == gold_tuned[q] for q in shared)
    # whereas position-wise pairing would mostly pair different questions
    assert sum(b["gold_answer"] == t["gold_answer"] for b, t in zip(base, tuned)) < 16


def test_humaneval_run_with_missing_tasks_keys_by_task_id(published):
    scores = published.scores("falcon_h1_0_5b_base", "as-published", "all_eligible", "codealpaca", "humaneval")
    keys = set(next(iter(scores.values())))
    assert len(keys) == 157 and "humaneval:86" not in keys and "humaneval:163" in keys


# ---- a tiny dataset in the real schema, for the error paths -------------------------------------

def _mini(tmp_path: Path, published_dir: Path) -> Path:
    root = tmp_path / "pub"
    (root / "results" / "eval_details").mkdir(parents=True)
    shutil.copytree(published_dir / "results" / "eval_indices", root / "results" / "eval_indices")
    for name in (f"{QWEN}__base__gsm8k.jsonl", f"{QWEN}__base__arc_challenge.jsonl"):
        shutil.copy(published_dir / "results" / "eval_details" / name, root / "results" / "eval_details" / name)
    return root


def test_mini_dataset_loads(tmp_path, published_dir):
    ev = load_published(_mini(tmp_path, published_dir))
    assert len(ev.scores(QWEN, "corrected", "base", "base", "gsm8k")[3407]) == 128


def test_malformed_line_names_file_and_line(tmp_path, published_dir):
    root = _mini(tmp_path, published_dir)
    path = root / "results" / "eval_details" / f"{QWEN}__base__arc_challenge.jsonl"
    lines = path.read_text().splitlines()
    lines[6] = lines[6][:-5]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(PublishedDataError, match=rf"{path.name}:7: malformed JSON"):
        load_published(root)


def test_missing_field_names_file_and_line(tmp_path, published_dir):
    root = _mini(tmp_path, published_dir)
    path = root / "results" / "eval_details" / f"{QWEN}__base__gsm8k.jsonl"
    rows = [json.loads(line) for line in path.open()]
    del rows[2]["gold_answer"]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(PublishedDataError, match=rf"{path.name}:3: missing field 'gold_answer'"):
        load_published(root)


def test_missing_directories_are_clear_errors(tmp_path, published_dir):
    with pytest.raises(PublishedDataError, match="loraplace fetch published"):
        load_published(tmp_path / "nowhere")
    root = _mini(tmp_path, published_dir)
    shutil.rmtree(root / "results" / "eval_indices")
    with pytest.raises(PublishedDataError, match="eval_indices: missing"):
        load_published(root)


def test_a_subset_without_indices_is_refused(tmp_path, published_dir):
    root = _mini(tmp_path, published_dir)
    path = root / "results" / "eval_details" / f"{QWEN}__base__gsm8k.jsonl"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:100]))
    with pytest.raises(PublishedDataError, match="no eval_indices for a gsm8k subset of 100 items"):
        load_published(root)


def test_pairing_different_questions_is_impossible(tmp_path, published_dir):
    # A run whose positions point at other questions than its answers: the gold check refuses it.
    root = _mini(tmp_path, published_dir)
    src = published_dir / "results" / "eval_details" / f"train__{QWEN}__all_layers__ultrachat__seed3407__inline_eval__gsm8k.jsonl"
    rows = [json.loads(line) for line in src.open()]
    idx = json.loads((root / "results" / "eval_indices" / "indices__gsm8k__test__256.json").read_text())
    rows = rows[:128]  # a 128-line file is mapped through the 128-subset: other questions
    for i, r in enumerate(rows):
        r["example_id"] = i
    dest = root / "results" / "eval_details" / src.name
    dest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert idx[:128] != json.loads((root / "results" / "eval_indices" / "indices__gsm8k__test__128.json").read_text())
    with pytest.raises(PublishedDataError, match="disagrees with .*positions are mapped to different questions"):
        load_published(root)


def test_duplicate_question_is_refused(tmp_path, published_dir):
    root = _mini(tmp_path, published_dir)
    path = root / "results" / "eval_details" / f"{QWEN}__base__arc_challenge.jsonl"
    rows = [json.loads(line) for line in path.open()]
    rows[5]["example_id"] = rows[4]["example_id"]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(PublishedDataError, match=rf"{path.name}:6: duplicate question"):
        load_published(root)
