"""`loraplace export-organism` and `recommend` end to end on a micro tiny organism (mechanics only:
4 pretraining steps, the organisms are not competent; the statistics are tested in
test_recommend_racing.py)."""
from __future__ import annotations

import dataclasses
import json

import pytest

from loraplace import cli
from loraplace.commands.export_organism import export
from loraplace.recommend.run import recommend
from loraplace.recommend.tiny_backend import MARKER, NotAnOrganism, TinyBackend
from loraplace.tracks.tiny import track as tiny
from loraplace.train.cache import Cache

MICRO = dataclasses.replace(
    tiny.PROFILES["smoke"], name="micro", hidden_size=32, pretrain_steps=4, pretrain_batch=2, pretrain_seq_len=63,
    seq_len=47, finetune_steps=2, finetune_batch=2, seeds=(0, 1), items=tiny.item_counts(6, 2, 6), max_new_tokens=4,
    code_tokens=4)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("recommend")
    marker = export("tiny_qwen3_5", root / "organism", profile=MICRO, cache_dir=root / "cache")
    return root, marker


def test_an_exported_organism_is_a_hugging_face_checkpoint(exported):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root, marker = exported
    model = AutoModelForCausalLM.from_pretrained(root / "organism")
    tok = AutoTokenizer.from_pretrained(root / "organism")
    assert type(model).__name__ == marker["model_class"] == "Qwen3_5ForCausalLM"
    assert tok.decode(tok("x = 3 + 4")["input_ids"], skip_special_tokens=True) == "x = 3 + 4"
    assert json.loads((root / "organism" / MARKER).read_text())["organism"] == "tiny_qwen3_5"


def test_recommend_runs_the_tiny_tracks_own_entries_and_writes_its_page(exported, tmp_path):
    from loraplace.recommend import page

    root, _ = exported
    backend = TinyBackend(root / "organism", "gsm8k_train", cache_dir=root / "cache", profile=MICRO)
    result = recommend(backend, racing=False, resamples=200, show_progress=False, workers=2)
    names = {row["candidate"] for row in result["table"]}
    assert {"attention_only", "recurrent_only", "full", "budget_full"} <= names
    assert result["runs"] == result["full_sweep_runs"] == len(names) * 2
    assert all(row["target"] and row["retention"] for row in result["table"])  # controls' battery evaluated too
    # the runs are the tiny track's cache entries: pytest's build finds them without creating anything
    base = tiny.ensure_base(Cache(root / "cache"), MICRO, "tiny_qwen3_5", allow_create=False)
    for cond in ("attention_only", "full", "budget_full"):
        tiny.ensure_run(Cache(root / "cache"), MICRO, base, cond, "gsm8k_train", 1, allow_create=False)
    _, html = page.write(result, tmp_path)
    text = html.read_text()
    assert "Where should LoRA go in tiny_qwen3_5?" in text and result["sentence"].split(":")[0] in text


def test_a_directory_that_is_not_the_exported_organism_is_refused(exported, tmp_path):
    root, _ = exported
    copy = tmp_path / "changed"
    copy.mkdir()
    for f in (root / "organism").iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    (copy / "model.safetensors").write_bytes(b"not the weights")
    with pytest.raises(NotAnOrganism, match="re-export"):
        TinyBackend(copy, "gsm8k_train", cache_dir=root / "cache", profile=MICRO)


@pytest.mark.parametrize("args, message", [
    (["--train", "data.jsonl"], "data.jsonl: no such file"),
    (["--train", "gsm8k"], "Unknown domain 'gsm8k'"),
])
def test_clear_errors(exported, capsys, args, message):
    root, _ = exported
    rc = cli.main(["recommend", "--model", str(root / "organism"), "--cache-dir", str(root / "cache"), *args])
    assert rc == 2 and message in capsys.readouterr().err


def test_a_checkpoint_whose_config_transformers_cannot_read_is_refused_with_the_reason(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")
    assert cli.main(["recommend", "--model", str(tmp_path), "--train", "gsm8k_train"]) == 2
    assert "transformers cannot read its config" in capsys.readouterr().err


def test_a_budget_on_a_study_domain_is_refused(exported, capsys):
    root, _ = exported
    rc = cli.main(["recommend", "--model", str(root / "organism"), "--train", "gsm8k_train", "--budget", "5000"])
    assert rc == 2 and "go with --train FILE.jsonl" in capsys.readouterr().err


def test_a_round_runs_as_ray_tasks(exported):
    """--engine ray: the round's runs are the tiny track's tasks on a (local) Ray instance."""
    pytest.importorskip("ray")
    root, _ = exported
    backend = TinyBackend(root / "organism", "codealpaca", cache_dir=root / "cache", profile=MICRO)
    result = recommend(backend, seeds=1, resamples=100, show_progress=False, engine="ray")
    assert result["runs"] == len(result["table"])  # one round: one run per candidate
    base = tiny.ensure_base(Cache(root / "cache"), MICRO, "tiny_qwen3_5", allow_create=False)
    tiny.ensure_run(Cache(root / "cache"), MICRO, base, "mlp_only", "codealpaca", 0, allow_create=False)
