"""The tiny track's faster evaluation computes what the plain computation does.

* `fastpath.recurrent_gated_deltanet`: transformers' recurrent Gated DeltaNet rule in place of its
  chunk rule gives the chunk rule's outputs and final state (float32 rounding apart), and the
  chunk rule is back afterwards, also after an exception;
* `evaluate.choice_loglikelihoods` (each prompt run once, its cache carried into the choices) gives
  the log-likelihoods of running BOS + prompt + choice whole, one sequence at a time, with
  transformers' own code and nothing patched (computed here, independently), on every organism;
* `evaluate.generate` under the fast path continues every prompt as `model.generate` does outside it.
"""
from __future__ import annotations

import pytest
import torch
from transformers.models.qwen3_5 import modeling_qwen3_5 as qwen

from loraplace.models import organisms as org
from loraplace.tracks.tiny import evaluate as tiny_eval
from loraplace.tracks.tiny import fastpath
from loraplace.train import synthetic
from loraplace.train.tokenizer import BOS_ID, PAD_ID, build_tokenizer

ORGANISMS = tuple(org.factorial(32))


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # as the track evaluates


def _gdn_inputs(batch: int, length: int, with_state: bool, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    q, k = (torch.randn(batch, length, 2, 8, generator=g) for _ in range(2))
    v = torch.randn(batch, length, 4, 8, generator=g)
    decay = -torch.rand(batch, length, 4, generator=g) * 2  # log decay <= 0
    beta = torch.rand(batch, length, 4, generator=g)
    state = torch.randn(batch, 4, 8, 8, generator=g) * 0.3 if with_state else None
    return q, k, v, decay, beta, state


@pytest.mark.parametrize("length", [1, 5, 64, 130])
@pytest.mark.parametrize("with_state", [False, True])
def test_recurrent_rule_agrees_with_the_chunk_rule(length, with_state):
    q, k, v, decay, beta, state = _gdn_inputs(3, length, with_state)
    kw = dict(initial_state=state, output_final_state=True, use_qk_l2norm_in_kernel=True)
    ref_out, ref_state = fastpath.CHUNK_RULE(q, k, v, decay, beta, **kw)
    out, final = fastpath.recurrent_rule(q, k, v, decay, beta, chunk_size=64, **kw)
    assert out.shape == ref_out.shape and final.shape == ref_state.shape
    torch.testing.assert_close(out, ref_out, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(final, ref_state, rtol=1e-4, atol=1e-5)


def test_the_chunk_rule_is_restored_after_the_block():
    assert qwen.torch_chunk_gated_delta_rule is fastpath.CHUNK_RULE
    with fastpath.recurrent_gated_deltanet():
        with fastpath.recurrent_gated_deltanet():  # re-entrant
            assert qwen.torch_chunk_gated_delta_rule is fastpath.recurrent_rule
        assert qwen.torch_chunk_gated_delta_rule is fastpath.recurrent_rule
    assert qwen.torch_chunk_gated_delta_rule is fastpath.CHUNK_RULE
    with pytest.raises(RuntimeError), fastpath.recurrent_gated_deltanet():
        raise RuntimeError("boom")
    assert qwen.torch_chunk_gated_delta_rule is fastpath.CHUNK_RULE


@pytest.fixture(scope="module")
def models():
    return {key: org.build(spec, seed=3).eval() for key, spec in org.factorial(32).items()}


def _whole_sequence_loglikelihoods(model, tok, items):
    """Sum of log p(choice | BOS + prompt), each BOS + prompt + choice run alone, nothing patched."""
    out = []
    with torch.no_grad():
        for item in items:
            ctx = [BOS_ID] + tok(item.prompt, add_special_tokens=False)["input_ids"]
            row = []
            for choice in item.choices:
                cont = tok(choice, add_special_tokens=False)["input_ids"]
                x = torch.tensor([ctx + cont])
                logp = torch.log_softmax(model(input_ids=x).logits[0].float(), dim=-1)
                row.append(sum(float(logp[len(ctx) + i - 1, t]) for i, t in enumerate(cont)))
            out.append(row)
    return out


@pytest.mark.parametrize("organism", ORGANISMS)
def test_choices_scored_behind_their_prompt_equal_whole_sequences(organism, models):
    tok = build_tokenizer()
    items = [it for bench in tiny_eval.MC_NORMALISED for it in synthetic.eval_items(bench, 16)]
    ours = tiny_eval.choice_loglikelihoods(models[organism], tok, items, batch=7)  # batches split prompts and choices
    ref = _whole_sequence_loglikelihoods(models[organism], tok, items)
    assert [len(r) for r in ours] == [len(it.choices) for it in items]
    for item, a, b in zip(items, ours, ref):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-4), item.key
        assert max(range(len(a)), key=a.__getitem__) == max(range(len(b)), key=b.__getitem__), item.key
    assert qwen.torch_chunk_gated_delta_rule is fastpath.CHUNK_RULE


@pytest.mark.parametrize("organism", ORGANISMS)
def test_generation_under_the_fast_path_matches_generate(organism, models):
    tok = build_tokenizer()
    model = models[organism]
    prompts = [it.prompt for it in synthetic.eval_items("gsm8k", 6)]
    ours = tiny_eval.generate(model, tok, prompts, max_new_tokens=10, batch=3)
    ref = []
    with torch.no_grad():
        for p in prompts:  # one prompt at a time: no padding at all
            x = torch.tensor([[BOS_ID] + tok(p, add_special_tokens=False)["input_ids"]])
            y = model.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=10, do_sample=False,
                               pad_token_id=PAD_ID, eos_token_id=None, num_beams=1)
            ref.append(tok.decode(y[0, x.shape[1]:].tolist(), skip_special_tokens=True))
    assert ours == ref


def test_join_left_pads_attention_and_stacks_states(models):
    from loraplace.tracks.tiny.greedy import join

    model = models["tiny_falcon_h1"]  # every layer holds keys / values and conv + recurrent states
    with torch.no_grad():
        short = model(input_ids=torch.tensor([[BOS_ID, 5, 6]]), use_cache=True).cache
        long = model(input_ids=torch.tensor([[BOS_ID, 7, 8, 9, 10], [BOS_ID, 9, 9, 9, 9]]), use_cache=True).cache
    joined = join([short, long], [3, 5])
    layer, a, b = joined.layers[0], short.layers[0], long.layers[0]
    assert layer.keys.shape[0] == 3 and layer.keys.shape[-2] == 5
    assert torch.equal(layer.keys[0, :, :2], torch.zeros_like(layer.keys[0, :, :2]))
    assert torch.equal(layer.keys[0, :, 2:], a.keys[0]) and torch.equal(layer.values[1:], b.values)
    assert torch.equal(layer.recurrent_states[0][0], a.recurrent_states[0][0])
    assert torch.equal(layer.conv_states[0][1:], b.conv_states[0])
    roomy = join([short, long], [3, 5], extra=2).layers[0]  # room for two more positions, written in place
    assert torch.equal(roomy.keys, layer.keys) and roomy.keys.shape[-2] == 5
    new_k, new_v = torch.ones_like(layer.keys[..., :1, :]), torch.full_like(layer.values[..., :1, :], 2.0)
    keys, values = roomy.update(new_k, new_v)
    assert keys.shape[-2] == 7 and torch.equal(keys[..., :5, :], layer.keys) and torch.equal(keys[..., 5:6, :], new_k)
    assert torch.equal(values[..., 5:6, :], new_v) and not keys[..., 6:, :].any() and roomy.keys.shape[-2] == 6


@pytest.mark.parametrize("organism", ORGANISMS)
def test_greedy_with_and_without_a_shared_prefix_matches_generate(organism, models):
    from loraplace.tracks.tiny.greedy import greedy

    model = models[organism]
    prompts = [[BOS_ID, 9, 10, 11, 12, 13, 14, 15, 16, 20], [BOS_ID, 9, 10, 11, 12, 13, 14, 15, 16, 30, 31, 32],
               [BOS_ID, 9, 10, 11, 12, 13, 14, 15, 16, 40], [50, 51]]  # the last shares nothing
    for rows in (prompts[:3], prompts):
        ours = greedy(rows, 8, model=model)
        with torch.no_grad():
            for row, got in zip(rows, ours):
                x = torch.tensor([row])
                y = model.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=8, do_sample=False,
                                   pad_token_id=PAD_ID, eos_token_id=None, num_beams=1)
                assert got == y[0, len(row):].tolist()


@pytest.mark.parametrize(("cpus", "threads", "expected"), [(2, 1, 1), (1, 1, 1), (2, 2, 1), (8, 1, 2), (8, 7, 1)])
def test_the_sandboxes_beside_the_model_leave_its_cpus(monkeypatch, cpus, threads, expected):
    monkeypatch.setattr(tiny_eval.cpus.os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    monkeypatch.setattr(tiny_eval.torch, "get_num_threads", lambda: threads)
    assert tiny_eval.sandboxes_beside_model() == expected
