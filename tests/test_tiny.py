"""The tiny track: organisms, tokenizer, synthetic world, deterministic LoRA, evaluation."""
from __future__ import annotations

import pytest
import torch

from loraplace.evidence import tiny_eval
from loraplace.evidence.tiny import PROFILES, ROLE_OF, base_spec
from loraplace.models import organisms as org
from loraplace.models.taxonomy import classify_model
from loraplace.train import lora, synthetic
from loraplace.train.tokenizer import build_tokenizer, special_ids

torch.set_num_threads(min(2, torch.get_num_threads()))
SPECS = org.organisms(64)
TOPOLOGIES = [pytest.param(t, marks=getattr(pytest.mark, t)) for t in SPECS]


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_organism_is_real_class_with_detected_topology(topology):
    spec = SPECS[topology]
    model = org.build(spec)
    assert type(model).__name__ == spec.model_class
    assert classify_model(model).topology == topology


@pytest.mark.parametrize("width", [48, 64, 96])
def test_parameter_counts_matched_within_10_percent(width):
    counts = list(org.param_counts(width).values())
    assert max(counts) / min(counts) <= 1.10, counts


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_tokenizer_special_ids_equal_config(topology):
    tok, cfg = build_tokenizer(), org.config(SPECS[topology])
    assert special_ids(tok) == {k: getattr(cfg, k) for k in ("pad_token_id", "bos_token_id", "eos_token_id")}
    assert len(tok) == cfg.vocab_size
    text = synthetic.eval_items("humaneval", 1)[0].prompt + "#### 7\n"
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text


def test_world_deterministic_and_eval_disjoint_from_training():
    assert synthetic.chunks("pretrain", 3, 120, 20) == synthetic.chunks("pretrain", 3, 120, 20)
    assert synthetic.chunks("pretrain", 3, 120, 20) != synthetic.chunks("pretrain", 4, 120, 20)
    for domain in synthetic.DOMAINS:
        assert synthetic.chunks(domain, 1, 200, 5) == synthetic.chunks(domain, 1, 200, 5)
    for bench in synthetic.BENCHMARKS:
        items = synthetic.eval_items(bench)
        assert len({i.ident for i in items}) == len(items) == synthetic.POOL[bench]
        assert [i.key for i in items[:3]] == [f"{bench}:{k}" for k in range(3)]
    import random
    rng = random.Random(0)
    for bench in synthetic.BENCHMARKS:
        held = {i.ident for i in synthetic.eval_items(bench)}
        assert not any(synthetic.train_item(bench, rng).ident in held for _ in range(300))
    # text-level: no held-out gsm8k / arc / hellaswag / humaneval question occurs in training text
    corpus = "".join(synthetic.chunks("pretrain", 0, 4000, 50)) + "".join(
        "".join(synthetic.chunks(d, 0, 2000, 10)) for d in synthetic.DOMAINS)
    for bench in ("gsm8k", "arc_challenge", "hellaswag", "humaneval"):
        assert not any(i.prompt in corpus for i in synthetic.eval_items(bench, 200)), bench


def test_profiles_keep_the_design():
    for p in PROFILES.values():
        assert len(p.seeds) >= 2 and set(p.n_items) == set(synthetic.BENCHMARKS)
    d = PROFILES["default"]
    assert len(d.seeds) >= 3 and all(d.n_items[b] >= 500 for b in ("gsm8k", "mmlu", "arc_challenge", "hellaswag"))


@pytest.fixture(scope="module")
def small_base():
    """A briefly pretrained parallel organism (not competent: for mechanics only)."""
    spec = org.organisms(32)["parallel"]
    return lora.pretrain(spec, "pretrain", steps=3, seed=0, batch=4, seq_len=64)


@pytest.mark.parametrize("condition", list(ROLE_OF))
@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_adapters_sit_exactly_on_targets(topology, condition):
    from loraplace.models.placement import adapted_modules, apply_lora

    model = org.build(org.organisms(32)[topology])
    cond = lora.conditions_for(model, 2)[condition]
    peft_model = apply_lora(model, cond)  # raises if anything is off
    assert set(adapted_modules(peft_model)) == set(cond.modules)


def _ft(base, seed):
    model, tok = base
    return lora.finetune(model, "attention_plus_mlp", "gsm8k_train", seed=seed, steps=2, lr=1e-2, rank=2,
                         batch=2, seq_len=48, tokenizer=tok)


def test_finetune_deterministic(small_base, tmp_path):
    from safetensors.torch import save

    a, b, c = _ft(small_base, 1), _ft(small_base, 1), _ft(small_base, 2)
    assert save(a) == save(b)
    assert save(a) != save(c)
    model, tok = small_base
    lora.save_adapter(a, model, "attention_plus_mlp", 2, tmp_path)
    loaded, meta = lora.load_adapter(tmp_path)
    assert save(loaded) == save(a) and meta["name"] == "attention_plus_mlp"
    assert (tmp_path / "adapter_config.json").exists()
    # identical records from identical adapters
    n = {"gsm8k": 4, "humaneval": 2, "mmlu": 4, "arc_challenge": 4, "hellaswag": 4}
    run = tiny_eval.Run("tiny_falcon_h1", "parallel", "attention_plus_mlp", "gsm8k_train", 1)
    r1 = tiny_eval.evaluate(lora.adapted(model, "attention_plus_mlp", a, 2), tok, run, n, max_new_tokens=8, code_tokens=8)
    r2 = tiny_eval.evaluate(lora.adapted(model, "attention_plus_mlp", loaded, 2), tok, run, n, max_new_tokens=8, code_tokens=8)
    assert tiny_eval.records_digest(r1) == tiny_eval.records_digest(r2)
    assert len(r1) == 2 * sum(n.values())
    assert {r.scorer for r in r1} == {"as-published", "corrected"}


def test_base_checkpoint_roundtrip(small_base, tmp_path):
    model, tok = small_base
    lora.save_base(model, tok, org.organisms(32)["parallel"], tmp_path)
    loaded, tok2 = lora.load_base(tmp_path)
    x = torch.tensor([[1, 40, 41, 42]])
    with torch.no_grad():
        assert torch.equal(model(input_ids=x).logits, loaded(input_ids=x).logits)
    assert special_ids(tok2) == special_ids(tok)


@pytest.mark.slow
@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_smoke_base_competent_above_chance(topology, tmp_path_factory):
    """The smoke profile's pretrained base: >= chance + 10 pp on every benchmark (corrected scorer)."""
    import os
    from pathlib import Path

    from loraplace.train.cache import Cache

    p, spec = PROFILES["smoke"], org.organisms(PROFILES["smoke"].hidden_size)[topology]
    root = Path(os.environ.get("LORAPLACE_CACHE_DIR") or tmp_path_factory.mktemp("cache")) / "variants"
    cache = Cache(root)

    def create(d):
        model, tok = lora.pretrain(spec, "pretrain", p.pretrain_steps, 0, batch=p.pretrain_batch,
                                   seq_len=p.seq_len, lr=p.pretrain_lr)
        lora.save_base(model, tok, spec, d)

    model, tok = lora.load_base(cache.get_or_create("tiny-base", base_spec(spec, p), create))
    n = {"gsm8k": 100, "humaneval": 60, "mmlu": 200, "arc_challenge": 200, "hellaswag": 200}
    acc = tiny_eval.accuracy(tiny_eval.evaluate(model, tok, tiny_eval.Run(spec.key, topology, "base", "base", 0), n,
                                                max_new_tokens=p.max_new_tokens, code_tokens=p.code_tokens))
    low = {b: a for b, a in acc.items() if a < synthetic.CHANCE[b] + 0.10}
    assert not low, f"below chance + 10 pp: {low} (all: {acc})"
