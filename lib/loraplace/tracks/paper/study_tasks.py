"""The study protocol as lm-eval tasks: the notebook's exact prompts fed to lm-eval as custom tasks.

    tasks = build_study_tasks(rows, pools, tokenizer, protocol("study"), profile)
    requests(tasks)    # {benchmark: [(doc index, context, continuation or generation kwargs), …]}

Every row carries its prompt, rendered once by `prompts.fewshot_prompt` (shots, question,
896-token cap in the model's own tokens), and lm-eval takes it verbatim (`doc_to_text` names
the column, so no template touches it). Multiple choice scores the letter continuations
(`doc_to_choice` = the row's letters, `target_delimiter` " ": " A" … " D"), `acc` = argmax of the
summed log-probabilities, as the notebook's `score_continuation_logprob`; lm-eval encodes the
prompt + letter and the prompt alone and scores the tail, which is the notebook's split.
Generation is greedy, stops only at EOS (`until` = the EOS string, `eos_token_id` = the
tokenizer's), 256 new tokens (a profile may cap it: smoke). `run_lm_eval` encodes multiple-choice
requests without special tokens and generation prompts with the tokenizer's defaults, as the
notebook's `score_continuation_logprob` and `generate_text` do.
"""
from __future__ import annotations

import logging
from dataclasses import replace

from loraplace.tracks.paper import prompts
from loraplace.tracks.paper.protocol import Protocol

TASK_PREFIX = "loraplace_study_"
GENERATION = ("gsm8k", "humaneval")


def gen_tokens(bench: str, proto: Protocol, p) -> int:
    n = proto.gsm8k_gen_tokens if bench == "gsm8k" else proto.humaneval_gen_tokens
    return min(n, p.eval_gen_tokens_cap) if getattr(p, "eval_gen_tokens_cap", None) else n


def generation_kwargs(bench: str, tokenizer, proto: Protocol, p) -> dict:
    return {"until": [tokenizer.eos_token], "max_gen_toks": gen_tokens(bench, proto, p), "do_sample": False,
            "eos_token_id": tokenizer.eos_token_id}


def study_rows(bench: str, rows, pool, tokenizer, proto: Protocol) -> list[dict]:
    """The rows lm-eval reads: `_index`, `prompt` (exact), and the fields its metric needs."""
    by_subject = prompts.subjects(pool) if bench == "mmlu" else None
    out = []
    for r in rows:
        row = {"_index": r["_index"], "prompt": prompts.fewshot_prompt(tokenizer, bench, r, pool, proto, by_subject)}
        if bench in GENERATION:
            keep = ("answer",) if bench == "gsm8k" else ("task_id", "prompt", "test", "entry_point")
            row.update({f"doc_{k}": r[k] for k in keep})
            row["target"] = r["answer"] if bench == "gsm8k" else r["entry_point"]
        else:
            _, choices, gold = prompts.mc_parts(r)
            row.update(letters=[c.strip() for c in prompts.continuations(r, proto)], gold=gold)
        out.append(row)
    return out


def _config(bench: str, tokenizer, proto: Protocol, p) -> dict:
    name = TASK_PREFIX + bench
    base = {"task": name, "test_split": "test", "num_fewshot": 0, "doc_to_text": "prompt", "description": ""}
    if bench in GENERATION:
        return dict(base, output_type="generate_until", doc_to_target="target", target_delimiter="",
                    generation_kwargs=generation_kwargs(bench, tokenizer, proto, p),
                    metric_list=[{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}])
    return dict(base, output_type="multiple_choice", doc_to_choice="letters", doc_to_target="gold",
                target_delimiter=" ", metric_list=[{"metric": "acc", "aggregation": "mean", "higher_is_better": True}])


def build_study_tasks(eval_rows: dict[str, list[dict]], pools: dict[str, list[dict]], tokenizer, proto: Protocol,
                      p) -> dict:
    """{benchmark: lm-eval ConfigurableTask} with the study's prompts for this tokenizer."""
    import datasets
    from lm_eval.api.task import ConfigurableTask

    logging.getLogger("lm_eval").setLevel(logging.WARNING)
    cap = getattr(p, "eval_prompt_tokens_cap", None)
    if cap and proto.max_prompt_tokens and cap < proto.max_prompt_tokens:  # a profile's size (smoke), not a rule
        proto = replace(proto, max_prompt_tokens=cap)
    tasks = {}
    for bench, rows in eval_rows.items():
        data = datasets.DatasetDict({"test": datasets.Dataset.from_list(
            study_rows(bench, rows, pools.get(bench), tokenizer, proto))})
        config = dict(_config(bench, tokenizer, proto, p), custom_dataset=lambda _d=data, **_: _d)
        tasks[bench] = ConfigurableTask(config=config)
    return tasks


def requests(tasks: dict) -> dict[str, list[tuple]]:
    """{benchmark: [(doc position, context, continuation | generation kwargs), …]} as lm-eval builds them."""
    out = {}
    for bench, task in tasks.items():
        task.build_all_requests(limit=None, rank=0, world_size=1)
        out[bench] = [(inst.doc_id, inst.args[0], inst.args[1]) for inst in task.instances]
    return out


def doc(sample: dict, key: str):
    """A field of the original row in a logged lm-eval sample of a study task."""
    d = sample["doc"]
    return d.get(f"doc_{key}", d.get(key))
