"""The tiny track's Mamba-2 evaluation functions compute what transformers' reference functions do.

Each replacement in `tracks.tiny.mamba2` is compared with the function it replaces (transformers'
own code, `mamba2.REFERENCE`) on random inputs of the evaluation's shapes and beyond (1-70 tokens,
with and without an initial state, chunks of 16 and 5); inputs outside the replacements' shapes
(several groups, A not per head) give exactly the reference's result; the functions are back after
the block. End to end (choices and generation on both Mamba-2 organisms) is tests/test_tiny_fastpath.py.
"""
from __future__ import annotations

import pytest
import torch
from transformers.models.bamba import modeling_bamba
from transformers.models.falcon_h1 import modeling_falcon_h1

from loraplace.models import organisms as org
from loraplace.tracks.tiny import mamba2
from loraplace.train.tokenizer import BOS_ID

HEADS, HEAD_DIM, STATE = 4, 8, 16


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # as the track evaluates


def _scan_inputs(batch: int, length: int, groups: int = 1, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, length, HEADS, HEAD_DIM, generator=g)
    dt = torch.randn(batch, length, HEADS, generator=g)
    A = -torch.rand(HEADS, generator=g) * 4 - 0.1
    B, C = (torch.randn(batch, length, groups, STATE, generator=g) for _ in range(2))
    D, dt_bias = torch.randn(HEADS, generator=g), torch.randn(HEADS, generator=g)
    state = torch.randn(batch, HEADS, HEAD_DIM, STATE, generator=g)
    return x, dt, A, B, C, D, dt_bias, state


@pytest.mark.parametrize("length", [1, 2, 15, 16, 17, 44, 70])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("chunk", [16, 5])
def test_chunk_scan_agrees_with_transformers(length, with_state, chunk):
    x, dt, A, B, C, D, dt_bias, state = _scan_inputs(3, length)
    kw = dict(chunk_size=chunk, D=D, dt_bias=dt_bias, dt_softplus=True, initial_states=state if with_state else None,
              dt_limit=(0.0, float("inf")), return_final_states=True)
    ref_out, ref_state = mamba2.REFERENCE["mamba2_chunk_scan"](x, dt, A, B, C, **kw)
    out, final = mamba2.mamba2_chunk_scan(x, dt, A, B, C, **kw)
    assert out.shape == ref_out.shape and out.dtype == ref_out.dtype and out.is_contiguous()
    torch.testing.assert_close(out, ref_out, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(final, ref_state, rtol=1e-4, atol=1e-4)
    kw["return_final_states"] = False
    torch.testing.assert_close(mamba2.mamba2_chunk_scan(x, dt, A, B, C, **kw), ref_out, rtol=1e-4, atol=1e-4)


def test_chunk_scan_with_several_groups_is_the_reference():
    x, dt, A, B, C, D, dt_bias, state = _scan_inputs(2, 20, groups=2)
    kw = dict(chunk_size=16, D=D, dt_bias=dt_bias, dt_softplus=True, initial_states=state, return_final_states=True)
    ref, ours = mamba2.REFERENCE["mamba2_chunk_scan"](x, dt, A, B, C, **kw), mamba2.mamba2_chunk_scan(x, dt, A, B, C, **kw)
    assert all(torch.equal(a, b) for a, b in zip(ref, ours))


def _step_inputs(batch: int, groups: int, seed: int = 1):
    """One decoding step's inputs as the mixers pass them: dt, dt_bias and A expanded from one value per head."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, HEADS, HEAD_DIM, generator=g)
    dt = torch.randn(batch, HEADS, 1, generator=g).expand(-1, -1, HEAD_DIM)
    A = (-torch.rand(HEADS, generator=g) * 4)[:, None, None].expand(-1, HEAD_DIM, STATE)
    B, C = (torch.randn(batch, groups, STATE, generator=g) for _ in range(2))
    D = torch.randn(HEADS, generator=g)[:, None].expand(-1, HEAD_DIM)
    dt_bias = torch.randn(HEADS, generator=g)[:, None].expand(-1, HEAD_DIM)
    z = torch.randn(batch, HEADS, HEAD_DIM, generator=g)
    state = torch.randn(batch, HEADS, HEAD_DIM, STATE, generator=g)
    return state, x, dt, A, B, C, D, dt_bias, z


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("gated", [False, True])
def test_state_update_agrees_with_transformers(groups, gated):
    state, x, dt, A, B, C, D, dt_bias, z = _step_inputs(5, groups)
    ref_state, our_state = state.clone(), state.clone()
    kw = dict(D=D, dt_bias=dt_bias, dt_softplus=True, z=z if gated else None)
    ref = mamba2.REFERENCE["mamba2_selective_state_update"](ref_state, x, dt, A, B, C, **kw)
    ours = mamba2.mamba2_selective_state_update(our_state, x, dt, A, B, C, **kw)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(our_state, ref_state, rtol=1e-5, atol=1e-5)  # updated in place, as the reference's


def test_state_update_with_a_dt_not_per_head_is_the_reference():
    state, x, dt, A, B, C, D, dt_bias, z = _step_inputs(3, 1)
    dt = dt + torch.arange(HEAD_DIM) * 0.1  # differs along head_dim: no per-head shortcut
    a, b = state.clone(), state.clone()
    ref = mamba2.REFERENCE["mamba2_selective_state_update"](a, x, dt, A, B, C, D=D, dt_bias=dt_bias, dt_softplus=True)
    ours = mamba2.mamba2_selective_state_update(b, x, dt, A, B, C, D=D, dt_bias=dt_bias, dt_softplus=True)
    assert torch.equal(ours, ref) and torch.equal(a, b)


@pytest.mark.parametrize("length", [1, 3, 16, 40])
@pytest.mark.parametrize("with_bias", [False, True])
def test_convolutions_agree_with_transformers(length, with_bias):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, 12, length, generator=g)
    weight, bias = torch.randn(12, 4, generator=g), torch.randn(12, generator=g) if with_bias else None
    ref = mamba2.REFERENCE["causal_conv1d_fn"](x, weight, bias, activation="silu")
    torch.testing.assert_close(mamba2.causal_conv1d_fn(x, weight, bias, activation="silu"), ref, rtol=1e-5, atol=1e-6)
    conv_state = torch.randn(3, 12, 4, generator=g)
    ref_state, our_state = conv_state.clone(), conv_state.clone()
    ref = mamba2.REFERENCE["causal_conv1d_update"](x, ref_state, weight, bias, activation="silu")
    ours = mamba2.causal_conv1d_update(x, our_state, weight, bias, activation="silu")
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    assert torch.equal(our_state, ref_state)


def test_the_reference_functions_are_restored_after_the_block():
    names = list(mamba2.REPLACEMENTS)
    for module in (modeling_falcon_h1, modeling_bamba):
        assert [getattr(module, n) for n in names] != [mamba2.REPLACEMENTS[n] for n in names]
    before = [[getattr(m, n) for n in names] for m in (modeling_falcon_h1, modeling_bamba)]
    with mamba2.mamba2_evaluation():
        with mamba2.mamba2_evaluation():  # re-entrant
            assert modeling_bamba.mamba2_chunk_scan is mamba2.mamba2_chunk_scan
        assert modeling_falcon_h1.causal_conv1d_update is mamba2.causal_conv1d_update
    assert [[getattr(m, n) for n in names] for m in (modeling_falcon_h1, modeling_bamba)] == before
    with pytest.raises(RuntimeError), mamba2.mamba2_evaluation():
        raise RuntimeError("boom")
    assert [[getattr(m, n) for n in names] for m in (modeling_falcon_h1, modeling_bamba)] == before


@pytest.mark.parametrize("organism", ["tiny_falcon_h1", "tiny_bamba"])
def test_a_mamba2_organism_runs_the_replacements_and_agrees(organism):
    """The whole model with a cache (prefill, then two decoding steps) inside the block: every
    replacement is called, and the logits agree with transformers' functions'."""
    model = org.build(org.organism(organism, 32), seed=4).eval()
    calls: dict[str, int] = {}
    seen = {name: (lambda *a, _n=name, _f=fn, **k: calls.__setitem__(_n, calls.get(_n, 0) + 1) or _f(*a, **k))
            for name, fn in mamba2.REPLACEMENTS.items()}

    def run(steps):
        x = torch.tensor([[BOS_ID] + list(range(5, 40))] * 2)
        with torch.no_grad():
            out = model(input_ids=x, use_cache=True)
            logits, cache = [out.logits], out.cache
            for i in range(steps):
                pos = torch.full((2, 1), x.shape[1] + i)
                out = model(input_ids=torch.tensor([[7], [8]]), cache=cache, use_cache=True, position_ids=pos)
                logits.append(out.logits)
        return torch.cat(logits, 1)

    ref = run(2)
    swap = mamba2.Swap([(m, n, fn) for m in mamba2.MODULES for n, fn in seen.items()])
    with swap():
        ours = run(2)
    assert set(calls) == set(mamba2.REPLACEMENTS)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4)
