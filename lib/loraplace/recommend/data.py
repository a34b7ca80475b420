"""`recommend`'s own data: a JSONL of training rows and of held-out evaluation items, validated.

    train = read_train("data.jsonl")               # [Example], each row checked, errors name the row
    items = read_items("eval.jsonl")               # [Item]: exact match, multiple choice or loss
    train, held = split(train, fraction=0.2)       # the default target: a held-out split of --train

Training rows (one JSON object a line, one of three shapes):

    {"text": "..."}                                  a document; trained on every token
    {"prompt": "...", "completion": "..."}           trained on prompt + completion
    {"messages": [{"role": "...", "content": "..."}, ...]}   a chat, rendered by the model's chat template

Evaluation items (`--target-eval FILE`, `--retention FILE,...`), each scored one way:

    {"prompt": "...", "answer": "..."}               exact match: greedy generation == answer (stripped)
    {"prompt": "...", "choices": [...], "answer": i} multiple choice: the likeliest choice is choice i
    {"text": "..."} / {"prompt", "completion"} / {"messages"}   per-token loss (lower is better)

A held-out training row becomes a loss item, and also an exact-match item when it has an answer
(a completion, or a chat's last assistant turn, of at most `MAX_ANSWER_CHARS` characters).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from loraplace import jsonl
from loraplace.evidence.records import sha256_text

MAX_ANSWER_CHARS = 80  # a longer completion is scored by loss only: exact match of a paragraph says nothing
KINDS = ("exact_match", "multiple_choice", "loss")


class DataError(ValueError):
    """A --train / --target-eval / --retention file is missing or malformed (the message names the row)."""


@dataclass(frozen=True)
class Example:
    """One training row: `prompt` (may be empty) then `completion`; `messages` where it was a chat."""
    prompt: str
    completion: str
    messages: tuple = ()

    def text(self, tokenizer=None) -> str:
        if self.messages and tokenizer is not None:
            from loraplace.tracks.paper.prompts import chat_text

            return chat_text(tokenizer, [dict(m) for m in self.messages])
        return self.prompt + self.completion


@dataclass(frozen=True)
class Item:
    """One evaluation item: `kind` (exact_match | multiple_choice | loss), `prompt`, and the `answer`
    (exact match), `choices` + `label` (multiple choice) or `completion` (loss; the prompt is context)."""
    key: str
    kind: str
    prompt: str
    answer: str = ""
    choices: tuple = ()
    label: int = -1
    completion: str = ""


def _where(path, lineno) -> str:
    return f"{path}:{lineno}"


def _text(row: dict, field: str, where: str) -> str:
    value = row.get(field)
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{where}: '{field}' must be a non-empty string, got {value!r}")
    return value


def _messages(row: dict, where: str) -> tuple:
    msgs = row["messages"]
    if not isinstance(msgs, list) or not msgs or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in msgs):
        raise DataError(f"{where}: 'messages' must be a non-empty list of {{\"role\": str, \"content\": str}} objects")
    return tuple(tuple(sorted(m.items())) for m in msgs)


def example_of(row, where: str) -> Example:
    """A training row as an `Example`; a `DataError` naming the row when it has no known shape."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    if "messages" in row:
        msgs = _messages(row, where)
        last = dict(msgs[-1])
        head = "".join(dict(m)["content"] for m in msgs[:-1])
        return Example(head, last["content"] if last["role"] == "assistant" else "", msgs)
    if "prompt" in row or "completion" in row:
        return Example(_text(row, "prompt", where), _text(row, "completion", where))
    if "text" in row:
        return Example("", _text(row, "text", where))
    raise DataError(f"{where}: a training row needs 'text', 'prompt' and 'completion', or 'messages' "
                    f"(got fields {', '.join(sorted(row)) or 'none'})")


def _read(path) -> list[tuple[int, object]]:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (a JSONL of one JSON object a line)")
    try:
        out = list(jsonl.rows(path))
    except jsonl.JsonlError as exc:
        raise DataError(str(exc)) from None
    if not out:
        raise DataError(f"{path}: empty file")
    return out


def read_train(path) -> list[Example]:
    return [example_of(row, _where(path, n)) for n, row in _read(path)]


def item_of(row, key: str, where: str) -> Item:
    """An evaluation row as an `Item` (its kind from its fields); a `DataError` naming the row."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    if "choices" in row:
        choices, label = row["choices"], row.get("answer")
        if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) for c in choices):
            raise DataError(f"{where}: 'choices' must be a list of at least 2 strings, got {choices!r}")
        if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < len(choices):
            raise DataError(f"{where}: 'answer' must be the index of the right choice, an int in "
                            f"0..{len(choices) - 1}, got {label!r}")
        return Item(key, "multiple_choice", _text(row, "prompt", where), choices=tuple(choices), label=label)
    if "answer" in row:
        return Item(key, "exact_match", _text(row, "prompt", where), answer=_text(row, "answer", where).strip())
    ex = example_of(row, where)
    if not ex.completion:  # a chat that does not end with the assistant: its whole text is scored
        return Item(key, "loss", "", completion=ex.prompt)
    return Item(key, "loss", ex.prompt, completion=ex.completion)


def read_items(path) -> list[Item]:
    name = Path(path).stem
    return [item_of(row, f"{name}:{n}", _where(path, n)) for n, row in _read(path)]


def held_out_items(examples: list[Example], name: str = "heldout") -> list[Item]:
    """Held-out training rows as items: loss on every one, exact match where it has a short answer."""
    out = []
    for i, ex in enumerate(examples):
        if ex.completion:
            out.append(Item(f"{name}-loss:{i}", "loss", ex.prompt, completion=ex.completion))
        if ex.prompt and ex.completion and len(ex.completion.strip()) <= MAX_ANSWER_CHARS:
            out.append(Item(f"{name}-em:{i}", "exact_match", ex.prompt, answer=ex.completion.strip()))
    return out


def split(examples: list[Example], fraction: float = 0.2, seed: int = 3407) -> tuple[list[Example], list[Example]]:
    """(train, held out): a seeded shuffle, `fraction` of the rows held out (at least 1, at most all but 1)."""
    if len(examples) < 2:
        raise DataError(f"--train has {len(examples)} row(s): at least 2 are needed to hold one out "
                        "(or pass --target-eval FILE)")
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    k = min(len(examples) - 1, max(1, round(fraction * len(examples))))
    held = set(order[:k])
    return [e for i, e in enumerate(examples) if i not in held], [e for i, e in enumerate(examples) if i in held]


def fingerprint(rows) -> str:
    """sha256 of the rows' content (a cache spec's data part)."""
    return sha256_text(repr([r.__dict__ if hasattr(r, "__dict__") else r for r in rows]))


def by_kind(items: list[Item]) -> dict[str, list[Item]]:
    """{kind: items} in `KINDS` order, kinds without items left out."""
    return {k: [it for it in items if it.kind == k] for k in KINDS if any(it.kind == k for it in items)}
