"""`loraplace render`: what lm-eval is sent equals the study's prompts, row for row, for both protocols."""
from __future__ import annotations

import json

import pytest

from loraplace.cli import main
from loraplace.tracks.paper import prompts
from loraplace.tracks.paper import toy as paper_toy
from loraplace.tracks.paper.data import load_dataset_rows
from loraplace.tracks.paper.models import load_model, load_tokenizer, resolve_models


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("render")
    paper_toy.write_checkpoint("sequential", root / "qwen")  # chat template
    paper_toy.write_checkpoint("parallel", root / "falcon")  # none
    return {"data": paper_toy.write_data(root / "data", n=8), "sequential": root / "qwen", "parallel": root / "falcon"}


def _render(capsys, *args) -> object:
    assert main(["render", "--evidence", "paper", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("topology", ["sequential", "parallel"])
@pytest.mark.parametrize("bench", ["mmlu", "arc_challenge", "hellaswag", "gsm8k", "humaneval"])
def test_study_render_is_the_notebook_prompt_of_every_row(toy, capsys, topology, bench):
    tok = load_tokenizer(resolve_models([f"{topology}={toy[topology]}"])[topology])
    rows = list(load_dataset_rows(bench, toy["data"]).rows)
    pool = {"mmlu": "mmlu_dev", "arc_challenge": "arc_challenge_train", "hellaswag": "hellaswag_train"}.get(bench)
    pool_rows = (list(load_dataset_rows(pool, toy["data"]).rows) if pool else
                 prompts.gsm8k_pool(list(load_dataset_rows("gsm8k_train", toy["data"]).rows)) if bench == "gsm8k"
                 else None)
    got = _render(capsys, "--paper-model", f"{topology}={toy[topology]}", "--paper-data", str(toy["data"]),
                  "--benchmark", bench)
    assert [o["index"] for o in got] == list(range(len(rows)))
    for o, row in zip(got, rows):
        assert o["prompt"] == prompts.fewshot_prompt(tok, bench, row, pool_rows)
        if bench in ("gsm8k", "humaneval"):
            assert o["stop"] == ["<eos>"] and o["max_new_tokens"] == 256 and "continuations" not in o
        else:
            assert o["continuations"] == [" A", " B", " C", " D"] and "stop" not in o


def test_index_and_profile_pick_rows_and_the_harness_keeps_its_stops(toy, capsys):
    args = ["--paper-model", f"parallel={toy['parallel']}", "--paper-data", str(toy["data"])]
    picked = _render(capsys, *args, "--benchmark", "gsm8k", "--index", "5", "--index", "2")
    assert [o["index"] for o in picked] == [5, 2]
    smoke = _render(capsys, *args, "--benchmark", "humaneval", "--profile", "smoke")
    assert [o["index"] for o in smoke] == [0, 1, 2, 3] and smoke[0]["max_new_tokens"] == 24
    harness = _render(capsys, *args, "--benchmark", "humaneval", "--protocol", "harness", "--index", "0")
    assert harness[0]["max_new_tokens"] == 512 and harness[0]["stop"][-1] == "<eos>" and "\ndef" in harness[0]["stop"]
    cloze = _render(capsys, *args, "--benchmark", "arc_challenge", "--protocol", "harness", "--index", "0")
    assert cloze[0]["prompt"].startswith("Question: ") and len(cloze[0]["continuations"]) == 4
    assert main(["render", *args, "--benchmark", "mmlu", "--index", "99", "--json"]) == 2
    assert "no row with index 99" in capsys.readouterr().err


def test_a_domain_renders_what_the_trainer_gets_and_holds_out(toy, capsys):
    got = _render(capsys, "--paper-model", f"sequential={toy['sequential']}", "--paper-data", str(toy["data"]),
                  "--domain", "gsm8k_train", "--profile", "smoke")
    assert (len(got["train"]), len(got["validation"])) == (7, 1)  # smoke draws 8: max(1, 8 // 10) = 1 held out
    assert all(t.startswith("<|system|>\nYou are a careful mathematician.") for t in got["train"] + got["validation"])


def test_lm_eval_encodes_letters_without_and_generation_prompts_with_special_tokens(tmp_path):
    """The notebook scores letters on `tokenizer(..., add_special_tokens=False)` and generates from
    `tokenizer(prompt)` (special tokens by default): with a tokenizer that prepends BOS, only the
    generation requests may start with it."""
    from tokenizers.processors import TemplateProcessing

    from loraplace.tracks.paper.lmeval import run_lm_eval
    from loraplace.tracks.paper.plan import profile
    from loraplace.tracks.paper.protocol import STUDY
    from loraplace.tracks.paper.study_tasks import build_study_tasks
    from loraplace.train.tokenizer import BOS, BOS_ID

    ckpt = paper_toy.write_checkpoint("parallel", tmp_path / "falcon")
    tok = paper_toy.toy_tokenizer(False)
    tok.backend_tokenizer.post_processor = TemplateProcessing(single=f"{BOS} $A", special_tokens=[(BOS, BOS_ID)])
    assert tok("x")["input_ids"][0] == BOS_ID and tok("x", add_special_tokens=False)["input_ids"][0] != BOS_ID
    model, _ = load_model(resolve_models([f"parallel={ckpt}"])["parallel"])
    rows = {b: [dict(r, _index=0) for r in paper_toy.rows(b, 1)] for b in ("mmlu", "gsm8k")}
    pools = {"mmlu": paper_toy.rows("mmlu_dev", 5), "gsm8k": paper_toy.rows("gsm8k_train", 8)}
    tasks = build_study_tasks(rows, pools, tok, STUDY, profile("smoke"))
    seen = []
    model.register_forward_pre_hook(lambda m, a, k: seen.append(k.get("input_ids", a[0] if a else None)),
                                    with_kwargs=True)
    first = {}
    for bench in ("mmlu", "gsm8k"):
        seen.clear()
        run_lm_eval(model, tok, {bench: tasks[bench]}, batch_size=4, protocol=STUDY)
        ids = seen[0][0].tolist()
        first[bench] = next(t for t in ids if t != tok.pad_token_id)  # generation pads on the left
    assert first["mmlu"] != BOS_ID and first["gsm8k"] == BOS_ID
