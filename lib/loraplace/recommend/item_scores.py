"""Score `recommend`'s own evaluation items on one model: one number per item, higher is better.

    scores = score_items(model, tokenizer, items)      # {kind: np.ndarray in item order}

* ``loss``             minus the mean per-token negative log-likelihood (nats) of the item's
                       completion given its prompt (a text item: of the whole text);
* ``multiple_choice``  1 when the choice with the highest summed log-likelihood after the prompt is
                       the labelled one, else 0 (the harness's `acc`);
* ``exact_match``      1 when the greedy continuation of the prompt, cut at its first line break or
                       EOS and stripped, equals the answer, else 0. The completion is only ever
                       compared as a string: nothing a model writes is executed.

Plain torch forward passes and `generate` on CPU (or the model's device), one item at a time:
the items are the user's few hundred held-out rows, not a benchmark suite.
"""
from __future__ import annotations

import numpy as np
import torch

from loraplace.recommend.data import Item


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _prefix(tokenizer) -> list[int]:
    bos = getattr(tokenizer, "bos_token_id", None)
    return [bos] if bos is not None else []


@torch.no_grad()
def continuation_logprobs(model, tokenizer, prompt: str, completion: str) -> np.ndarray:
    """Log-probabilities of each token of `completion` after `prompt` (tokenized apart, so the
    completion's tokens are the same whatever the prompt)."""
    head, tail = _prefix(tokenizer) + _ids(tokenizer, prompt), _ids(tokenizer, completion)
    if not tail:
        return np.zeros(0)
    if not head:  # nothing to condition the first token on: it is not scored
        head, tail = tail[:1], tail[1:]
    ids = torch.tensor([head + tail], device=next(model.parameters()).device)
    logits = model(input_ids=ids).logits[0, len(head) - 1:-1].float()
    logp = torch.log_softmax(logits, dim=-1).gather(1, ids[0, len(head):, None])[:, 0]
    return logp.cpu().numpy()


@torch.no_grad()
def greedy(model, tokenizer, prompt: str, max_new_tokens: int) -> str:
    ids = torch.tensor([_prefix(tokenizer) + _ids(tokenizer, prompt)], device=next(model.parameters()).device)
    eos = tokenizer.eos_token_id
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                         do_sample=False, pad_token_id=eos if eos is not None else 0, eos_token_id=eos)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


def score_item(model, tokenizer, item: Item) -> float:
    if item.kind == "loss":
        logp = continuation_logprobs(model, tokenizer, item.prompt, item.completion)
        return float(logp.mean()) if logp.size else 0.0
    if item.kind == "multiple_choice":
        sums = [continuation_logprobs(model, tokenizer, item.prompt, c).sum() for c in item.choices]
        return float(int(np.argmax(sums)) == item.label)
    budget = len(_ids(tokenizer, item.answer)) + 8
    text = greedy(model, tokenizer, item.prompt, budget).split("\n", 1)[0].strip()
    return float(text == item.answer)


def score_items(model, tokenizer, items: list[Item]) -> dict[str, np.ndarray]:
    """{kind: scores in item order} of every kind present in `items`."""
    was_training = model.training
    model.eval()
    out: dict[str, list[float]] = {}
    for item in items:
        out.setdefault(item.kind, []).append(score_item(model, tokenizer, item))
    if was_training:
        model.train()
    return {k: np.asarray(v, float) for k, v in out.items()}
