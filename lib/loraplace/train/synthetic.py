"""A deterministic synthetic world mirroring the study: three fine-tuning domains, five benchmarks.

Everything is templated language over a small fixed world (20 names, 48 objects in 6 kinds, one
verb per kind, small numbers), so a ~100k-parameter character-level model learns it in minutes:

  domain        format                                                       study analogue
  gsm8k_train   "You are a careful mathematician.\\nQuestion: … \\nAnswer: 3+4=7. #### 7"   GSM8K train
  codealpaca    "Instruction: Write a function …\\nResponse:\\ndef f(x):\\n    return x + 3"  CodeAlpaca
  ultrachat     "User: What kind of thing is a plum?\\nAssistant: A plum is a fruit. …"    UltraChat

  benchmark      items                                      scoring (see loraplace.tracks.tiny.evaluate)
  gsm8k          one-step word problems (a+b, a,b<=5 or <=9; a-b, a<=6 or <=12)    greedy generation, both GSM8K scorers
  humaneval      def NAME(x): \"\"\"Return x plus 3, then times 2.\"\"\"  generation + unit tests in the sandbox
                 (or "Return x plus 3." / "Return x plus a number. >>> NAME(2) 5")
  mmlu           "Which of these is a fruit?" (4 objects)   log-likelihood of " object"
  arc_challenge  "Which number is the largest: 3, 8, 5, 1?" log-likelihood of " digit"
  hellaswag      "Ann finds a plum and" + 4 endings         length-normalised log-likelihood

Held-out items: every benchmark has a fixed eval pool (`POOL` items, drawn once from its own
seeded generator); a profile evaluates a prefix of it, so `item_key` (``gsm8k:17``) names the same
question in every profile. Training text (pretraining mixture and fine-tuning domains) is drawn
from generators that reject every eval item's identity (`Item.ident`), so eval items never occur
in training. For `mmlu` the identity is the question *with its choice set* (there are only 48
object/kind facts, so the question + gold answer text itself does recur in training -- as with
knowledge in real pretraining); for the other benchmarks the question text itself is held out
(for `humaneval` the function with its name: the arithmetic of a doctest example, say "plus,
f(2) == 5", does recur under other function names, as arithmetic facts recur in real code).

No global RNG: every generator takes a seed and builds its own `random.Random`.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import lru_cache

PREAMBLE = "You are a careful mathematician."  # == loraplace.scoring.gsm8k.STOP_MARKERS[1]
NAMES = ("Ann", "Bob", "Cal", "Dee", "Eve", "Fay", "Gus", "Hal", "Ivy", "Jon",
         "Kim", "Lou", "Max", "Ned", "Oda", "Pam", "Ray", "Sue", "Tom", "Uma")
KINDS = {
    "animal": ("cat", "dog", "cow", "fox", "owl", "pig", "rat", "bee"),
    "fruit": ("apple", "pear", "plum", "fig", "lime", "kiwi", "grape", "peach"),
    "tool": ("hammer", "saw", "drill", "wrench", "axe", "file", "rake", "spade"),
    "vehicle": ("car", "bus", "van", "truck", "bike", "boat", "train", "tram"),
    "drink": ("tea", "milk", "juice", "soda", "water", "cocoa", "cider", "punch"),
    "garment": ("hat", "coat", "sock", "shoe", "scarf", "shirt", "glove", "belt"),
}
VERBS = {"animal": ("pets", "pet"), "fruit": ("eats", "eat"), "tool": ("uses", "use"),
         "vehicle": ("drives", "drive"), "drink": ("drinks", "drink"), "garment": ("wears", "wear")}
KIND_OF = {obj: kind for kind, objs in KINDS.items() for obj in objs}
OBJECTS = tuple(KIND_OF)
FUNC_NAMES = ("alpha", "bravo", "delta", "echo", "gamma", "hotel", "india", "kilo", "lima", "mike",
              "oscar", "papa", "romeo", "sierra", "tango", "victor", "whisky", "zulu", "amber",
              "coral", "ember", "frost", "maple", "pixel")
OPS = {"plus": "+", "minus": "-", "times": "*"}
DOMAINS = ("gsm8k_train", "codealpaca", "ultrachat")
BENCHMARKS = ("gsm8k", "humaneval", "mmlu", "arc_challenge", "hellaswag")
CHANCE = {"gsm8k": 0.0, "humaneval": 0.0, "mmlu": 0.25, "arc_challenge": 0.25, "hellaswag": 0.25}
POOL = {"gsm8k": 1000, "humaneval": 200, "mmlu": 1000, "arc_challenge": 1000, "hellaswag": 1000}


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


@dataclass(frozen=True)
class Item:
    """One benchmark question. Generative items have `gold` text; MC items have `choices` + `label`."""

    benchmark: str
    index: int
    ident: tuple  # what makes the question unique (used to hold it out of training)
    prompt: str
    gold: str = ""
    choices: tuple[str, ...] = ()
    label: int = -1
    test: str = ""  # humaneval: the unit tests (a `check(candidate)` function)
    entry_point: str = ""
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> str:
        return f"{self.benchmark}:{self.index}"


# ---- one generator per item family: (rng) -> (ident, fields) -------------------------------

def _gsm8k(rng: random.Random) -> tuple[tuple, dict]:
    name, obj = rng.choice(NAMES), rng.choice(OBJECTS)
    big = rng.random() < 0.5  # half small numbers, half up to 9 + 9 / 12 - 11: a graded benchmark
    if rng.random() < 0.5:
        a, b = rng.randint(1, 9 if big else 5), rng.randint(1, 9 if big else 5)
        q = f"{name} has {a} {obj}s. {name} gets {b} more. How many {obj}s does {name} have?"
        work, ans = f"{a}+{b}={a + b}.", a + b
    else:
        a = rng.randint(2, 12 if big else 6)
        b = rng.randint(1, a - 1)
        q = f"{name} has {a} {obj}s. {name} gives away {b}. How many {obj}s does {name} have?"
        work, ans = f"{a}-{b}={a - b}.", a - b
    return (q,), dict(prompt=f"{PREAMBLE}\nQuestion: {q}\nAnswer:", gold=str(ans),
                      meta={"solution": f" {work} #### {ans}"})


def _humaneval(rng: random.Random) -> tuple[tuple, dict]:
    """A one-argument function from its docstring, in one of three families (a third each):
    one step ("Return x plus 3."), two chained steps ("Return x plus 3, then times 2." ->
    (x + 3) * 2), or a step whose constant must be worked out from a doctest example, as in
    HumanEval's own prompts ("Return x plus a number." + ">>> f(2)" / "5" -> x + 3). The first
    two only need the docstring copied into code; the third needs arithmetic, which the organisms
    get right only part of the time -- so HumanEval can show gains as well as forgetting."""
    name, family = rng.choice(FUNC_NAMES), rng.choice(("one", "two", "example"))
    steps = tuple((rng.choice(tuple(OPS)), rng.randint(1, 9)) for _ in range(2 if family == "two" else 1))
    expr = "x"
    for i, (op, k) in enumerate(steps):
        expr = f"{'(' + expr + ')' if i else expr} {OPS[op]} {k}"
    if family == "example":
        (op, k), x0 = steps[0], rng.randint(2, 5)
        y0 = eval(expr, {"x": x0})
        doc = f"Return x {op} a number.\n    >>> {name}({x0})\n    {y0}\n    "
        spec, ident = f"x {op} a number, where {name}({x0}) is {y0}", (name, family, steps, x0)
    else:
        spec = "x " + ", then ".join(f"{op} {k}" for op, k in steps)
        doc, ident = f"Return {spec}.", (name, family, steps)
    asserts = "".join(f"    assert candidate({x}) == {eval(expr, {'x': x})}\n" for x in (2, 7, 11))
    return ident, dict(
        prompt=f'def {name}(x):\n    """{doc}"""\n', gold=f"    return {expr}\n",
        test=f"def check(candidate):\n{asserts}", entry_point=name, meta={"spec": spec, "family": family})


def _mmlu(rng: random.Random) -> tuple[tuple, dict]:
    kinds = rng.sample(tuple(KINDS), 4)
    objs = [rng.choice(KINDS[k]) for k in kinds]
    order = list(range(4))
    rng.shuffle(order)
    choices = tuple(f" {objs[i]}" for i in order)
    prompt = f"Question: Which of these is {_a(kinds[0])}?\nAnswer:"
    return (prompt, frozenset(choices)), dict(prompt=prompt, choices=choices, label=order.index(0))


def _arc(rng: random.Random) -> tuple[tuple, dict]:
    digits = rng.sample(range(10), 4)
    which = rng.choice(("largest", "smallest"))
    gold = max(digits) if which == "largest" else min(digits)
    prompt = f"Question: Which number is the {which}: {', '.join(map(str, digits))}?\nAnswer:"
    return (prompt,), dict(prompt=prompt, choices=tuple(f" {d}" for d in digits), label=digits.index(gold))


_HELLA_CONTEXTS = ("{name} finds {obj} and", "{name} sees {obj}, so {name}", "{name} wants {obj}, then")


def _ending(obj: str) -> str:
    return f" {VERBS[KIND_OF[obj]][0]} the {obj}."


def _hellaswag(rng: random.Random) -> tuple[tuple, dict]:
    name, template = rng.choice(NAMES), rng.choice(_HELLA_CONTEXTS)
    kinds = rng.sample(tuple(KINDS), 4)
    objs = [rng.choice(KINDS[k]) for k in kinds]
    ctx = template.format(name=name, obj=_a(objs[0]))
    order = list(range(4))
    rng.shuffle(order)
    return (ctx,), dict(prompt=ctx, choices=tuple(_ending(objs[i]) for i in order), label=order.index(0))


_GENERATORS = {"gsm8k": _gsm8k, "humaneval": _humaneval, "mmlu": _mmlu,
               "arc_challenge": _arc, "hellaswag": _hellaswag}


def _check(name: str, table) -> None:
    if name not in table:
        raise ValueError(f"Unknown benchmark or domain {name!r}. Available: {', '.join(table)}")


@lru_cache(maxsize=None)
def eval_pool(benchmark: str) -> tuple[Item, ...]:
    """The fixed held-out pool of a benchmark (distinct items, seeded by the benchmark's name)."""
    _check(benchmark, _GENERATORS)
    rng = random.Random(f"loraplace-eval-{benchmark}")
    items, seen = [], set()
    while len(items) < POOL[benchmark]:
        ident, fields = _GENERATORS[benchmark](rng)
        if ident in seen:
            continue
        seen.add(ident)
        items.append(Item(benchmark, len(items), ident, **fields))
    return tuple(items)


def eval_items(benchmark: str, n: int | None = None) -> list[Item]:
    """The first `n` items of the benchmark's held-out pool (all when n is None)."""
    pool = eval_pool(benchmark)
    if n is not None and n > len(pool):
        raise ValueError(f"{benchmark}: asked for {n} items, the held-out pool has {len(pool)}")
    return list(pool[:n])


@lru_cache(maxsize=None)
def _held_out(benchmark: str) -> frozenset:
    return frozenset(item.ident for item in eval_pool(benchmark))


def train_item(benchmark: str, rng: random.Random) -> Item:
    """A fresh item of the benchmark's family that is not in its eval pool."""
    held = _held_out(benchmark)
    while True:
        ident, fields = _GENERATORS[benchmark](rng)
        if ident not in held:
            return Item(benchmark, -1, ident, **fields)


# ---- text of training documents --------------------------------------------------------------

def _solved(item: Item) -> str:
    """A training item written out with its answer, in the benchmark's own format."""
    if item.benchmark == "gsm8k":
        return item.prompt + item.meta["solution"] + "\n"
    if item.benchmark == "humaneval":
        return item.prompt + item.gold + "\n"
    if item.benchmark == "hellaswag":
        return item.prompt + item.choices[item.label] + "\n"
    return item.prompt + item.choices[item.label] + "\n"


def _fact(rng: random.Random) -> str:
    name, obj = rng.choice(NAMES), rng.choice(OBJECTS)
    kind = KIND_OF[obj]
    return rng.choice((f"{_a(obj).capitalize()} is {_a(kind)}. {name} {VERBS[kind][0]} the {obj}.\n",
                       f"{name} has {_a(obj)}. The {obj} is {_a(kind)}.\n"))


def domain_example(domain: str, rng: random.Random) -> str:
    """One fine-tuning example of a domain (never an eval item)."""
    _check(domain, DOMAINS)
    if domain == "gsm8k_train":
        return _solved(train_item("gsm8k", rng))
    if domain == "codealpaca":
        item = train_item("humaneval", rng)
        return (f"Instruction: Write a function {item.entry_point} that returns {item.meta['spec']}.\n"
                f"Response:\ndef {item.entry_point}(x):\n{item.gold}\n")
    obj = rng.choice(OBJECTS)
    kind = KIND_OF[obj]
    if rng.random() < 0.5:
        return (f"User: What kind of thing is {_a(obj)}?\nAssistant: {_a(obj).capitalize()} is {_a(kind)}. "
                f"You can {VERBS[kind][1]} the {obj}.\n")
    return f"User: Name {_a(kind)}, please.\nAssistant: Sure: the {obj} is {_a(kind)}.\n"


# The pretraining mixture: (weight, source). Multi-item documents give the few-shot-like run-on
# structure of the study (a solved problem is followed by the next preamble + "Question:").
MIXTURE = (
    (0.30, "gsm8k"), (0.20, "humaneval"), (0.12, "mmlu"), (0.12, "arc_challenge"),
    (0.12, "hellaswag"), (0.08, "fact"), (0.06, "domains"),
)


def pretrain_document(rng: random.Random) -> str:
    source = rng.choices([s for _, s in MIXTURE], weights=[w for w, _ in MIXTURE])[0]
    if source == "fact":
        return "".join(_fact(rng) for _ in range(rng.randint(1, 3)))
    if source == "domains":
        return domain_example(rng.choice(DOMAINS), rng)
    shots = rng.randint(1, 3)
    sep = "\n" if source == "humaneval" else ""
    return sep.join(_solved(train_item(source, rng)) for _ in range(shots))


def text_stream(source: str, seed: int):
    """An endless deterministic stream of training documents: `pretrain` or a domain name."""
    rng = random.Random(f"loraplace-{source}-{seed}")
    while True:
        yield pretrain_document(rng) if source == "pretrain" else domain_example(source, rng)


def chunks(source: str, seed: int, seq_len: int, n: int) -> list[str]:
    """The first `n` training windows of `seq_len` characters: documents packed with a newline
    between them (no end-of-text token: like the study's base model, the organism runs on)."""
    stream, buf, out = text_stream(source, seed), "", []
    while len(out) < n:
        while len(buf) < seq_len:
            buf += next(stream) + "\n"
        out.append(buf[:seq_len])
        buf = buf[seq_len:]
    return out
