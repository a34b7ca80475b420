"""Tiny stand-ins for the paper track's inputs, for offline tests and the GPU workflow's CPU path.

    write_checkpoint("sequential", DIR / "tiny-qwen3_5")    # Qwen3_5ForCausalLM, HF layout
    write_checkpoint("parallel", DIR / "tiny-falcon_h1")    # FalconH1ForCausalLM, HF layout
    write_data(DIR / "data")                                # the eight JSONL files, real schemas

The checkpoints are the tiny organisms' architectures (the real transformers classes, configs
shrunk from the shipped real ones) saved with `save_pretrained` next to the character tokenizer
made with `tokenizers`; randomly initialised (seeded), so their verdicts are noise and only the
plumbing is under test. The data has the fields of each Hugging Face dataset the track reads
(`paper_data.SOURCES`) and small, seeded synthetic content.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

NAMES = {"sequential": "tiny-qwen3_5", "parallel": "tiny-falcon_h1"}


# A ChatML-like template (as Qwen's), for the toy that has one: the study formats with it.
CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")


def toy_tokenizer(chat_template: bool):
    """The character tokenizer with pad = EOS (as Qwen3.5's, whose pad falls back to EOS), with or
    without a chat template."""
    from loraplace.train.tokenizer import build_tokenizer

    tok = build_tokenizer()
    tok.pad_token = tok.eos_token
    if chat_template:
        tok.chat_template = CHAT_TEMPLATE
    return tok


def write_checkpoint(topology: str, directory: Path, seed: int = 0, hidden_size: int = 32,
                     chat_template: bool | None = None) -> Path:
    """A tiny checkpoint; its tokenizer has a chat template by default for the sequential model
    (the Qwen3.5 stand-in) and none for the parallel one, so both formatting paths run."""
    from loraplace.models import organisms as org

    spec = org.organisms(hidden_size)[topology]
    model = org.build(spec, seed)
    directory = Path(directory)
    model.save_pretrained(directory, safe_serialization=True)
    toy_tokenizer(topology == "sequential" if chat_template is None else chat_template).save_pretrained(directory)
    return directory


def _gsm8k(rng) -> dict:
    a, b = (int(x) for x in rng.integers(1, 20, 2))
    name = ["Tom", "Ada", "Lin", "Sam"][int(rng.integers(4))]
    return {"question": f"{name} has {a} apples and buys {b} more. How many apples does {name} have?",
            "answer": f"{name} has {a} + {b} = <<{a}+{b}={a + b}>>{a + b} apples.\n#### {a + b}"}


def _mc(rng, k: int = 4) -> tuple[str, list[str], int]:
    a, b = (int(x) for x in rng.integers(1, 9, 2))
    right = a + b
    wrong = [right + d for d in (1, 2, -1, 3)][: k - 1]
    gold = int(rng.integers(k))
    choices = wrong[:gold] + [right] + wrong[gold:]
    return f"What is {a} plus {b}?", [str(c) for c in choices], gold


SHOT_FILES = {"mmlu_dev": "mmlu", "arc_challenge_train": "arc_challenge", "hellaswag_train": "hellaswag"}


def rows(name: str, n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng([seed, sum(map(ord, name))])
    name = SHOT_FILES.get(name, name)
    out = []
    for i in range(n):
        if name in ("gsm8k_train", "gsm8k"):
            out.append(_gsm8k(rng))
        elif name == "codealpaca":
            k = int(rng.integers(1, 9))
            out.append({"instruction": f"Write a function that returns x plus {k}.", "input": "",
                        "output": f"def f(x):\n    return x + {k}"})
        elif name == "ultrachat":
            q, choices, gold = _mc(rng)
            out.append({"prompt": q, "prompt_id": f"p{i}", "messages": [
                {"role": "user", "content": q}, {"role": "assistant", "content": f"It is {choices[gold]}."}]})
        elif name == "mmlu":
            q, choices, gold = _mc(rng)
            subject = ["elementary_mathematics", "high_school_mathematics"][i % 2]
            out.append({"question": q, "subject": subject, "choices": choices, "answer": gold})
        elif name == "arc_challenge":
            q, choices, gold = _mc(rng)
            out.append({"id": f"toy-{i}", "question": q, "choices": {"text": choices, "label": list("ABCD")},
                        "answerKey": "ABCD"[gold]})
        elif name == "hellaswag":
            q, choices, gold = _mc(rng)
            out.append({"ind": i, "activity_label": "Arithmetic", "ctx": f"{q} The answer is",
                        "endings": [f"{c}." for c in choices], "label": str(gold)})
        elif name == "humaneval":
            k = int(rng.integers(1, 9))
            out.append({"task_id": f"HumanEval/{i}", "entry_point": f"add_{k}",
                        "prompt": f'def add_{k}(x):\n    """Return x plus {k}."""\n',
                        "canonical_solution": f"    return x + {k}\n",
                        "test": f"def check(candidate):\n    assert candidate(1) == {1 + k}\n    assert candidate(5) == {5 + k}\n"})
        else:
            raise ValueError(f"Unknown dataset {name!r}")
    return out


def write_data(directory: Path, n: int = 12, seed: int = 0) -> Path:
    """The eleven local files `--paper-data` reads, `n` rows each (gsm8k_train: the study's
    128-example few-shot pool more, which the study removes before drawing training examples)."""
    from loraplace.tracks.paper.data import SOURCES
    from loraplace.tracks.paper.protocol import gsm8k_pool_size

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name in SOURCES:
        with (directory / f"{name}.jsonl").open("w", encoding="utf-8") as fh:
            count = n + gsm8k_pool_size() if name == "gsm8k_train" else n
            fh.writelines(json.dumps(r, sort_keys=True) + "\n" for r in rows(name, count, seed))
    return directory


def write_all(directory: Path, seed: int = 0) -> dict:
    """Both checkpoints and the data under `directory` -> the pytest options that use them."""
    directory = Path(directory)
    models = {t: write_checkpoint(t, directory / name, seed) for t, name in NAMES.items()}
    data = write_data(directory / "data", seed=seed)
    return {"paper_models": [f"{t}={d}" for t, d in models.items()], "paper_data": str(data)}
