"""The study protocol's texts: training examples, their split, and every evaluation prompt.

    split = training_split("gsm8k_train", rows, tokenizer)      # {"train": [...], "validation": [...]}
    pool = gsm8k_pool(gsm8k_train_rows)                         # the 128 GSM8K shots, removed from training
    prompt = fewshot_prompt(tokenizer, "mmlu", row, mmlu_dev)   # shots + question, <= 896 tokens
    continuations(row, "arc_challenge")                         # [" A", " B", " C", " D"]

The rules and strings are the notebook's (`protocol.STUDY`, `protocol.TRAINING`), applied to
the rows as the hub datasets hold them (`data.py`). Shuffles, selections and the validation
split go through `datasets` itself (`Dataset.shuffle` / `select` / `train_test_split` with the
study's seed), on an index column, so the draw is the library's, whatever the rows hold.
"""
from __future__ import annotations

from loraplace.tracks.paper.protocol import STUDY, TRAINING, Protocol, TrainingRules, gsm8k_pool_size

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class PromptError(ValueError):
    """A row the study's rules cannot render (the message names it)."""


# ---- training ------------------------------------------------------------------------------

def chat_text(tokenizer, messages: list[dict], rules: TrainingRules = TRAINING,
              add_generation_prompt: bool = False) -> str:
    """The tokenizer's chat template where it has one (and it renders), else "ROLE:\\ncontent"
    blocks joined by blank lines with EOS appended (the notebook's fallback)."""
    if getattr(tokenizer, "chat_template", None):
        try:
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
        except Exception:  # the notebook falls back on any template error, as here
            pass
    chunks = [rules.fallback_block.format(role=m["role"].upper(), content=m["content"].strip()) for m in messages]
    if add_generation_prompt:
        chunks.append("ASSISTANT:\n")
    text = rules.fallback_joiner.join(chunks)
    eos = getattr(tokenizer, "eos_token", None)
    if eos and not text.endswith(eos):
        text += eos
    return text


def training_messages(domain: str, row: dict, rules: TrainingRules = TRAINING) -> list[dict]:
    """The chat a training example is formatted from (system prompt per domain)."""
    if domain == "gsm8k_train":
        return [{"role": "system", "content": rules.system_prompts[domain]},
                {"role": "user", "content": row["question"].strip()},
                {"role": "assistant", "content": row["answer"].strip()}]
    if domain == "codealpaca":
        user = (row.get("instruction") or "").strip()
        context = (row.get("input") or "").strip()
        if context:
            user += rules.codealpaca_context + context
        return [{"role": "system", "content": rules.system_prompts[domain]}, {"role": "user", "content": user},
                {"role": "assistant", "content": (row.get("output") or "").strip()}]
    if domain == "ultrachat":
        if row.get("messages"):
            return [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
        return [{"role": "system", "content": row.get("system_prompt") or rules.ultrachat_fallback_system},
                {"role": "user", "content": row.get("question") or row.get("instruction") or ""},
                {"role": "assistant", "content": row.get("response") or row.get("output") or ""}]
    raise PromptError(f"Unknown domain {domain!r}. Available: gsm8k_train, codealpaca, ultrachat")


def _index_ds(n: int):
    import datasets

    return datasets.Dataset.from_dict({"i": list(range(n))})


def _pool_and_rest(n: int, rules: TrainingRules) -> tuple[list[int], list[int]]:
    """GSM8K train indices: (the few-shot pool, the rest), after the study's shuffle."""
    order = _index_ds(n).shuffle(seed=rules.seed)["i"]
    k = min(gsm8k_pool_size(), n)
    return order[:k], order[k:]


def gsm8k_pool(rows, rules: TrainingRules = TRAINING) -> list[dict]:
    """The GSM8K few-shot pool: the first 128 rows of the train split shuffled with the study's seed."""
    pool, _ = _pool_and_rest(len(rows), rules)
    return [rows[i] for i in pool]


def training_split(domain: str, rows, tokenizer, n: int | None = None,
                   rules: TrainingRules = TRAINING) -> dict[str, list[str]]:
    """{"train": texts, "validation": texts} of a domain: (GSM8K: the pool removed first) shuffled
    with the seed, the first `n` (default 2,000) formatted, split by `train_test_split`."""
    n = rules.limit if n is None else n
    candidates = list(range(len(rows)))
    if domain == "gsm8k_train":
        _, candidates = _pool_and_rest(len(rows), rules)
    limit = min(n, len(candidates))
    chosen = _index_ds(len(candidates)).shuffle(seed=rules.seed).select(range(limit))["i"]
    texts = [chat_text(tokenizer, training_messages(domain, rows[candidates[j]], rules), rules) for j in chosen]
    if len(texts) < 2:
        raise PromptError(f"{domain}: {len(texts)} examples after the study's selection; the validation split "
                          f"needs at least 2 (provide more rows)")
    split = _index_ds(len(texts)).train_test_split(test_size=rules.validation_size(len(texts)), seed=rules.seed)
    return {"train": [texts[i] for i in split["train"]["i"]], "validation": [texts[i] for i in split["test"]["i"]]}


# ---- evaluation ----------------------------------------------------------------------------

def mc_parts(row: dict) -> tuple[str, list[str], int]:
    """(question, choices, gold index) of an MMLU / ARC / HellaSwag row, by its schema."""
    if "question" in row and "choices" in row and "answer" in row:
        gold = row["answer"]
        return row["question"], list(row["choices"]), int(gold)
    if "question" in row and isinstance(row.get("choices"), dict):
        labels = list(row["choices"]["label"])
        return row["question"], list(row["choices"]["text"]), labels.index(row["answerKey"])
    if "ctx" in row and "endings" in row:
        return row["ctx"], list(row["endings"]), int(row["label"])
    raise PromptError(f"Unsupported multiple-choice schema: keys={sorted(row)}")


def render_mc(row: dict, bench: str, include_answer: bool = False, p: Protocol = STUDY) -> str:
    """One question block: header, blank line, question, "A. choice" lines, "Answer:" (+ " X")."""
    question, choices, gold = mc_parts(row)
    lines = []
    if bench in p.mc_headers:
        lines += [p.mc_headers[bench].format(subject=row.get("subject", "the subject")), ""]
    lines.append(question)
    lines += [f"{LETTERS[i]}. {c}" for i, c in enumerate(choices)]
    lines.append(p.answer_cue + (f" {LETTERS[gold]}" if include_answer else ""))
    return "\n".join(lines).strip() + p.shot_separator


def render_gsm8k(row: dict, include_answer: bool = False, p: Protocol = STUDY) -> str:
    text = f"{p.gsm8k_preamble}Question: {row['question'].strip()}\n{p.answer_cue}"
    if include_answer:
        text += " " + row["answer"].strip()
    return text.strip() + p.shot_separator


def continuations(row: dict, p: Protocol = STUDY) -> list[str]:
    """The scored strings of a multiple-choice row: " A", " B", … (one per choice)."""
    return [" " + LETTERS[i] for i in range(len(mc_parts(row)[1]))]


def shots(bench: str, row: dict, pool, p: Protocol = STUDY, by_subject: dict | None = None) -> list[dict]:
    """The shot rows of a question: the pool's first k (MMLU: of the question's subject when it has
    k, else of the whole pool). `by_subject`: subject -> pool rows, precomputed for speed."""
    k = p.fewshot.get(bench, 0)
    if k <= 0 or pool is None:
        return []
    source = list(pool)
    if bench == "mmlu":
        subject = row.get("subject")
        same = (by_subject.get(subject, []) if by_subject is not None
                else [r for r in pool if r.get("subject") == subject])
        source = same if len(same) >= k else source
    return source[:k]


def fewshot_prompt(tokenizer, bench: str, row: dict, pool, p: Protocol = STUDY, by_subject: dict | None = None) -> str:
    """The prompt the model sees: rendered shots + the question, stripped; shots dropped from the
    front until it has <= `max_prompt_tokens` tokens (the model's tokenizer, no special tokens)."""
    if bench == "humaneval":
        return row["prompt"]
    render = (lambda r, a: render_gsm8k(r, a, p)) if bench == "gsm8k" else (lambda r, a: render_mc(r, bench, a, p))
    chosen = [render(s, True) for s in shots(bench, row, pool, p, by_subject)]
    target = render(row, False)
    while True:
        prompt = "".join(chosen + [target]).strip()
        if p.max_prompt_tokens is None or not chosen:
            return prompt
        if len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) <= p.max_prompt_tokens:
            return prompt
        chosen = chosen[1:]


def subjects(pool) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in pool or ():
        out.setdefault(r.get("subject"), []).append(r)
    return out
