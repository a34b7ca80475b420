"""The paper track's fine-tuning semantics and checkpoint loading, on the tiny toy checkpoints.

EOS is trained even where pad = EOS (the study's Qwen3.5 tokenizer pads with EOS), padding is
masked by position; a checkpoint whose weights do not all load is refused by name.
"""
from __future__ import annotations

import logging
import tempfile

import pytest
import torch
from safetensors.torch import load_file, save_file

from loraplace.tracks.paper import toy as paper_toy
from loraplace.tracks.paper.models import PaperModelError, inspect_model, load_model, resolve_models
from loraplace.tracks.paper.plan import profile


def test_the_final_eos_is_a_label_and_padding_is_not_when_pad_is_eos(tmp_path):
    from loraplace.models.placement import apply_lora
    from loraplace.train.trainer import make_trainer

    ckpt = paper_toy.write_checkpoint("parallel", tmp_path / "falcon", chat_template=False)
    ref = resolve_models([f"parallel={ckpt}"])["parallel"]
    model, tok = load_model(ref)
    assert tok.pad_token_id == tok.eos_token_id
    cond = next(iter(inspect_model(ref, 4).conditions.values()))
    texts = ["USER:\nhi\n\nASSISTANT:\nhello" + tok.eos_token, "USER:\nlonger question\n\nASSISTANT:\nok"]
    with tempfile.TemporaryDirectory() as out:
        trainer = make_trainer(apply_lora(model, cond, alpha=8, dropout=0.0), tok, texts, profile("smoke"), out, seed=1)
        batch = next(iter(trainer.get_train_dataloader()))
    ids, labels, mask = batch["input_ids"], batch["labels"], batch["attention_mask"]
    eos = tok.eos_token_id
    for row in range(ids.shape[0]):
        n = int(mask[row].sum())
        # every text ends in exactly one EOS (appended where missing), and it is trained
        assert ids[row, n - 1] == eos and labels[row, n - 1] == eos
        assert torch.equal(labels[row, :n], ids[row, :n])
        assert (labels[row, n:] == -100).all() and (ids[row, n:] == eos).all()  # padding: EOS ids, masked
    assert (mask == 0).any()  # the batch was padded


def test_a_checkpoint_missing_lm_head_is_refused_by_name(tmp_path, caplog):
    ckpt = paper_toy.write_checkpoint("parallel", tmp_path / "falcon")  # an untied lm_head
    weights = load_file(ckpt / "model.safetensors")
    assert "lm_head.weight" in weights
    del weights["lm_head.weight"]
    weights["model.extra_thing.weight"] = torch.zeros(2)
    save_file(weights, ckpt / "model.safetensors", metadata={"format": "pt"})
    ref = resolve_models([f"parallel={ckpt}"])["parallel"]
    with pytest.raises(PaperModelError, match=r"missing: lm_head\.weight.*unexpected: model\.extra_thing\.weight"
                                              r".*--allow-missing-weights"):
        load_model(ref)
    with caplog.at_level(logging.WARNING):
        model, _ = load_model(ref, allow_missing_weights=True)
    assert "lm_head.weight" in caplog.text and model is not None


def test_a_tied_lm_head_counts_as_present(tmp_path):
    ckpt = paper_toy.write_checkpoint("sequential", tmp_path / "qwen")
    assert "lm_head.weight" not in load_file(ckpt / "model.safetensors")  # tied: not in the file
    model, _ = load_model(resolve_models([f"sequential={ckpt}"])["sequential"])
    assert model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
