"""Greedy decoding of many prompts that share a beginning, the shared part run once.

    tokens = greedy(prompt_ids, max_new_tokens=40, model=model)   # [[token, ...] per prompt]

The GSM8K analogue's prompts all open with the same 45 tokens (BOS, the preamble, "Question: ").
`model.generate` on a left-padded batch runs them once per prompt. Here the common prefix runs once
(batch 1); its cache -- Gated DeltaNet / Mamba-2 conv and recurrent states, attention keys and
values -- is copied into every prompt of one length, and the rest of those prompts runs from there
unpadded. The length groups' caches are then joined into one batch, the shorter attention caches
left-padded with masked positions (what `generate` does with left-padded prompts: a masked key has
weight exactly 0), and all prompts decode together, one token per step, greedily, with the model's
cache and explicit positions; the attention caches get room for every new token up front, written in
place (`join` allocates them with that room: the same values, without a copy of the whole cache per
step), and attention reads the whole buffer with the positions not yet written masked. The same tokens as
`model.generate` on each prompt alone, in another floating-point order (tests/test_tiny_fastpath.py).
"""
from __future__ import annotations

import copy

import torch
from torch import nn


def shared_prefix(rows: list[list[int]]) -> int:
    """Length of the rows' common prefix, leaving at least one token of the shortest row."""
    limit = min(len(r) for r in rows) - 1
    n = 0
    while n < limit and all(r[n] == rows[0][n] for r in rows):
        n += 1
    return n


def _rest(model: nn.Module, head, rows: list[list[int]], shared: int):
    """(last-token logits, cache) of equal-length rows whose first `shared` tokens are `head`'s."""
    length = len(rows[0])
    if head is None:  # nothing shared
        out = model(input_ids=torch.tensor(rows), use_cache=True, logits_to_keep=1)
        return out.logits[:, -1], out.cache
    cache = copy.deepcopy(head)
    cache.reorder_cache(torch.zeros(len(rows), dtype=torch.long))
    pos = torch.arange(shared, length)[None].expand(len(rows), -1)
    out = model(input_ids=torch.tensor([r[shared:] for r in rows]), cache=cache, use_cache=True,
                position_ids=pos, logits_to_keep=1)
    return out.logits[:, -1], out.cache


def join(caches: list, lengths: list[int], extra: int = 0):
    """One cache holding the rows of `caches` in order; attention keys / values (group k's
    `lengths[k]` long) left-padded with zeros to the longest, in buffers with room for `extra` more
    positions (zeros; written in place: `_write_in_place`). Each buffer is allocated once and every
    group copied into its place: the same values as padding, concatenating and copying into a larger
    buffer, without the two intermediate copies (on a 500-prompt batch each is a fresh ~10 MB)."""
    joined = copy.deepcopy(caches[0])
    width = max(lengths)
    for i, layer in enumerate(joined.layers):
        parts = [c.layers[i] for c in caches]
        if isinstance(getattr(layer, "keys", None), torch.Tensor) and layer.keys.numel():
            rows = [0]
            for p in parts:
                rows.append(rows[-1] + p.keys.shape[0])
            room = []
            for name in ("keys", "values"):
                first = getattr(parts[0], name)
                buf = first.new_empty(rows[-1], *first.shape[1:-2], width + extra, first.shape[-1])
                buf[..., width:, :] = 0
                for k, p in enumerate(parts):
                    t = getattr(p, name)
                    pad = width - t.shape[-2]
                    buf[rows[k]:rows[k + 1], ..., :pad, :] = 0
                    buf[rows[k]:rows[k + 1], ..., pad:width, :] = t
                room.append(buf)
            _write_in_place(layer, room, width)
        for states in ("conv_states", "recurrent_states"):
            held = getattr(layer, states, None)
            if isinstance(held, dict):
                for k, v in held.items():
                    if isinstance(v, torch.Tensor):
                        held[k] = torch.cat([getattr(p, states)[k] for p in parts])
    return joined


def _write_in_place(layer, room: list[torch.Tensor], n: int) -> None:
    """Make `layer` write new keys / values into `room` (its buffers, the first `n` positions
    written) instead of concatenating (`DynamicLayer.update` would copy the whole cache each
    decoding step). The layer's `keys` / `values` stay the positions written so far; attention is
    given the whole buffer, the positions not yet written masked (`greedy` passes that mask): one
    contiguous tensor, which the CPU attention kernel reads faster than a view of part of it."""
    layer.keys, layer.values = (buf[..., :n, :] for buf in room)

    def update(key_states, value_states, *args, _layer=layer, _room=room, **kwargs):
        n, t = _layer.keys.shape[-2], key_states.shape[-2]
        _room[0][..., n:n + t, :] = key_states
        _room[1][..., n:n + t, :] = value_states
        _layer.keys, _layer.values = _room[0][..., :n + t, :], _room[1][..., :n + t, :]
        return _room[0], _room[1]

    layer.update = update  # this cache object only


@torch.no_grad()
def greedy(prompts: list[list[int]], max_new_tokens: int, *, model: nn.Module) -> list[list[int]]:
    """`max_new_tokens` greedy tokens after each prompt (token ids; no stop token)."""
    if not prompts or max_new_tokens < 1:
        return [[] for _ in prompts]
    shared = shared_prefix(prompts)
    head = None if shared == 0 else model(input_ids=torch.tensor([prompts[0][:shared]]), use_cache=True,
                                          logits_to_keep=1).cache
    groups: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        groups.setdefault(len(p), []).append(i)
    order, lengths, caches, firsts = [], [], [], []
    for length, members in sorted(groups.items()):
        logits, cache = _rest(model, head, [prompts[i] for i in members], shared)
        order += members
        lengths.append(length)
        caches.append(cache)
        firsts.append(logits.argmax(-1))
    width = max(lengths)
    mask = torch.cat([torch.cat([torch.zeros(len(groups[n]), width - n, dtype=torch.long),
                                 torch.ones(len(groups[n]), n, dtype=torch.long)], 1) for n in lengths])
    pos = torch.tensor([len(prompts[i]) for i in order])
    cache, token = join(caches, lengths, extra=max_new_tokens), torch.cat(firsts)
    # attention over the whole buffers: a key is seen once written, padding never; the
    # masks are given as the model would build them (4-D, True = attend; none for the recurrent
    # layers at one token a step)
    seen = torch.cat([mask.bool(), torch.zeros(len(order), max_new_tokens, dtype=torch.bool)], 1)
    out = [token]
    for step in range(max_new_tokens - 1):
        seen[:, width + step] = True  # the token this step feeds
        masks = {"full_attention": seen[:, None, None, :], "linear_attention": None}
        logits = model(input_ids=token[:, None], attention_mask=masks, position_ids=pos[:, None], cache=cache,
                       use_cache=True, logits_to_keep=1).logits
        token, pos = logits[:, -1].argmax(-1), pos + 1
        out.append(token)
    tokens = torch.stack(out, 1).tolist()
    result: list[list[int]] = [[] for _ in prompts]
    for row, i in enumerate(order):
        result[i] = tokens[row]
    return result
