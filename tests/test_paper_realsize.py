"""The paper track at real size on CPU: random-initialised models built from the real configs.

What only real head dimensions, vocabularies (Qwen3.5: 248,320) and tying reveal: each model is
saved in the Hugging Face layout and loaded back through the track's checked loader (a tied
`lm_head` must count as present), trained one study-protocol step (short sequences) through
the track's trainer, and evaluated on one item per benchmark through lm-eval with the study's
prompts. Prints seconds and peak RSS. Heavy (several GB, minutes): runs only with
LORAPLACE_REALSIZE=1, e.g.

    LORAPLACE_REALSIZE=1 nice -n 10 python -m pytest tests/test_paper_realsize.py -m slow -s
"""
from __future__ import annotations

import math
import os
import resource
import time
from dataclasses import replace
from pathlib import Path

import pytest

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
REFERENCE = REFERENCE if REFERENCE.is_dir() else Path("/work/shared/reference")
MODELS = {"sequential": "qwen3_5_0_8b_base", "parallel": "falcon_h1_0_5b_base"}

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    os.environ.get("LORAPLACE_REALSIZE") != "1",
    reason="real-size paper check: several GB and minutes of CPU; set LORAPLACE_REALSIZE=1 to run it")]


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


@pytest.mark.parametrize("topology", ["sequential", "parallel"])
def test_one_study_step_and_one_item_per_benchmark_at_real_size(tmp_path, topology):
    import torch
    from transformers import AutoModelForCausalLM

    from loraplace.evidence.records import Run
    from loraplace.models.zoo import load_config
    from loraplace.scoring.programs import execute
    from loraplace.study import BENCHMARKS
    from loraplace.tracks.paper import prompts
    from loraplace.tracks.paper import toy as paper_toy
    from loraplace.tracks.paper.lmeval import run_lm_eval, to_records
    from loraplace.tracks.paper.models import inspect_model, load_model, resolve_models
    from loraplace.tracks.paper.plan import profile
    from loraplace.tracks.paper.protocol import STUDY
    from loraplace.tracks.paper.study_tasks import build_study_tasks
    from loraplace.train.trainer import train_lora

    t0 = time.perf_counter()
    torch.manual_seed(0)
    config = load_config(REFERENCE / f"{MODELS[topology]}.config.json")
    directory = tmp_path / MODELS[topology]
    AutoModelForCausalLM.from_config(config, dtype=torch.float32).save_pretrained(directory)
    paper_toy.toy_tokenizer(topology == "sequential").save_pretrained(directory)
    ref = resolve_models([f"{topology}={directory}"])[topology]
    info = inspect_model(ref)
    model, tok = load_model(ref)  # refuses missing / unexpected weights: the real tying must pass
    t_load = time.perf_counter() - t0

    recipe = replace(profile("smoke"), max_steps=1, batch_size=1, grad_accum=1, seq_len=48, eval_batch=1)
    texts = prompts.training_split("gsm8k_train", paper_toy.rows("gsm8k_train", 140), tok, n=8)["train"]
    condition = info.conditions[info.roles["attention"]]
    t1 = time.perf_counter()
    peft_model, train_info = train_lora(model, tok, condition, texts, recipe, seed=3407)
    t_train = time.perf_counter() - t1
    assert train_info["steps"] == 1 and all(math.isfinite(x) for x in train_info["losses"])

    rows = {b: [dict(r, _index=0) for r in paper_toy.rows(b, 1)] for b in BENCHMARKS}
    pools = {b: paper_toy.rows(name, 6) for b, name in
             (("mmlu", "mmlu_dev"), ("arc_challenge", "arc_challenge_train"), ("hellaswag", "hellaswag_train"))}
    pools["gsm8k"] = prompts.gsm8k_pool(paper_toy.rows("gsm8k_train", 140))
    t2 = time.perf_counter()
    tasks = build_study_tasks(rows, pools, tok, STUDY, recipe)
    samples = run_lm_eval(peft_model, tok, tasks, batch_size=1, protocol=STUDY)
    records = to_records(Run(ref.key, topology, condition.name, "gsm8k_train", 3407), samples, execute, "study")
    t_eval = time.perf_counter() - t2
    assert {r.benchmark for r in records} == set(BENCHMARKS) and len(records) == 2 * len(BENCHMARKS)
    print(f"\nreal-size {MODELS[topology]} ({info.n_params / 1e6:.0f} M params, vocab {config.get_text_config().vocab_size}): "
          f"build+save+load {t_load:.1f} s, one training step {t_train:.1f} s, one item per benchmark "
          f"{t_eval:.1f} s, peak RSS {_rss_gb():.2f} GB")
