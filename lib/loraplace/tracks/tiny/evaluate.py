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
                 i.e. humaneval's `as-published`). A program's reproduced outcome is kept in the
                 process and on disk (`scoring.programs.execute`): each distinct program runs once.
  mmlu, arc      log-likelihood of each choice continuation given the prompt; the argmax is the
                 prediction (lm-eval `acc`). Same label under both scorer names.
  hellaswag      the same with the log-likelihood divided by the ending's length in characters
                 (= tokens for the character tokenizer; lm-eval `acc_norm` normalises by bytes).

Every record's `extra` holds the prediction and `output_sha256`, the sha256 of the raw output
(the generated text, or the choices' log-likelihoods rounded to 1e-4).

How (`tiny-eval-4`; the same sums as running every sequence whole, in another floating-point
order): each distinct prompt runs once and its cache is carried into its choices; generation is
`greedy.greedy` (the prompts' common prefix once, all prompts decoded together with the cache);
every Gated DeltaNet runs transformers' recurrent rule (`fastpath`) and every Mamba-2 mixer the
same functions written for these shapes (`mamba2`); HumanEval's sandboxes run in a background
thread while the model scores the other benchmarks.
"""
from __future__ import annotations

import copy
import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import torch
from torch import nn

from loraplace import cpus
from loraplace.evidence.records import Record, Run, sha256_text
from loraplace.scoring.gsm8k import SCORERS, score_gsm8k
from loraplace.scoring.programs import WORKERS as SANDBOXES
from loraplace.scoring.programs import execute
from loraplace.tracks.tiny.fastpath import recurrent_gated_deltanet
from loraplace.tracks.tiny.greedy import greedy
from loraplace.tracks.tiny.mamba2 import mamba2_evaluation
from loraplace.train import synthetic
from loraplace.train.tokenizer import BOS_ID, PAD_ID

MC_NORMALISED = {"mmlu": False, "arc_challenge": False, "hellaswag": True}


def _encode(tokenizer, texts: list[str]) -> list[list[int]]:
    """Token ids of each text, one tokenizer call for all (the same ids as one call per text)."""
    return tokenizer(list(texts), add_special_tokens=False)["input_ids"] if texts else []


@torch.no_grad()
@recurrent_gated_deltanet()
@mamba2_evaluation()
def choice_loglikelihoods(model: nn.Module, tokenizer, items: list[synthetic.Item], batch: int = 128) -> list[list[float]]:
    """Sum of log p(choice tokens | BOS + prompt) for every choice of every item.

    Each distinct prompt runs once (prompts of one length batched together, so none is padded,
    a common beginning of a batch's prompts once for all), and each distinct (prompt, choice) once;
    the prompt's cache -- Gated DeltaNet / Mamba-2 conv and recurrent states, attention keys and values --
    is copied into one row per choice, and the choice tokens run from there (right-padded: a
    causal model's earlier positions never see the padding). The same sums as running every
    prompt + choice whole, in another floating-point order."""
    texts = list(dict.fromkeys(item.prompt for item in items))
    ctx = {text: [BOS_ID] + ids for text, ids in zip(texts, _encode(tokenizer, texts))}
    choices = list(dict.fromkeys(c for item in items for c in item.choices))
    choice_ids = dict(zip(choices, _encode(tokenizer, choices)))
    pairs: dict[tuple[str, str], int] = {}  # each distinct (prompt, choice) is scored once
    rows: dict[str, list[tuple[int, list[int]]]] = {}  # prompt -> (pair index, choice ids)
    slot = []  # flat choice index -> pair index
    for item in items:
        for choice in item.choices:
            if (item.prompt, choice) not in pairs:
                pairs[item.prompt, choice] = len(pairs)
                rows.setdefault(item.prompt, []).append((pairs[item.prompt, choice], choice_ids[choice]))
            slot.append(pairs[item.prompt, choice])
    unique = [0.0] * len(pairs)
    by_len: dict[int, list[str]] = {}
    for prompt, ids in ctx.items():
        by_len.setdefault(len(ids), []).append(prompt)
    for length in sorted(by_len):
        prompts = by_len[length]
        for start in range(0, len(prompts), batch):
            group = prompts[start:start + batch]
            flat = [(g, k, cont) for g, prompt in enumerate(group) for k, cont in rows[prompt]]
            for k, score in _score_behind_prompts(model, [ctx[p] for p in group], flat, batch):
                unique[k] = score
    scores = [unique[j] for j in slot]
    out, k = [], 0
    for item in items:
        out.append(scores[k:k + len(item.choices)])
        k += len(item.choices)
    return out


SHARED_MIN = 8  # a common prefix this long (tokens) is run once for all prompts of a batch


def _prefill(model: nn.Module, prompts: list[list[int]]):
    """(logits at the last token, cache) of equal-length prompts; their common prefix, when at least
    `SHARED_MIN` tokens, runs once and its cache is copied into every row for the rest."""
    n, length = len(prompts), len(prompts[0])
    shared = 0
    while shared < length - 1 and all(p[shared] == prompts[0][shared] for p in prompts):
        shared += 1
    if n == 1 or shared < SHARED_MIN:
        out = model(input_ids=torch.tensor(prompts), use_cache=True, logits_to_keep=1)
        return out.logits[:, -1], out.cache
    cache = model(input_ids=torch.tensor([prompts[0][:shared]]), use_cache=True, logits_to_keep=1).cache
    cache.reorder_cache(torch.zeros(n, dtype=torch.long))
    pos = torch.arange(shared, length)[None].expand(n, -1)
    out = model(input_ids=torch.tensor([p[shared:] for p in prompts]), cache=cache, use_cache=True,
                position_ids=pos, logits_to_keep=1)
    return out.logits[:, -1], out.cache


def _score_behind_prompts(model: nn.Module, prompts: list[list[int]], flat: list[tuple[int, int, list[int]]],
                          batch: int) -> list[tuple[int, float]]:
    """(k, log-likelihood) of each (prompt row, k, continuation ids) in `flat`, the equal-length
    `prompts` run once and their cache carried into batches of `batch` continuations."""
    length = len(prompts[0])
    last, cache = _prefill(model, prompts)
    first = torch.log_softmax(last.float(), dim=-1)  # [prompts, V]: the first choice token
    order = sorted(range(len(flat)), key=lambda i: len(flat[i][2]))  # less padding
    scored = []
    for start in range(0, len(order), batch):
        part = [flat[i] for i in order[start:start + batch]]
        src = torch.tensor([g for g, _, _ in part])
        terms = first[src, torch.tensor([cont[0] for _, _, cont in part])][:, None]  # [rows, 1]
        width = max(len(cont) for _, _, cont in part) - 1  # the last token's prediction is not needed
        if width > 0:
            rows = copy.deepcopy(cache)
            rows.reorder_cache(src)  # one row per continuation (index_select: the copy's own tensors)
            pad = [[PAD_ID] * (width + 1 - len(cont)) for _, _, cont in part]
            y = torch.tensor([cont[:-1] + p for (_, _, cont), p in zip(part, pad)])  # right-padded
            pos = torch.arange(length, length + width)[None].expand(len(part), -1)  # Bamba needs them explicit
            logits = model(input_ids=y, cache=rows, use_cache=True, position_ids=pos).logits
            logp = torch.log_softmax(logits.float(), dim=-1)
            tail = logp.gather(-1, torch.tensor([cont[1:] + p for (_, _, cont), p in zip(part, pad)])[..., None])[..., 0]
            beyond = torch.arange(width)[None] >= torch.tensor([len(cont) - 1 for _, _, cont in part])[:, None]
            terms = torch.cat([terms, tail.masked_fill(beyond, 0.0)], 1)  # a padded position adds 0
        scored += [(k, total) for (_, k, _), total in zip(part, terms.sum(-1).tolist())]
    return scored


@torch.no_grad()
@recurrent_gated_deltanet()
@mamba2_evaluation()
def generate(model: nn.Module, tokenizer, prompts: list[str], max_new_tokens: int, batch: int = 64) -> list[str]:
    """Greedy continuations, decoded raw, in the order of `prompts`: batches of up to `batch`
    prompts of similar length, each decoded by `greedy.greedy` (their common prefix run once, the
    model's cache carried through every step)."""
    ids = [[BOS_ID] + row for row in _encode(tokenizer, prompts)]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    outs = [""] * len(ids)
    for start in range(0, len(order), batch):
        part = order[start:start + batch]
        for i, tokens in zip(part, greedy([ids[i] for i in part], max_new_tokens, model=model)):
            outs[i] = tokenizer.decode(tokens, skip_special_tokens=True)
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


def sandboxes_beside_model() -> int:
    """Sandboxes at once while the model goes on evaluating in this process: no more than the CPUs
    the model's torch threads leave (at least one), nor than `SANDBOXES` (`programs.execute`'s
    default, what the rest run at once when the model is done). On 2 cores beside a one-thread
    model, two sandboxes at once made three processes share two cores and the model waited
    (benchmarks/RESULTS.md); the same programs, the same outcomes."""
    return max(1, min(SANDBOXES, cpus.usable() - torch.get_num_threads()))


def eval_humaneval(model, tokenizer, run: Run, items: list[synthetic.Item], max_new_tokens: int,
                   batch: int, pool: ThreadPoolExecutor | None = None) -> Callable[[], list[Record]]:
    """Generate the completions now and execute them with their tests in the sandbox -- in `pool`'s
    thread when given, so the model evaluates the other benchmarks meanwhile (the sandboxes are
    other processes, `sandboxes_beside_model()` at once until the records are asked for, then
    `SANDBOXES`; this one only waits for them) -> a callable giving the records."""
    from loraplace.sandbox.api import build_program
    from loraplace.scoring.humaneval import truncate

    outs = generate(model, tokenizer, [i.prompt for i in items], max_new_tokens, batch)
    rules = {"corrected": truncate, "as-published": lambda c: c}
    programs = [build_program(i.prompt, cut(o), i.test, i.entry_point) for cut in rules.values()
                for i, o in zip(items, outs)]  # one batch: each distinct program runs once
    busy = threading.Event()  # the model evaluates the other benchmarks: the sandboxes leave it its CPUs
    busy.set()
    at_once = lambda: sandboxes_beside_model() if busy.is_set() else SANDBOXES  # noqa: E731
    pending = pool.submit(execute, programs, workers=SANDBOXES, at_once=at_once) if pool is not None else None
    done = None if pool is not None else execute(programs, workers=SANDBOXES)

    def records() -> list[Record]:
        busy.clear()
        flat = pending.result() if pending is not None else done
        results = {s: flat[k * len(items):(k + 1) * len(items)] for k, s in enumerate(rules)}
        out = []
        for k, (item, text) in enumerate(zip(items, outs)):
            for scorer in SCORERS:
                res = results[scorer][k]
                out.append(run.record(item, res["passed"], scorer, {
                    "prediction": rules[scorer](text), "status": res["status"],
                    "rule": "truncate-then-execute" if scorer == "corrected" else "execute-untruncated",
                    "output": text, "output_sha256": sha256_text(text)}))
        return out

    return records


def evaluate(model: nn.Module, tokenizer, run: Run, n_items: dict[str, int], *, mc_batch: int = 128,
             gen_batch: int = 64, max_new_tokens: int = 32, code_tokens: int = 24) -> list[Record]:
    """Records of `run` on every benchmark in `n_items` ({benchmark: number of held-out items}), in
    that order; HumanEval first, so that its sandboxes run while the model scores the rest."""
    model.eval()
    unknown = [b for b in n_items if b not in synthetic.BENCHMARKS]
    if unknown:
        raise ValueError(f"Unknown benchmark {unknown[0]!r}. Available: {', '.join(synthetic.BENCHMARKS)}")
    parts: dict[str, list[Record]] = {}
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tiny-sandbox") as pool:
        executed = None
        if "humaneval" in n_items:
            executed = eval_humaneval(model, tokenizer, run, synthetic.eval_items("humaneval", n_items["humaneval"]),
                                      code_tokens, gen_batch, pool)
        for bench, n in n_items.items():
            items = synthetic.eval_items(bench, n)
            if bench == "gsm8k":
                parts[bench] = eval_gsm8k(model, tokenizer, run, items, max_new_tokens, gen_batch)
            elif bench in MC_NORMALISED:
                parts[bench] = eval_mc(model, tokenizer, run, items, mc_batch)
        if executed is not None:
            parts["humaneval"] = executed()
    return [r for bench in n_items for r in parts[bench]]


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
