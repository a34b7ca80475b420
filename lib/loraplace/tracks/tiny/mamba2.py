"""Mamba-2 for evaluating the tiny organisms on CPU (inference only): the same functions, fewer passes.

    with mamba2_evaluation():
        logits = model(input_ids=x).logits

Without `mamba_ssm` and `causal_conv1d`, transformers runs tiny Falcon-H1's and tiny Bamba's
mixers with its torch reference functions, written for any shape: the chunk scan pads every
sequence to whole chunks and runs four einsums over a permuted (batch, chunk, position, head)
layout; one decoding step discretises A and B over a (batch, head, head_dim, state) tensor although
dt and A are per head; the depthwise causal convolution goes through a general convolution kernel.
On the tiny track's evaluation shapes (prompts of 2-130 tokens, choices of 1-20, one token a
decoding step, one group) that is about half of these two organisms' evaluation time
(`benchmarks/RESULTS.md`). Inside the block the four module-level functions of transformers'
`modeling_falcon_h1` and `modeling_bamba` are replaced by:

  mamba2_chunk_scan              chunk by chunk, each chunk's final state the next one's initial
                                 state; within a chunk, C·Bᵀ once for all heads (one group), the
                                 decay matrix from transformers' own `segment_sum`, batched matmuls
  mamba2_selective_state_update  dt, exp(dt·A) per head, broadcast over head_dim and state; the
                                 state updated in place (as the reference does, by a copy)
  causal_conv1d_fn / _update     the depthwise convolution as kernel-size shifted multiply-adds

Each computes what the function it replaces computes, in another floating-point order (agreement
tested in tests/test_tiny_mamba2.py); any input outside the shapes above (several groups, other
dtypes, an A or dt that is not per head) goes to transformers' function. Outside the block
nothing changes: training, and so every base and adapter, keeps transformers' code.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers.activations import ACT2FN
from transformers.models.bamba import modeling_bamba as _bamba
from transformers.models.falcon_h1 import modeling_falcon_h1 as _falcon

from loraplace.tracks.tiny.fastpath import Swap

MODULES = (_falcon, _bamba)  # each holds its own copy of the four functions (the same code)
REFERENCE = {name: getattr(_falcon, name) for name in
             ("mamba2_chunk_scan", "mamba2_selective_state_update", "causal_conv1d_fn", "causal_conv1d_update")}


def _shifted_sum(x: torch.Tensor, weight: torch.Tensor, start: int, length: int) -> torch.Tensor:
    """sum over k of weight[:, k] * x[:, :, start + k : start + k + length] (a depthwise convolution)."""
    out = x[:, :, start:start + length] * weight[:, 0, None]
    for k in range(1, weight.shape[-1]):
        out = out + x[:, :, start + k:start + k + length] * weight[:, k, None]
    return out


def causal_conv1d_fn(hidden_states, weight, bias=None, activation=None, **kwargs):
    """`causal_conv1d_fn` (input [batch, channels, length], weight [channels, kernel])."""
    length, kernel = hidden_states.shape[-1], weight.shape[-1]
    out = _shifted_sum(F.pad(hidden_states.to(weight.dtype), (kernel - 1, 0)), weight, 0, length)
    if bias is not None:
        out = out + bias[:, None]
    if activation is not None:
        out = ACT2FN[activation](out)
    return out.to(hidden_states.dtype)


def causal_conv1d_update(hidden_states, conv_state, weight, bias=None, activation=None):
    """`causal_conv1d_update`: the new tokens appended to the conv state (updated in place), the
    convolution's outputs at those tokens."""
    length, kept, kernel = hidden_states.shape[-1], conv_state.shape[-1], weight.shape[-1]
    joined = torch.cat([conv_state, hidden_states], dim=-1).to(weight.dtype)
    conv_state.copy_(joined[:, :, -kept:])
    out = _shifted_sum(joined, weight, joined.shape[-1] - kernel + 1 - length, length)
    if bias is not None:
        out = out + bias[:, None]
    if activation is not None:
        out = ACT2FN[activation](out)
    return out.to(hidden_states.dtype)


def mamba2_selective_state_update(state, hidden_states, dt, A, B, C, D=None, dt_bias=None, dt_softplus=False,
                                  z=None, **kwargs):
    """`mamba2_selective_state_update` (one token) with dt and exp(dt·A) computed per head: the
    mixers pass dt, dt_bias ([.., heads, head_dim]) and A ([heads, head_dim, state]) expanded from
    one value per head."""
    per_head = (dt.stride(-1) == 0 and A.stride(-1) == 0 and A.stride(-2) == 0
                and (dt_bias is None or dt_bias.stride(-1) == 0))
    if not per_head or state.dtype != torch.float32 or hidden_states.dtype != torch.float32:
        return REFERENCE["mamba2_selective_state_update"](state, hidden_states, dt, A, B, C, D=D, dt_bias=dt_bias,
                                                          dt_softplus=dt_softplus, z=z, **kwargs)
    batch, heads, head_dim = hidden_states.shape
    groups, size = B.shape[1], B.shape[-1]
    dt = dt[..., :1]
    if dt_bias is not None:
        dt = dt + dt_bias[..., :1].to(dt.dtype)
    if dt_softplus:
        dt = F.softplus(dt)
    dt = dt[..., None]  # [batch, heads, 1, 1]
    dA = torch.exp(dt.float() * A[:, :1, :1].float())

    def per_head_of(t):  # [batch, groups, state] -> [batch, heads, 1, state]
        return t.reshape(batch, groups, 1, size).expand(batch, groups, heads // groups, size).reshape(
            batch, heads, 1, size)

    state.mul_(dA).add_((dt * per_head_of(B)) * hidden_states[..., None])
    out = torch.bmm(state.view(batch * heads, head_dim, size),
                    per_head_of(C).reshape(batch * heads, size, 1)).view(batch, heads, head_dim)
    if D is not None:
        out = (out + hidden_states * D).to(out.dtype)
    if z is not None:
        out = out * F.silu(z)
    return out.to(hidden_states.dtype)


def _one_chunk(x, dt, A, B, C, initial_states, want_state: bool):
    """(y [batch, length, heads, head_dim], final state or None) of one chunk: x [batch, length,
    heads, head_dim], dt [batch, length, heads] (discretised), A [heads], B and C [batch, length,
    state] (one group), initial_states [batch, heads, head_dim, state] or None; no D term."""
    xdt = (x * dt[..., None]).permute(0, 2, 1, 3)  # [batch, heads, length, head_dim]
    dA = (A * dt).transpose(1, 2)  # [batch, heads, length]
    cum = torch.cumsum(dA, dim=-1)
    decay = torch.exp(_falcon.segment_sum(dA))  # [batch, heads, l, s]; 0 above the diagonal
    y = torch.matmul(torch.bmm(C, B.transpose(1, 2))[:, None] * decay, xdt)  # [batch, heads, length, head_dim]
    if initial_states is not None:
        y = y + torch.matmul(C[:, None], initial_states.transpose(-1, -2)) * torch.exp(cum)[..., None]
    final = None
    if want_state:
        to_end = torch.exp(cum[..., -1:] - cum)  # [batch, heads, length]
        final = torch.matmul((xdt * to_end[..., None]).transpose(-1, -2), B[:, None])  # [batch, heads, head_dim, state]
        if initial_states is not None:
            final = final + initial_states * torch.exp(cum[..., -1])[..., None, None]
    return y.permute(0, 2, 1, 3), final


def mamba2_chunk_scan(hidden_states, dt, A, B, C, chunk_size, D=None, dt_bias=None, initial_states=None,
                      dt_softplus=False, dt_limit=(0.0, float("inf")), return_final_states=False, **kwargs):
    """`mamba2_chunk_scan`, chunk by chunk (one group; several go to transformers' function)."""
    if B.shape[2] != 1:
        return REFERENCE["mamba2_chunk_scan"](hidden_states, dt, A, B, C, chunk_size, D=D, dt_bias=dt_bias,
                                              initial_states=initial_states, dt_softplus=dt_softplus,
                                              dt_limit=dt_limit, return_final_states=return_final_states, **kwargs)
    if dt_bias is not None:
        dt = dt + dt_bias.to(dt.dtype)
    if dt_softplus:
        dt = F.softplus(dt)
    dt = torch.clamp(dt, min=dt_limit[0], max=dt_limit[1]).float()
    x, A = hidden_states.float(), A.float()
    B, C = B[:, :, 0].float(), C[:, :, 0].float()
    state = initial_states.float() if initial_states is not None else None
    length, outs = x.shape[1], []
    for start in range(0, length, chunk_size):
        part = slice(start, start + chunk_size)
        last = start + chunk_size >= length
        y, state = _one_chunk(x[:, part], dt[:, part], A, B[:, part], C[:, part], state,
                              want_state=return_final_states or not last)
        outs.append(y)
    out = outs[0] if len(outs) == 1 else torch.cat(outs, 1)
    if D is not None:
        out = out + D[..., None] * x
    out = out.contiguous()
    return (out, state) if return_final_states else out


REPLACEMENTS = {"mamba2_chunk_scan": mamba2_chunk_scan, "mamba2_selective_state_update": mamba2_selective_state_update,
                "causal_conv1d_fn": causal_conv1d_fn, "causal_conv1d_update": causal_conv1d_update}
mamba2_evaluation = Swap([(module, name, fn) for module in MODULES for name, fn in REPLACEMENTS.items()])
