"""Evaluation of the paper track through lm-eval: the harness protocol's tasks, one batched run, Records.

    tasks = build_tasks(eval_data, profile, protocol("harness"))    # lm-eval ConfigurableTasks
    samples = run_lm_eval(model, tokenizer, tasks, batch_size=32)   # HFLM on the in-memory model
    records = to_records(run, samples, execute, protocol="harness") # both scorers, keyed by question

The study protocol's tasks are `study_tasks.py` (the notebook's prompts, fed verbatim); both
run through `run_lm_eval` and `to_records`. The harness protocol's tasks follow lm-eval's own
definitions, reading the rows the suite loaded (`custom_dataset`; lm-eval never downloads anything):

  gsm8k      generate_until, k-shot from the GSM8K train split, the study's prompt (its preamble
             repeated before every shot), greedy, stop at the next "Question:" / preamble; the
             raw generation is scored by `scoring.score_gsm8k` under `as-published` and `corrected`
  mmlu       multiple_choice over " A".." D" (lm-eval's mmlu prompt), `acc`
  arc        multiple_choice over the choice texts ("Question: …\\nAnswer:"), `acc`
  hellaswag  multiple_choice over the endings (lm-eval's preprocessing), `acc_norm`
  humaneval  generate_until with the standard stop sequences, greedy; the generation is executed
             by the suite's sandbox (never by lm-eval's unsandboxed `code_eval`): `as-published`
             runs the generation as lm-eval returned it, `corrected` after `humaneval.truncate`

Multiple-choice labels are lm-eval's own per-sample metric, identical under both scorer names;
every record keeps lm-eval's `doc_hash` / `prompt_hash`, the sha256 of the raw output and its protocol.
"""
from __future__ import annotations

import logging

from loraplace.evidence.records import Record, sha256_text
from loraplace.scoring.gsm8k import SCORERS, normalize_number, score_gsm8k

GSM8K_PREAMBLE = "You are a careful mathematician. Solve the problem step by step and end with '#### <final answer>'.\n\n"
GSM8K_STOPS = ["Question:", "You are a careful mathematician.", "</s>", "<|im_end|>", "<|endoftext|>"]
MC_METRIC = {"mmlu": "acc", "arc_challenge": "acc", "hellaswag": "acc_norm"}
TASK_PREFIX = "loraplace_"


def _hellaswag_rows(rows) -> list[dict]:
    from lm_eval.tasks.hellaswag.utils import preprocess

    out = []
    for r in rows:
        ctx = f"{r['activity_label']}: {r['ctx']}" if r.get("activity_label") else r["ctx"]
        out.append({"_index": r["_index"], "query": preprocess(ctx), "choices": [preprocess(e) for e in r["endings"]],
                    "gold": int(r["label"])})
    return out


def _rows_for(bench: str, rows) -> list[dict]:
    if bench == "hellaswag":
        return _hellaswag_rows(rows)
    if bench == "arc_challenge":
        return [dict(r, choices={"text": list(r["choices"]["text"]), "label": [str(x) for x in r["choices"]["label"]]},
                     answerKey=str(r["answerKey"])) for r in rows]
    return [dict(r) for r in rows]


def _config(bench: str, p, proto) -> dict:
    from loraplace.tracks.paper.study_tasks import gen_tokens

    name = TASK_PREFIX + bench
    if bench == "gsm8k":
        return {"task": name, "output_type": "generate_until", "test_split": "test", "fewshot_split": "train",
                "num_fewshot": proto.fewshot["gsm8k"], "fewshot_delimiter": "\n\n",
                "doc_to_text": GSM8K_PREAMBLE + "Question: {{question}}\nAnswer:", "doc_to_target": "{{answer}}",
                "generation_kwargs": {"until": GSM8K_STOPS, "max_gen_toks": gen_tokens(bench, proto, p),
                                      "do_sample": False},
                "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}]}
    if bench == "humaneval":
        from loraplace.scoring.humaneval import STOP_SEQUENCES

        return {"task": name, "output_type": "generate_until", "test_split": "test", "num_fewshot": 0,
                "doc_to_text": "{{prompt}}", "doc_to_target": "{{entry_point}}", "target_delimiter": "",
                "generation_kwargs": {"until": list(STOP_SEQUENCES), "max_gen_toks": gen_tokens(bench, proto, p),
                                      "do_sample": False},
                "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}]}
    common = {"task": name, "output_type": "multiple_choice", "test_split": "test", "num_fewshot": 0,
              "metric_list": [{"metric": m, "aggregation": "mean", "higher_is_better": True}
                              for m in ("acc", "acc_norm")]}
    if bench == "mmlu":
        text = ("The following are multiple choice questions (with answers) about "
                "{{subject.replace('_', ' ')}}.\n\n{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\n"
                "C. {{choices[2]}}\nD. {{choices[3]}}\nAnswer:")
        return dict(common, doc_to_text=text, doc_to_choice=["A", "B", "C", "D"], doc_to_target="{{answer}}")
    if bench == "arc_challenge":
        return dict(common, doc_to_text="Question: {{question}}\nAnswer:", doc_to_choice="{{choices.text}}",
                    doc_to_target="{{choices.label.index(answerKey)}}")
    if bench == "hellaswag":
        return dict(common, doc_to_text="{{query}}", doc_to_choice="choices", doc_to_target="{{gold}}")
    raise ValueError(f"Unknown benchmark {bench!r}. Available: gsm8k, humaneval, {', '.join(MC_METRIC)}")


def build_tasks(eval_rows: dict[str, list[dict]], p, proto, fewshot_rows: list[dict] | None = None) -> dict:
    """{benchmark: lm-eval ConfigurableTask} over the rows to evaluate (each with `_index`).
    `fewshot_rows`: the GSM8K train split the k-shot examples are drawn from."""
    import datasets
    from lm_eval.api.task import ConfigurableTask

    logging.getLogger("lm_eval").setLevel(logging.WARNING)
    tasks = {}
    for bench, rows in eval_rows.items():
        splits = {"test": datasets.Dataset.from_list(_rows_for(bench, rows))}
        if bench == "gsm8k":
            splits["train"] = datasets.Dataset.from_list([dict(r) for r in (fewshot_rows or rows)])
        dataset = datasets.DatasetDict(splits)
        config = dict(_config(bench, p, proto), custom_dataset=lambda _d=dataset, **_: _d)
        tasks[bench] = ConfigurableTask(config=config)
    return tasks


def run_lm_eval(model, tokenizer, tasks: dict, *, batch_size: int = 32, device: str = "cpu",
                max_length: int | None = None, protocol=None) -> dict[str, list[dict]]:
    """lm-eval's `evaluate` on the in-memory (peft) model -> {benchmark: logged samples by doc_id}.
    Under the study protocol multiple-choice requests are encoded without special tokens and
    generation prompts with the tokenizer's defaults (the notebook's two encodings): two HFLMs."""
    from lm_eval import evaluator
    from lm_eval.models.huggingface import HFLM

    study = protocol is not None and protocol.evaluation == "notebook"
    groups = ([({b: t for b, t in tasks.items() if b in MC_METRIC}, False),
               ({b: t for b, t in tasks.items() if b not in MC_METRIC}, None)] if study else [(tasks, None)])
    samples = {}
    for group, add_bos in groups:
        if not group:
            continue
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, device=device, max_length=max_length,
                  add_bos_token=add_bos)
        names = {b: t.config.task for b, t in group.items()}
        out = evaluator.evaluate(lm, {"tasks": {names[b]: t for b, t in group.items()}, "groups": {}},
                                 log_samples=True, bootstrap_iters=0)
        samples.update({b: sorted(out["samples"][names[b]], key=lambda s: s["doc_id"]) for b in group})
    return {b: samples[b] for b in tasks}


def gsm8k_gold(answer: str) -> str:
    return normalize_number(answer.split("####")[-1].strip())


def to_records(run, samples: dict[str, list[dict]], execute, protocol: str = "harness") -> list[Record]:
    """Records of one evaluated model. `run` carries model, topology, condition, domain, seed
    (`loraplace.evidence.records.Run`); `execute(programs) -> [{"passed", "status"}]` runs HumanEval
    programs; `protocol` (its name) is written into every record."""
    from loraplace.sandbox.api import build_program
    from loraplace.scoring.humaneval import RULES
    from loraplace.tracks.paper.study_tasks import doc as field

    records = []
    mc_metric = MC_METRIC if protocol == "harness" else {b: "acc" for b in MC_METRIC}

    def add(bench, doc, score, scorer, extra, sample):
        extra = dict(extra, protocol=protocol, doc_hash=sample.get("doc_hash"), prompt_hash=sample.get("prompt_hash"))
        records.append(Record(run.model, run.topology, run.condition, run.domain, run.seed, bench,
                              f"{bench}:{doc['_index']}", float(score), scorer, extra))

    for bench, rows in samples.items():
        if bench in MC_METRIC:
            for s in rows:
                lls = [float(r[0]) for r in s["filtered_resps"]]
                extra = {"metric": mc_metric[bench], "loglikelihoods": [round(v, 4) for v in lls],
                         "prediction": int(max(range(len(lls)), key=lls.__getitem__)) if lls else None,
                         "output_sha256": sha256_text(",".join(f"{v:.4f}" for v in lls))}
                for scorer in SCORERS:
                    add(bench, s["doc"], s[mc_metric[bench]], scorer, extra, s)
        elif bench == "gsm8k":
            for s in rows:
                out, gold = s["resps"][0][0], gsm8k_gold(field(s, "answer"))
                for scorer in SCORERS:
                    score, pred = score_gsm8k(out, gold, scorer)
                    add(bench, s["doc"], score, scorer, {"prediction": pred, "gold": gold, "output": out,
                                                        "output_sha256": sha256_text(out)}, s)
        elif bench == "humaneval":
            outs = [s["resps"][0][0] for s in rows]
            results = {sc: execute([build_program(field(s, "prompt"), rule(o), field(s, "test"), field(s, "entry_point"))
                                    for s, o in zip(rows, outs)]) for sc, (_, rule) in RULES.items()}
            for k, (s, out) in enumerate(zip(rows, outs)):
                for scorer in SCORERS:
                    res = results[scorer][k]
                    add(bench, s["doc"], res["passed"], scorer,
                        {"task_id": field(s, "task_id"), "status": res["status"], "output": out,
                         "isolation": res.get("isolation"), "rule": RULES[scorer][0],
                         "output_sha256": sha256_text(out)}, s)
        else:
            raise ValueError(f"Unknown benchmark {bench!r} in lm-eval samples")
    return records
