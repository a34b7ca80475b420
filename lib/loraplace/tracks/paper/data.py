"""The paper track's data: the study's training domains and benchmarks, from the hub or local files.

    data = load_paper_data(profile, data_dir=None)     # datasets by id (pinned revision where set)
    data = load_paper_data(profile, data_dir="DIR")    # DIR/<name>.jsonl, the hub datasets' own fields

Local files (`--paper-data DIR`), one JSON object a line, each with its Hugging Face dataset's
own field names (checked on load; an error names the file, the line and the missing field):

    gsm8k_train.jsonl  gsm8k.jsonl   question, answer                  (openai/gsm8k main)
    codealpaca.jsonl                 instruction, input, output        (sahil2801/CodeAlpaca-20k)
    ultrachat.jsonl                  messages [{role, content}]        (HuggingFaceH4/ultrachat_200k)
    mmlu.jsonl                       question, subject, choices, answer (cais/mmlu all)
    arc_challenge.jsonl              id, question, choices{text,label}, answerKey (allenai/ai2_arc)
    hellaswag.jsonl                  ind, ctx, endings, label          (Rowan/hellaswag)
    humaneval.jsonl                  task_id, prompt, canonical_solution, test, entry_point
    mmlu_dev.jsonl                   as mmlu.jsonl                    (cais/mmlu all, dev: the study's shots)
    arc_challenge_train.jsonl        as arc_challenge.jsonl           (ai2_arc ARC-Challenge, train: shots)
    hellaswag_train.jsonl            as hellaswag.jsonl               (Rowan/hellaswag, train: shots)

The study protocol's GSM8K shots come from gsm8k_train.jsonl (`prompts.gsm8k_pool`), as in the
study; the three shot files are read only by the study protocol.

A row's position in its file (or hub split) is its benchmark index: records are keyed
``<benchmark>:<index>``, as the published track's are, so a `study` run pairs item by item
with the released outputs. With ``HF_HUB_OFFLINE=1`` nothing touches the network; a dataset
that is neither local nor in the hub cache is one `PaperDataError` naming it and both ways to
provide it.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from loraplace import jsonl
from loraplace.evidence.records import sha256_text
from loraplace.study import BENCHMARKS, DOMAINS


class PaperDataError(ValueError):
    """A dataset is missing or malformed (the message names it and how to provide it)."""


class _MalformedLine(PaperDataError, jsonl.JsonlError):
    """A local dataset's line that is not JSON."""

    def __init__(self, path, line, problem):
        jsonl.JsonlError.__init__(self, path, line, problem)


@dataclass(frozen=True)
class Source:
    """One dataset on the hub: id, config, split, and the revision it is pinned to (None: the
    default branch, whose resolved commit is recorded)."""

    hf_id: str
    config: str | None
    split: str
    fields: tuple[str, ...]
    revision: str | None = None


# The study's datasets (REPRODUCIBILITY.md); evaluation splits as in its eval_indices file names.
# Revisions: set LORAPLACE_PAPER_DATA_REVISION_<NAME> to pin one; every run records the
# content fingerprint of exactly what it trained and evaluated on (part of every cache key).
SOURCES: dict[str, Source] = {
    "gsm8k_train": Source("openai/gsm8k", "main", "train", ("question", "answer")),
    "codealpaca": Source("sahil2801/CodeAlpaca-20k", None, "train", ("instruction", "input", "output")),
    "ultrachat": Source("HuggingFaceH4/ultrachat_200k", None, "train_sft", ("messages",)),
    "gsm8k": Source("openai/gsm8k", "main", "test", ("question", "answer")),
    "mmlu": Source("cais/mmlu", "all", "validation", ("question", "subject", "choices", "answer")),
    "arc_challenge": Source("allenai/ai2_arc", "ARC-Challenge", "validation",
                            ("id", "question", "choices", "answerKey")),
    "hellaswag": Source("Rowan/hellaswag", None, "validation", ("ind", "ctx", "endings", "label")),
    "humaneval": Source("openai/openai_humaneval", None, "test",
                        ("task_id", "prompt", "canonical_solution", "test", "entry_point")),
    # the study protocol's few-shot pools (notebook cell 14, BENCHMARK_REGISTRY "shot_split")
    "mmlu_dev": Source("cais/mmlu", "all", "dev", ("question", "subject", "choices", "answer")),
    "arc_challenge_train": Source("allenai/ai2_arc", "ARC-Challenge", "train",
                                  ("id", "question", "choices", "answerKey")),
    "hellaswag_train": Source("Rowan/hellaswag", None, "train", ("ind", "ctx", "endings", "label")),
}
SHOT_POOLS = {"mmlu": "mmlu_dev", "arc_challenge": "arc_challenge_train", "hellaswag": "hellaswag_train"}
# The `full` profile evaluates the benchmarks' test splits where the study used validation.
FULL_SPLITS = {"mmlu": "test", "arc_challenge": "test"}
assert set(SOURCES) == set(DOMAINS) | set(BENCHMARKS) | set(SHOT_POOLS.values())


@dataclass(frozen=True)
class Dataset:
    name: str
    rows: tuple[dict, ...]  # each with "_index": its position in the file / split
    origin: str  # "local:<path>" or "hub:<id>[/<config>]@<split>"
    revision: str | None  # the resolved hub commit, when known
    fingerprint: str  # sha256 of the canonical JSON of the rows

    def to_source(self) -> dict:
        return {"origin": self.origin, "revision": self.revision, "rows": len(self.rows),
                "fingerprint": self.fingerprint}


def fingerprint(rows) -> str:
    return sha256_text("".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows))


def _check_row(name: str, row, where: str) -> dict:
    if not isinstance(row, dict):
        raise PaperDataError(f"{where}: expected a JSON object with fields {', '.join(SOURCES[name].fields)}")
    for field in SOURCES[name].fields:
        if field not in row:
            raise PaperDataError(f"{where}: missing field {field!r} ({name} rows need "
                                 f"{', '.join(SOURCES[name].fields)}, the fields of {SOURCES[name].hf_id})")
    if name == "ultrachat" and not all(isinstance(m, dict) and {"role", "content"} <= set(m) for m in row["messages"]):
        raise PaperDataError(f"{where}: 'messages' must be a list of {{role, content}} objects")
    problem = _label_problem(name, row)
    if problem:
        raise PaperDataError(f"{where}: {problem}")
    return row


def _label_problem(name: str, row: dict) -> str | None:
    """A multiple-choice row whose gold label does not name one of its choices (MMLU's `answer` is
    the choice's index, an int, as in cais/mmlu: "A" or "1" would be silently mis-scored)."""
    if name in ("mmlu", "mmlu_dev"):
        choices, answer = row["choices"], row["answer"]
        if not isinstance(choices, list) or len(choices) < 2:
            return f"'choices' must be a list of at least 2 strings, got {choices!r}"
        if not isinstance(answer, int) or isinstance(answer, bool) or not 0 <= answer < len(choices):
            return f"'answer' must be the index of the right choice, an int in 0..{len(choices) - 1}, got {answer!r}"
    elif name.startswith("arc_challenge"):
        labels = row["choices"].get("label") if isinstance(row["choices"], dict) else None
        if not isinstance(labels, list) or row["answerKey"] not in labels:
            return f"'answerKey' {row['answerKey']!r} is not one of choices.label {labels!r}"
    elif name.startswith("hellaswag"):
        endings, label = row["endings"], str(row["label"])
        if not isinstance(endings, list) or not label.isdigit() or not 0 <= int(label) < len(endings):
            return f"'label' must index 'endings' (0..{len(endings) - 1 if isinstance(endings, list) else '?'}), got {row['label']!r}"
    return None


def _read_local(name: str, path: Path) -> list[dict]:
    rows = [_check_row(name, row, f"{path}:{lineno}") for lineno, row in jsonl.rows(path, error=_MalformedLine)]
    if not rows:
        raise PaperDataError(f"{path}: empty file")
    return rows


def _how_to_provide(name: str, source: Source) -> str:
    return (f"pass --paper-data DIR with {name}.jsonl (fields: {', '.join(source.fields)}), "
            f"or allow the hub to download {source.hf_id} (unset HF_HUB_OFFLINE) once to fill its cache")


def _read_hub(name: str, source: Source) -> tuple[list[dict], str | None]:
    import datasets

    revision = os.environ.get(f"LORAPLACE_PAPER_DATA_REVISION_{name.upper()}") or source.revision
    try:
        ds = datasets.load_dataset(source.hf_id, source.config, split=source.split, revision=revision)
    except Exception as exc:  # datasets raises many types (ConnectionError, FileNotFoundError, HfHubHTTPError…)
        offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "True") else ""
        raise PaperDataError(f"dataset {name!r} = {source.hf_id} ({source.config or 'default'}, split "
                             f"{source.split}) is not available{offline}: {type(exc).__name__}: {exc}. "
                             f"To provide it: {_how_to_provide(name, source)}") from None
    rows = [_check_row(name, dict(r), f"{source.hf_id}[{i}]") for i, r in enumerate(ds)]
    return rows, revision or "default-branch"


def load_dataset_rows(name: str, data_dir: str | Path | None = None, split: str | None = None) -> Dataset:
    """One dataset's rows, local (`data_dir/<name>.jsonl`) or from the hub; validated and fingerprinted."""
    if name not in SOURCES:
        raise PaperDataError(f"Unknown dataset {name!r}. Available: {', '.join(SOURCES)}")
    source = SOURCES[name]
    if split is not None and split != source.split:
        source = Source(source.hf_id, source.config, split, source.fields, source.revision)
    if data_dir is not None:
        path = Path(data_dir) / f"{name}.jsonl"
        if not path.is_file():
            raise PaperDataError(f"dataset {name!r}: no file {path}. To provide it: {_how_to_provide(name, source)}")
        rows, origin, revision = _read_local(name, path), f"local:{path}", None
    else:
        rows, revision = _read_hub(name, source)
        origin = f"hub:{source.hf_id}{'/' + source.config if source.config else ''}@{source.split}"
    rows = [dict(r, _index=i) for i, r in enumerate(rows)]
    return Dataset(name, tuple(rows), origin, revision, fingerprint(rows))
