"""What a paper-track model sees: every evaluation request and every training text, as data.

    render_benchmark(tokenizer, "gsm8k", rows, protocol("study"), profile("study"), pools)
        -> [{"index", "prompt", "max_new_tokens", "stop"}, …]        (generation)
        -> [{"index", "prompt", "continuations"}, …]                 (multiple choice)
    render_domain(tokenizer, "codealpaca", rows, protocol("study"), n=2000)
        -> {"train": [texts], "validation": [texts]}

The prompts are read back from the requests lm-eval itself builds from the track's tasks
(`Task.build_all_requests`), so they are what the evaluation sends, string for string; the stop
list adds the EOS string lm-eval's HF model appends to every generation's stops. The training
texts are `prompts.training_split`'s, which the trainer gets. `loraplace render` prints them.
"""
from __future__ import annotations

from loraplace.tracks.paper.protocol import Protocol


def _tasks(tokenizer, bench: str, rows: list[dict], proto: Protocol, p, pools: dict, fewshot_rows):
    if proto.evaluation == "notebook":
        from loraplace.tracks.paper.study_tasks import build_study_tasks

        return build_study_tasks({bench: rows}, pools, tokenizer, proto, p)
    from loraplace.tracks.paper.lmeval import build_tasks

    return build_tasks({bench: rows}, p, proto, fewshot_rows=fewshot_rows)


def render_benchmark(tokenizer, bench: str, rows: list[dict], proto: Protocol, p, pools: dict | None = None,
                     fewshot_rows: list[dict] | None = None) -> list[dict]:
    """One object per row (in the given order): index, prompt, and the continuations (multiple
    choice) or max_new_tokens and stop (generation)."""
    from loraplace.tracks.paper.study_tasks import requests

    if not rows:
        return []
    tasks = _tasks(tokenizer, bench, rows, proto, p, pools or {}, fewshot_rows)
    out: list[dict] = [{"index": r["_index"]} for r in rows]
    eos = tokenizer.eos_token
    for doc_id, context, arg in requests(tasks)[bench]:
        obj = out[doc_id]
        if "prompt" in obj and obj["prompt"] != context:
            raise AssertionError(f"{bench} row {obj['index']}: lm-eval built two contexts for one question")
        obj["prompt"] = context
        if isinstance(arg, dict):
            obj["max_new_tokens"] = arg["max_gen_toks"]
            obj["stop"] = list(dict.fromkeys([*(arg.get("until") or []), *([eos] if eos else [])]))
        else:
            obj.setdefault("continuations", []).append(arg)
    return out


def render_domain(tokenizer, domain: str, rows: list[dict], proto: Protocol, n: int | None = None) -> dict:
    """{"train": texts, "validation": texts}: what the trainer gets and what it holds out."""
    from loraplace.tracks.paper.prompts import training_split

    return training_split(domain, rows, tokenizer, n, proto.training)
