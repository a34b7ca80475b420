"""The paper track's protocols: how a re-run formats its training texts and prompts its models.

    proto = protocol("study")      # the authors' notebook, string for string (the default)
    proto = protocol("harness")    # lm-eval-standard evaluation prompts, kept and named

A protocol is data: the strings and the rules of the study's notebook
(`notebook/paper3_lora_placement.ipynb` of hecboar/lora-placement-hybrid, cells 4, 11 and 14),
read there and written down here; `prompts.py` applies them. Both protocols train the same way
(`TRAINING`: the study's data rules and chat-formatted texts, SFTTrainer's semantics), so an adapter
is shared by both and only the evaluation differs:

  study    the notebook's manual evaluation: k-shot multiple choice scored on the letter
           continuations " A".." D" (summed log-probability), its own headers; GSM8K 8 shots from
           the held-out pool with the preamble before each; every prompt's shots dropped from the
           front until it is <= 896 tokens; greedy generation that stops only at EOS, 256 new
           tokens for GSM8K and HumanEval
  harness  today's lm-eval-standard tasks (`lmeval.py`): 0-shot cloze ARC / HellaSwag, lm-eval's
           MMLU header, 5 GSM8K shots from the train split, stop strings, HumanEval 512 tokens

A protocol's `key()` enters every paper cache key, record and the report's provenance.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

STUDY_SEED = 3407


@dataclass(frozen=True)
class TrainingRules:
    """The study's training data and text (notebook cell 11, `prepare_training_dataset`)."""

    seed: int = STUDY_SEED  # every shuffle and the validation split
    limit: int = 2000  # examples drawn per domain (preset q2_submission)
    gsm8k_pool_min: int = 64  # GSM8K few-shot pool = max(64, 16 x the GSM8K shots), removed first
    gsm8k_pool_per_shot: int = 16
    # validation = min(max(64, 5 % of the examples), 256); if that leaves <= 1 to train, n // 10 (at least 1)
    validation_min: int = 64
    validation_share: float = 0.05
    validation_max: int = 256
    system_prompts: dict = field(default_factory=lambda: {
        "gsm8k_train": "You are a careful mathematician. Solve step by step and finish with '#### <final answer>'.",
        "codealpaca": "You are a precise coding assistant. Write correct, readable code and explain only when useful.",
    })
    codealpaca_context: str = "\n\nAdditional context:\n"  # between instruction and a non-empty input
    ultrachat_fallback_system: str = "You are a helpful assistant."  # a row without messages
    # without a chat template: "ROLE:\ncontent.strip()" blocks joined by blank lines, EOS appended
    fallback_block: str = "{role}:\n{content}"
    fallback_joiner: str = "\n\n"
    # SFTTrainer's semantics: EOS appended if missing, no packing, loss on every token, padding masked by position
    trainer: str = "transformers.Trainer + trl SFT collator"
    version: str = "study-train-1"

    def validation_size(self, n: int) -> int:
        size = min(max(self.validation_min, int(self.validation_share * n)), self.validation_max)
        return max(1, n // 10) if n <= size + 1 else size

    def gsm8k_pool(self, gsm8k_shots: int) -> int:
        return max(self.gsm8k_pool_min, gsm8k_shots * self.gsm8k_pool_per_shot)


TRAINING = TrainingRules()


@dataclass(frozen=True)
class Protocol:
    name: str
    summary: str
    evaluation: str  # "notebook" (prompts.py + study_tasks.py) | "lm-eval" (lmeval.py's standard tasks)
    gsm8k_gen_tokens: int
    humaneval_gen_tokens: int
    fewshot: dict = field(default_factory=dict)  # benchmark -> shots
    max_prompt_tokens: int | None = None  # shots dropped from the front until the prompt fits
    # notebook strings (empty for the harness protocol, whose prompts are lmeval.py's)
    mc_headers: dict = field(default_factory=dict)  # benchmark -> first line of every rendered question
    gsm8k_preamble: str = ""
    answer_cue: str = "Answer:"
    shot_separator: str = "\n\n"  # after every rendered shot and target (before the final .strip())
    stop: str = "eos"  # "eos": EOS is the only stop | "harness": lm-eval stop strings + EOS
    training: TrainingRules = TRAINING
    version: str = ""

    def key(self) -> dict:
        """What enters cache keys and the report: the name, the version and every rule (not the summary)."""
        out = asdict(self)
        out.pop("summary")
        return out


STUDY = Protocol(
    name="study",
    summary="the authors' notebook, string for string: chat-formatted SFT, k-shot letter scoring, EOS-only stop",
    evaluation="notebook", gsm8k_gen_tokens=256, humaneval_gen_tokens=256,
    fewshot={"mmlu": 5, "gsm8k": 8, "arc_challenge": 25, "hellaswag": 10}, max_prompt_tokens=896,
    mc_headers={"mmlu": "The following is a multiple choice question about {subject}.",
                "arc_challenge": "Answer the following science question.",
                "hellaswag": "Choose the most plausible continuation."},
    gsm8k_preamble=("You are a careful mathematician. Solve the problem step by step and end with "
                    "'#### <final answer>'.\n\n"),
    version="study-eval-1")

HARNESS = Protocol(
    name="harness",
    summary="lm-eval-standard evaluation prompts (0-shot cloze ARC/HellaSwag, 5-shot GSM8K, stop strings)",
    evaluation="lm-eval", gsm8k_gen_tokens=256, humaneval_gen_tokens=512, fewshot={"gsm8k": 5}, stop="harness",
    version="harness-eval-1")

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (STUDY, HARNESS)}
DEFAULT = "study"


def protocol(name: str | None) -> Protocol:
    """The named protocol (None: the default, `study`)."""
    name = DEFAULT if name is None else name
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"Unknown protocol {name!r}. Available: {', '.join(PROTOCOLS)}") from None


def gsm8k_pool_size(p: Protocol = STUDY) -> int:
    """The GSM8K few-shot pool the study removes from the training split first (128)."""
    return p.training.gsm8k_pool(STUDY.fewshot["gsm8k"])
