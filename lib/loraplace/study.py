"""The study's design, as it published it: models, placement conditions, domains, benchmarks.

The condition names are the study's own. Which of them stands for "attention-only",
"recurrent-only" and "full" differs between the two models, and is stated here once:

=====================  ======================  ======================
role                   Qwen3.5-0.8B (seq.)     Falcon-H1-0.5B (par.)
=====================  ======================  ======================
attention-only         ``softmax_only``        ``attention_only`` (q,k,v only)
recurrent-only         ``gdn_only``            ``ssm_only`` (mamba.in_proj only)
mlp-only               ``mlp_only``            ``mlp_only``
attention + mlp        ``softmax_plus_mlp``    ``attention_plus_mlp``
recurrent + mlp        ``gdn_plus_mlp``        ``ssm_plus_mlp``
full                   ``all_layers``          ``all_eligible`` (+o_proj, lm_head)
=====================  ======================  ======================
"""
from __future__ import annotations

from dataclasses import dataclass

from loraplace.roles import ROLES  # noqa: F401  (the one role vocabulary, re-exported for the claims)

DOMAINS = ("gsm8k_train", "codealpaca", "ultrachat")
# The recurrent mixers of the mixer × topology factorial (claim C7), and the taxonomy's mixer kinds
# (`loraplace.models.taxonomy`) they stand for.
MIXER_NAMES = {"gdn": "Gated DeltaNet", "mamba2": "Mamba-2"}
MIXER_OF_KIND = {"gated-deltanet": "gdn", "mamba2": "mamba2"}


def mixer_of(kinds) -> str:
    """The factorial's mixer of a model from its taxonomy's mixer kinds ('' when it has neither)."""
    found = sorted({MIXER_OF_KIND[k] for k in kinds if k in MIXER_OF_KIND})
    return found[0] if len(found) == 1 else "+".join(found)
BENCHMARKS = ("mmlu", "arc_challenge", "hellaswag", "gsm8k", "humaneval")
MULTIPLE_CHOICE = ("mmlu", "arc_challenge", "hellaswag")

# The benchmarks each fine-tuning domain targets (the study's forgetting_summary convention);
# every other benchmark the base model was evaluated on is off-target.
TARGETS = {
    "gsm8k_train": ("gsm8k",),
    "ultrachat": MULTIPLE_CHOICE,
    "codealpaca": ("humaneval",),
}


@dataclass(frozen=True)
class StudyModel:
    key: str
    name: str
    topology: str
    recurrent_mixer: str  # a key of MIXER_NAMES
    conditions: dict  # role -> the study's condition name

    def condition(self, role: str) -> str:
        try:
            return self.conditions[role]
        except KeyError:
            raise ValueError(f"Unknown role {role!r}. Available: {', '.join(self.conditions)}") from None

    def role(self, condition: str) -> str:
        for role, name in self.conditions.items():
            if name == condition:
                return role
        raise ValueError(
            f"Unknown condition {condition!r} for {self.key}. Available: {', '.join(self.conditions.values())}"
        )


MODELS = {
    m.key: m
    for m in (
        StudyModel(
            key="qwen3_5_0_8b_base",
            name="Qwen3.5-0.8B-Base",
            topology="sequential",
            recurrent_mixer="gdn",
            conditions={
                "attention": "softmax_only",
                "recurrent": "gdn_only",
                "mlp": "mlp_only",
                "attention+mlp": "softmax_plus_mlp",
                "recurrent+mlp": "gdn_plus_mlp",
                "full": "all_layers",
            },
        ),
        StudyModel(
            key="falcon_h1_0_5b_base",
            name="Falcon-H1-0.5B-Base",
            topology="parallel",
            recurrent_mixer="mamba2",
            conditions={
                "attention": "attention_only",
                "recurrent": "ssm_only",
                "mlp": "mlp_only",
                "attention+mlp": "attention_plus_mlp",
                "recurrent+mlp": "ssm_plus_mlp",
                "full": "all_eligible",
            },
        ),
    )
}


def study_model(key: str) -> StudyModel:
    try:
        return MODELS[key]
    except KeyError:
        raise ValueError(f"Unknown model {key!r}. Available: {', '.join(MODELS)}") from None


def model_for_topology(topology: str) -> StudyModel:
    for model in MODELS.values():
        if model.topology == topology:
            return model
    raise ValueError(f"Unknown topology {topology!r}. Available: sequential, parallel")


def off_target(domain: str, evaluated: tuple[str, ...] = ("mmlu", "arc_challenge", "hellaswag", "gsm8k")) -> tuple[str, ...]:
    """Benchmarks off the domain's target, among those the base model was evaluated on."""
    return tuple(b for b in evaluated if b not in TARGETS[domain])
