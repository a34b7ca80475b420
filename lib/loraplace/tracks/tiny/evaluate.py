"""Batched evaluation of a (base or adapted) tiny organism on the synthetic benchmarks -> Records.

Scoring, per benchmark (both scorer names are always written, so every claim has both):

  gsm8k          greedy generation after the preamble + "Question: …\\nAnswer:" prompt, at most
                 `max_new_tokens` characters, no stop sequence (the organism runs on into the next
                 invented problem, as the study's model did); scored by
                 `loraplace.scoring.gsm8k.score_gsm8k` under `as-published` and `corrected`.
  humaneval      greedy completion of the function prompt (at most `code_tokens` characters), run
                 with its unit tests in `loraplace.sandbox.api`: `corrected` truncates at
                 `humaneval.STOP_SEQUENCES` first (the standard rule); `as-published` executes the
                 untruncated completion (the study's rule of not truncating -- its stored result
                 was 0/164 because nothing executed at all; here the untruncated program does run,
                 i.e. humaneval's `as-published`). Programs are memoised by sha256 within a process.
  mmlu, arc      log-likelihood of each choice continuation given the prompt; the argmax is the
                 prediction (lm-eval `acc`). Same label under both scorer names.
  hellaswag      the same with the log-likelihood divided by the ending's length in characters
                 (= tokens for the character tokenizer; lm-eval `acc_norm` normalises by bytes).

Every record's `extra` holds the prediction and `output_sha256`, the sha256 of the raw output
(the generated text, or the choices' log-likelihoods rounded to 1e-4).
"""
from __future__ import annotations

import hashlib

import torch
from torch import nn

from loraplace.evidence.records import Record, Run, sha256_text
from loraplace.scoring.execution import execute
from loraplace.scoring.gsm8k import SCORERS, score_gsm8k
from loraplace.train import synthetic
from loraplace.train.tokenizer import BOS_ID, PAD_ID

MC_NORMALISED = {"mmlu": False, "arc_challenge": False, "hellaswag": True}


def _encode(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@torch.no_grad()
def choice_loglikelihoods(model: nn.Module, tokenizer, items: list[synthetic.Item], batch: int = 128) -> list[list[float]]:
    """Sum of log p(choice tokens | BOS + prompt) for every choice of every item."""
    seqs, spans = [], []
    for item in items:
        ctx = [BOS_ID] + _encode(tokenizer, item.prompt)
        for choice in item.choices:
            cont = _encode(tokenizer, choice)
            seqs.append(ctx + cont)
            spans.append((len(ctx), len(ctx) + len(cont)))
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))  # less padding
    scores = [0.0] * len(seqs)
    for start in range(0, len(order), batch):
        idx = order[start:start + batch]
        width = max(len(seqs[i]) for i in idx)
        x = torch.full((len(idx), width), PAD_ID, dtype=torch.long)
        for row, i in enumerate(idx):  # right padding: causal, so earlier positions are unaffected
            x[row, :len(seqs[i])] = torch.tensor(seqs[i])
        logp = torch.log_softmax(model(input_ids=x).logits.float(), dim=-1)  # [B, T, V]
        for row, i in enumerate(idx):
            a, b = spans[i]
            target = x[row, a:b]
            scores[i] = float(logp[row, a - 1:b - 1].gather(-1, target[:, None]).sum())
    out, k = [], 0
    for item in items:
        out.append(scores[k:k + len(item.choices)])
        k += len(item.choices)
    return out


@torch.no_grad()
def generate(model: nn.Module, tokenizer, prompts: list[str], max_new_tokens: int, batch: int = 64) -> list[str]:
    """Greedy continuations (left-padded batches, KV/recurrent cache), decoded raw."""
    outs = []
    for start in range(0, len(prompts), batch):
        chunk = [[BOS_ID] + _encode(tokenizer, p) for p in prompts[start:start + batch]]
        width = max(map(len, chunk))
        x = torch.full((len(chunk), width), PAD_ID, dtype=torch.long)
        mask = torch.zeros_like(x)
        for row, ids in enumerate(chunk):
            x[row, width - len(ids):] = torch.tensor(ids)
            mask[row, width - len(ids):] = 1
        y = model.generate(input_ids=x, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                           pad_token_id=PAD_ID, eos_token_id=None, num_beams=1)
        outs += [tokenizer.decode(row[width:].tolist(), skip_special_tokens=True) for row in y]
    return outs


def eval_mc(model, tokenizer, run: Run, items: list[synthetic.Item], batch: int) -> list[Record]:
    normalise = MC_NORMALISED[items[0].benchmark] if items else False
    records = []
    for item, lls in zip(items, choice_loglikelihoods(model, tokenizer, items, batch)):
        scored = [ll / len(c) for ll, c in zip(lls, item.choices)] if normalise else lls
        pred = max(range(len(scored)), key=scored.__getitem__)
        extra = {"prediction": pred, "label": item.label, "normalised": normalise,
                 "output_sha256": sha256_text(",".join(f"{v:.4f}" for v in lls))}
        records += [run.record(item, pred == item.label, s, extra) for s in SCORERS]
    return records


def eval_gsm8k(model, tokenizer, run: Run, items: list[synthetic.Item], max_new_tokens: int, batch: int) -> list[Record]:
    outs = generate(model, tokenizer, [i.prompt for i in items], max_new_tokens, batch)
    records = []
    for item, out in zip(items, outs):
        for scorer in SCORERS:
            score, pred = score_gsm8k(out, item.gold, scorer)
            records.append(run.record(item, score, scorer, {
                "prediction": pred, "gold": item.gold, "output": out, "output_sha256": sha256_text(out)}))
    return records


def eval_humaneval(model, tokenizer, run: Run, items: list[synthetic.Item], max_new_tokens: int,
                   batch: int) -> list[Record]:
    from loraplace.sandbox.api import build_program
    from loraplace.scoring.humaneval import truncate

    outs = generate(model, tokenizer, [i.prompt for i in items], max_new_tokens, batch)
    rules = {"corrected": truncate, "as-published": lambda c: c}
    programs = {s: [build_program(i.prompt, cut(o), i.test, i.entry_point) for i, o in zip(items, outs)]
                for s, cut in rules.items()}
    results = {s: execute(p) for s, p in programs.items()}
    records = []
    for k, (item, out) in enumerate(zip(items, outs)):
        for scorer in SCORERS:
            res = results[scorer][k]
            records.append(run.record(item, res["passed"], scorer, {
                "prediction": rules[scorer](out), "status": res["status"],
                "rule": "truncate-then-execute" if scorer == "corrected" else "execute-untruncated",
                "output": out, "output_sha256": sha256_text(out)}))
    return records


def evaluate(model: nn.Module, tokenizer, run: Run, n_items: dict[str, int], *, mc_batch: int = 128,
             gen_batch: int = 64, max_new_tokens: int = 32, code_tokens: int = 24) -> list[Record]:
    """Records of `run` on every benchmark in `n_items` ({benchmark: number of held-out items})."""
    model.eval()
    records = []
    for bench, n in n_items.items():
        items = synthetic.eval_items(bench, n)
        if bench == "gsm8k":
            records += eval_gsm8k(model, tokenizer, run, items, max_new_tokens, gen_batch)
        elif bench == "humaneval":
            records += eval_humaneval(model, tokenizer, run, items, code_tokens, gen_batch)
        elif bench in MC_NORMALISED:
            records += eval_mc(model, tokenizer, run, items, mc_batch)
        else:
            raise ValueError(f"Unknown benchmark {bench!r}. Available: {', '.join(synthetic.BENCHMARKS)}")
    return records


def accuracy(records: list[Record], scorer: str = "corrected") -> dict[str, float]:
    """Mean score per benchmark under a scorer."""
    sums: dict[str, list[float]] = {}
    for r in records:
        if r.scorer == scorer:
            sums.setdefault(r.benchmark, []).append(r.score)
    return {b: sum(v) / len(v) for b, v in sums.items()}


def records_digest(records: list[Record]) -> str:
    from loraplace.evidence.records import record_to_json

    return hashlib.sha256("".join(record_to_json(r) + "\n" for r in records).encode()).hexdigest()
