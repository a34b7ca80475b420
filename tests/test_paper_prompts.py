"""The study protocol's texts against golden strings written from the notebook's rules.

The authors' notebook (hecboar/lora-placement-hybrid, notebook/paper3_lora_placement.ipynb,
cells 4, 11 and 14) states every string and rule; the expected values below are spelled out by
hand from it for small fixture rows, or computed with `datasets` on the rows themselves (the
notebook's own calls), never by the code under test. The fixture tokenizer is one character per
token, so the 896-token cap is a character count; it has pad = EOS, with and without a chat
template.
"""
from __future__ import annotations

import datasets
import pytest

from loraplace.tracks.paper import prompts
from loraplace.tracks.paper.protocol import STUDY, protocol
from loraplace.tracks.paper.toy import toy_tokenizer

GSM_SYSTEM = "You are a careful mathematician. Solve step by step and finish with '#### <final answer>'."
CODE_SYSTEM = "You are a precise coding assistant. Write correct, readable code and explain only when useful."
PREAMBLE = "You are a careful mathematician. Solve the problem step by step and end with '#### <final answer>'.\n\n"


@pytest.fixture(params=[True, False], ids=["chat-template", "no-template"])
def tok(request):
    t = toy_tokenizer(request.param)
    assert t.pad_token == t.eos_token == "<eos>"
    return t


def test_protocol_registry_names_the_available_ones():
    assert protocol(None) is STUDY and protocol("harness").name == "harness"
    with pytest.raises(ValueError, match="Unknown protocol 'lab'. Available: study, harness"):
        protocol("lab")


def test_training_texts_follow_the_chat_template_or_the_role_blocks(tok):
    gsm = {"question": "  Tom has 2 apples.  ", "answer": " He has 2.\n#### 2 "}
    code = {"instruction": "Add one. ", "input": " x = 1 ", "output": " x + 1 "}
    chat = {"messages": [{"role": "user", "content": " hi "}, {"role": "assistant", "content": "hello "}]}
    texts = [prompts.chat_text(tok, prompts.training_messages(d, r))
             for d, r in (("gsm8k_train", gsm), ("codealpaca", code), ("ultrachat", chat))]
    if tok.chat_template:  # the fixture's template: "<|role|>\ncontent\n" per message, contents as given
        assert texts == [
            f"<|system|>\n{GSM_SYSTEM}\n<|user|>\nTom has 2 apples.\n<|assistant|>\nHe has 2.\n#### 2\n",
            f"<|system|>\n{CODE_SYSTEM}\n<|user|>\nAdd one.\n\nAdditional context:\nx = 1\n<|assistant|>\nx + 1\n",
            "<|user|>\n hi \n<|assistant|>\nhello \n"]
    else:  # ROLE:\ncontent.strip() blocks joined by a blank line, EOS appended
        assert texts == [
            f"SYSTEM:\n{GSM_SYSTEM}\n\nUSER:\nTom has 2 apples.\n\nASSISTANT:\nHe has 2.\n#### 2<eos>",
            f"SYSTEM:\n{CODE_SYSTEM}\n\nUSER:\nAdd one.\n\nAdditional context:\nx = 1\n\nASSISTANT:\nx + 1<eos>",
            "USER:\nhi\n\nASSISTANT:\nhello<eos>"]
    no_input = prompts.training_messages("codealpaca", dict(code, input="  "))
    assert no_input[1]["content"] == "Add one."  # no context block for an empty input


def test_the_gsm8k_pool_is_removed_first_then_2000_drawn_and_100_held_out(tok):
    rows = [{"question": f"q{i}", "answer": f"a{i}\n#### {i}", "_index": i} for i in range(2300)]
    # the notebook's calls, on the rows themselves
    ds = datasets.Dataset.from_list(rows).shuffle(seed=3407)
    pool, rest = ds.select(range(128)), ds.select(range(128, len(ds)))
    drawn = rest.shuffle(seed=3407).select(range(2000))
    split = drawn.train_test_split(test_size=100, seed=3407)
    got = prompts.training_split("gsm8k_train", rows, tok)
    assert (len(got["train"]), len(got["validation"])) == (1900, 100)
    want = [prompts.chat_text(tok, prompts.training_messages("gsm8k_train", r)) for r in split["train"]]
    assert got["train"] == want
    assert got["validation"] == [prompts.chat_text(tok, prompts.training_messages("gsm8k_train", r))
                                 for r in split["test"]]
    assert [r["_index"] for r in prompts.gsm8k_pool(rows)] == pool["_index"]
    assert not {r["_index"] for r in pool} & {r["_index"] for r in drawn}


def test_other_domains_draw_without_a_pool_and_small_sets_hold_out_a_tenth(tok):
    rows = [{"instruction": f"task {i}", "input": "", "output": f"out {i}", "_index": i} for i in range(30)]
    got = prompts.training_split("codealpaca", rows, tok, n=20)
    drawn = datasets.Dataset.from_list(rows).shuffle(seed=3407).select(range(20))
    # 20 examples: min(max(64, 1), 256) = 64 would leave nothing, so 20 // 10 = 2 are held out
    split = drawn.train_test_split(test_size=2, seed=3407)
    assert len(got["train"]) == 18
    assert got["validation"] == [prompts.chat_text(tok, prompts.training_messages("codealpaca", r))
                                 for r in split["test"]]


def _mmlu(q, subject, answer):
    return {"question": q, "subject": subject, "choices": ["w", "x", "y", "z"], "answer": answer}


def test_mmlu_takes_five_same_subject_dev_shots_else_the_pool_head(tok):
    dev = [_mmlu(f"A{i}?", "astronomy", i % 4) for i in range(6)] + [_mmlu(f"L{i}?", "law", 1) for i in range(2)]
    block = "The following is a multiple choice question about {s}.\n\n{q}\nA. w\nB. x\nC. y\nD. z\nAnswer:{a}"
    shot = [block.format(s="astronomy", q=f"A{i}?", a=" " + "ABCD"[i % 4]) for i in range(5)]
    same = prompts.fewshot_prompt(tok, "mmlu", _mmlu("Which star?", "astronomy", 0), dev)
    assert same == "\n\n".join(shot + [block.format(s="astronomy", q="Which star?", a="")])
    # law has 2 dev rows < 5: the first five of the whole pool, whatever their subject
    fallback = prompts.fewshot_prompt(tok, "mmlu", _mmlu("Which court?", "law", 0), dev)
    assert fallback == "\n\n".join(shot + [block.format(s="law", q="Which court?", a="")])
    assert prompts.continuations(_mmlu("q", "law", 0)) == [" A", " B", " C", " D"]


def test_arc_and_hellaswag_blocks_and_letter_continuations(tok):
    arc = {"id": "a", "question": "Why?", "choices": {"text": ["p", "q", "r"], "label": ["1", "2", "3"]},
           "answerKey": "3"}
    assert prompts.render_mc(arc, "arc_challenge", include_answer=True) == (
        "Answer the following science question.\n\nWhy?\nA. p\nB. q\nC. r\nAnswer: C\n\n")
    assert prompts.continuations(arc) == [" A", " B", " C"]
    hs = {"ind": 1, "ctx": "He runs", "endings": ["fast.", "up.", "out.", "in."], "label": "2"}
    assert prompts.render_mc(hs, "hellaswag", include_answer=True) == (
        "Choose the most plausible continuation.\n\nHe runs\nA. fast.\nB. up.\nC. out.\nD. in.\nAnswer: C\n\n")
    pool = [dict(arc, question=f"S{i}?") for i in range(30)]
    prompt = prompts.fewshot_prompt(tok, "arc_challenge", arc, pool)
    shots = [f"Answer the following science question.\n\nS{i}?\nA. p\nB. q\nC. r\nAnswer: C\n\n" for i in range(25)]
    tail = "Answer the following science question.\n\nWhy?\nA. p\nB. q\nC. r\nAnswer:"
    first = min(k for k in range(26) if len("".join(shots[k:]) + tail) <= 896)  # the first 25 of the pool, capped
    assert prompt == "".join(shots[first:]) + tail and 0 < first < 25


def test_gsm8k_shots_come_from_the_pool_and_are_dropped_from_the_front_to_896_tokens(tok):
    long = "x" * 150  # each shot ~ 300 characters: 8 shots are far over 896
    rows = [{"question": f"Q{i} {long}", "answer": f"Work {i} {long}\n#### {i}", "_index": i} for i in range(200)]
    pool = prompts.gsm8k_pool(rows)
    assert len(pool) == 128
    target = {"question": " How many? ", "answer": "#### 3"}
    shots = [f"{PREAMBLE}Question: {r['question']}\nAnswer: {r['answer']}\n\n" for r in pool[:8]]
    tail = f"{PREAMBLE}Question: How many?\nAnswer:"
    fits = [k for k in range(9) if len("".join(shots[k:]) + tail) <= 896]  # characters = tokens here
    assert 0 < fits[0] < 8  # the cap bites and leaves some shots
    prompt = prompts.fewshot_prompt(tok, "gsm8k", target, pool)
    assert prompt == "".join(shots[fits[0]:]) + tail
    assert len(tok(prompt, add_special_tokens=False)["input_ids"]) <= 896
    # a question that alone exceeds the cap keeps no shot and is not cut
    huge = {"question": "y" * 1000, "answer": "#### 1"}
    assert prompts.fewshot_prompt(tok, "gsm8k", huge, pool) == f"{PREAMBLE}Question: {'y' * 1000}\nAnswer:"


def test_the_cap_applies_to_multiple_choice_too(tok):
    long = {"id": "l", "question": "z" * 200, "choices": {"text": ["a", "b", "c", "d"], "label": list("ABCD")},
            "answerKey": "A"}
    shot = "Answer the following science question.\n\n" + "z" * 200 + "\nA. a\nB. b\nC. c\nD. d\nAnswer: A\n\n"
    tail = "Answer the following science question.\n\nWhich?\nA. a\nB. b\nC. c\nD. d\nAnswer:"
    keep = max(k for k in range(26) if len(shot * k + tail) <= 896)
    assert 0 < keep < 25
    assert prompts.fewshot_prompt(tok, "arc_challenge", dict(long, question="Which?"), [long] * 25) == shot * keep + tail


def test_humaneval_prompt_is_the_problem_prompt_unchanged(tok):
    row = {"task_id": "HumanEval/0", "prompt": "def f(x):\n    \"\"\"doc\"\"\"\n", "test": "", "entry_point": "f"}
    assert prompts.fewshot_prompt(tok, "humaneval", row, None) == row["prompt"]
