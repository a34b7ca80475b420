"""`recommend` on your own data: JSONL rows validated (errors name the row), held-out items scored
(loss, multiple choice, exact match), budgets, and the clear messages for a non-hybrid (a tiny
Llama) and an unclassifiable model (a tiny xLSTM), through the CLI; tiny checkpoints saved here."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from loraplace import cli
from loraplace.recommend import data as rdata
from loraplace.recommend.data_backend import DataBackend, default_recipe
from loraplace.recommend.item_scores import score_items
from loraplace.recommend.run import recommend
from loraplace.tracks.paper.toy import toy_tokenizer, write_checkpoint

RECIPE = replace(default_recipe("smoke"), max_steps=1, seq_len=32, optimizer="adamw_torch",
                 gradient_checkpointing=False)


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _llama(directory):
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = toy_tokenizer(False)
    cfg = LlamaConfig(num_hidden_layers=2, hidden_size=32, intermediate_size=64, num_attention_heads=2,
                      num_key_value_heads=2, vocab_size=len(tok), max_position_embeddings=256,
                      eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("recdata")
    rows = [{"prompt": f"{a}+{b}=", "completion": str(a + b)} for a in range(3) for b in range(3)]
    return {"root": root, "llama": _llama(root / "llama"), "hybrid": write_checkpoint("sequential", root / "hybrid"),
            "train": _jsonl(root / "train.jsonl", rows)}


@pytest.mark.parametrize("row, message", [
    ({"prompt": "2+2="}, "'completion' must be a non-empty string"),
    ({"txt": "hello"}, "needs 'text', 'prompt' and 'completion', or 'messages' (got fields txt)"),
    ({"messages": [{"role": "user"}]}, "'messages' must be a non-empty list"),
    (["a list"], "expected a JSON object"),
])
def test_a_bad_training_row_is_named_by_file_and_line(tmp_path, row, message):
    path = _jsonl(tmp_path / "t.jsonl", [{"text": "fine"}, row])
    with pytest.raises(rdata.DataError, match=f"t.jsonl:2: .*{message[:30]}"):
        rdata.read_train(path)


def test_the_three_training_shapes_and_the_three_item_kinds(tmp_path):
    train = rdata.read_train(_jsonl(tmp_path / "t.jsonl", [
        {"text": "a b c"}, {"prompt": "Q: ", "completion": "A"},
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}]))
    assert [(e.prompt, e.completion) for e in train] == [("", "a b c"), ("Q: ", "A"), ("hi", "yo")]
    items = rdata.read_items(_jsonl(tmp_path / "e.jsonl", [
        {"prompt": "1+1=", "answer": " 2 "}, {"prompt": "sky is", "choices": ["blue", "green"], "answer": 0},
        {"text": "some text"}]))
    assert [(i.kind, i.answer, i.label, i.completion) for i in items] == [
        ("exact_match", "2", -1, ""), ("multiple_choice", "", 0, ""), ("loss", "", -1, "some text")]
    with pytest.raises(rdata.DataError, match=r"e2.jsonl:1: 'answer' must be the index of the right choice"):
        rdata.read_items(_jsonl(tmp_path / "e2.jsonl", [{"prompt": "p", "choices": ["a", "b"], "answer": 2}]))


def test_the_default_target_is_a_held_out_split_scored_by_loss_and_exact_match():
    examples = [rdata.Example(f"q{i}", "x" * (i * 20)) for i in range(1, 11)]
    kept, held = rdata.split(examples, 0.2)
    assert len(held) == 2 and not set(held) & set(kept) and rdata.split(examples, 0.2) == (kept, held)
    items = rdata.held_out_items(held)
    losses = [i for i in items if i.kind == "loss"]
    matches = [i for i in items if i.kind == "exact_match"]
    assert len(losses) == 2  # every held-out row by loss, exact match only where the answer is short
    assert {i.answer for i in matches} == {e.completion for e in held if len(e.completion) <= rdata.MAX_ANSWER_CHARS}


def test_item_scores_agree_with_a_direct_log_likelihood(inputs):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(inputs["llama"]).eval()
    tok = toy_tokenizer(False)
    items = [rdata.Item("l", "loss", "1+2=", completion="3 and more"),
             rdata.Item("m", "multiple_choice", "1+2=", choices=("3", "45"), label=1)]
    got = score_items(model, tok, items)

    def logp(prompt, completion):  # independent: one forward pass of the whole text, cross-entropy on the tail
        head = [tok.bos_token_id] + tok(prompt, add_special_tokens=False)["input_ids"]
        tail = tok(completion, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([head + tail])).logits[0]
        return -torch.nn.functional.cross_entropy(logits[len(head) - 1:-1], torch.tensor(tail), reduction="none")

    assert got["loss"][0] == pytest.approx(float(logp("1+2=", "3 and more").mean()), abs=1e-5)
    sums = [float(logp("1+2=", c).sum()) for c in ("3", "45")]
    assert got["multiple_choice"][0] == float(np.argmax(sums) == 1)


def test_recommend_on_a_tiny_llama_with_a_jsonl_races_attention_and_mlp_and_caches_its_runs(inputs):
    cache = inputs["root"] / "cache"
    backend = DataBackend(inputs["llama"], inputs["train"], cache_dir=cache, recipe=RECIPE, seeds=1, rank=2)
    assert backend.targets == ("exact_match",) and backend.secondary == ("loss",) and backend.unit == "pp"
    out = recommend(backend, resamples=100, show_progress=False)
    assert [r["candidate"] for r in sorted(out["table"], key=lambda r: r["candidate"])] == [
        "attention_only", "attention_plus_mlp", "mlp_only"]
    assert "not a hybrid" in out["notes"][0]
    assert all(r["target"] and "loss" in r["also"] for r in out["table"]) and out["runs"] == 3
    entries = sorted(p.name for p in (cache / "recommend-adapter").iterdir() if p.is_dir())
    assert len(entries) == 3
    for entry in entries:  # alpha = 2 x rank, the suite's convention, whatever the candidate's rank
        cfg = json.loads((cache / "recommend-adapter" / entry / "adapter_config.json").read_text())
        assert cfg["r"] == 2 and cfg["lora_alpha"] == 4
    again = recommend(DataBackend(inputs["llama"], inputs["train"], cache_dir=cache, recipe=RECIPE, seeds=1, rank=2),
                      resamples=100, show_progress=False)
    assert sorted(p.name for p in (cache / "recommend-adapter").iterdir() if p.is_dir()) == entries  # nothing retrained
    assert (out["cached_runs"], again["cached_runs"]) == (0, 3)
    assert [r["target"] for r in again["table"]] == [r["target"] for r in out["table"]]
    from loraplace.recommend import page

    html = page.render(out)
    assert "Where should LoRA go in llama?" in html and "held-out loss reduction, nats/token" in html
    assert "CPU-seconds" in html and "not a hybrid" in html


def test_budget_params_matches_each_placement_to_the_budget(inputs):
    from transformers import AutoModelForCausalLM

    budget = 3000
    backend = DataBackend(inputs["hybrid"], inputs["train"], recipe=RECIPE, budget_params=budget,
                          cache_dir=inputs["root"] / "cache")
    model = AutoModelForCausalLM.from_pretrained(inputs["hybrid"])
    matched = {n: c for n, c in backend.conditions.items() if n.startswith("budget_")}
    assert len(matched) >= 5
    for cond in matched.values():  # independent count: r x (in + out) per adapted Linear
        per_rank = sum(model.get_submodule(m).in_features + model.get_submodule(m).out_features for m in cond.modules)
        assert cond.trainable == cond.rank * per_rank
        assert abs(cond.rank * per_rank - budget) <= min(abs(r * per_rank - budget) for r in range(1, 200))


def test_cli_a_non_hybrid_gets_the_message_and_the_attention_mlp_subset(inputs, capsys):
    rc = cli.main(["recommend", "--model", str(inputs["llama"]), "--train", str(inputs["train"]), "--plan",
                   "--cache-dir", str(inputs["root"] / "cache")])
    out = capsys.readouterr().out
    assert rc == 0 and "LlamaForCausalLM is not a hybrid" in out
    listed = {line.split()[0] for line in out.splitlines() if line.startswith("  ")}
    assert listed == {"attention_only", "mlp_only", "attention_plus_mlp"}


def test_cli_an_unclassifiable_model_is_refused_naming_its_module_classes(inputs, tmp_path, capsys):
    from transformers import AutoConfig, AutoModelForCausalLM

    tok = toy_tokenizer(False)
    cfg = AutoConfig.for_model("xlstm", hidden_size=32, num_hidden_layers=2, vocab_size=len(tok), num_heads=2)
    AutoModelForCausalLM.from_config(cfg).save_pretrained(tmp_path / "xlstm")
    tok.save_pretrained(tmp_path / "xlstm")
    rc = cli.main(["recommend", "--model", str(tmp_path / "xlstm"), "--train", str(inputs["train"]), "--plan"])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot place" in err and "xLSTMLayer" in err


def test_cli_a_bad_row_is_named_before_any_model_loads(inputs, tmp_path, capsys):
    bad = _jsonl(tmp_path / "bad.jsonl", [{"text": "ok"}, {"text": "ok"}, {"prompt": 3, "completion": "x"}])
    rc = cli.main(["recommend", "--model", str(tmp_path / "absent"), "--train", str(bad)])
    assert rc == 2 and "bad.jsonl:3: 'prompt' must be a non-empty string" in capsys.readouterr().err


def test_a_rounds_runs_in_two_worker_processes_make_the_same_entries(inputs, tmp_path):
    """--workers 2: each run trained and scored in a worker process, the driver reads the cache."""
    backend = DataBackend(inputs["llama"], inputs["train"], cache_dir=tmp_path / "c", recipe=RECIPE, seeds=1, rank=2)
    out = recommend(backend, resamples=100, show_progress=False, workers=2)
    serial = recommend(DataBackend(inputs["llama"], inputs["train"], cache_dir=inputs["root"] / "cache", recipe=RECIPE,
                                   seeds=1, rank=2), resamples=100, show_progress=False)
    assert sorted(p.name for p in (tmp_path / "c" / "recommend-adapter").iterdir() if p.is_dir()) == sorted(
        p.name for p in (inputs["root"] / "cache" / "recommend-adapter").iterdir() if p.is_dir())
    assert {r["candidate"]: r["target"] for r in out["table"]} == {r["candidate"]: r["target"] for r in serial["table"]}


def test_a_rounds_runs_as_ray_tasks(inputs, tmp_path):
    """--engine ray: each run a Ray task that rebuilds the backend from its options in the worker."""
    pytest.importorskip("ray")
    backend = DataBackend(inputs["llama"], inputs["train"], cache_dir=tmp_path / "c", recipe=RECIPE, seeds=1, rank=2)
    out = recommend(backend, resamples=100, show_progress=False, engine="ray")
    assert out["runs"] == 3
    assert len([p for p in (tmp_path / "c" / "recommend-adapter").iterdir() if p.is_dir()]) == 3


def test_target_eval_and_retention_files(inputs, tmp_path):
    target = _jsonl(tmp_path / "target.jsonl", [
        {"prompt": f"{a}+{a}=", "choices": [str(2 * a), str(2 * a + 1)], "answer": 0} for a in range(4)]
        + [{"text": "1+1=2"}])
    keep = _jsonl(tmp_path / "keep.jsonl", [{"prompt": f"{a}*1=", "answer": str(a)} for a in range(3)])
    backend = DataBackend(inputs["llama"], inputs["train"], target_eval=target, retention=[keep],
                          cache_dir=inputs["root"] / "cache", recipe=RECIPE, seeds=1, rank=2)
    assert len(backend.train_rows) == 9  # with --target-eval every training row trains
    assert backend.targets == ("multiple_choice",) and backend.secondary == ("loss",) and backend.retention == ("keep",)
    out = recommend(backend, resamples=100, show_progress=False)
    assert all(r["retention"] is not None for r in out["table"])
    assert out["model"]["target_eval"].endswith("target.jsonl")
    bad = _jsonl(tmp_path / "bad.jsonl", [{"text": "no answer here"}])
    with pytest.raises(rdata.DataError, match="bad.jsonl: a retention file holds items of one kind with answers"):
        DataBackend(inputs["llama"], inputs["train"], retention=[bad], recipe=RECIPE, cache_dir=tmp_path / "c")
