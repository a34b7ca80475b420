"""What the tiny track runs: its profiles (sizes only, never the design) and the fine-tuning runs
of each organism.

    p = profile("smoke")
    runs_of(p, spec)   # [(condition, domain, seed), ...] of one organism

Organisms (`loraplace.models.organisms.factorial`): the study's pair (tiny Qwen3.5, tiny
Falcon-H1) and the two cells that complete the mixer × topology 2×2 (tiny Bamba, tiny
Falcon-H1 with a Gated DeltaNet). The runs:

* the study's pair: every harmonized condition × fine-tuning domain × seed (claims C1–C4, C6);
  and every parameter-budget control (`loraplace.models.controls`) × `control_domains` × seed,
  evaluated on the domain's target benchmarks only (the C1 control parts are on target). The
  `default` profile runs the controls after GSM8K training only (the study's headline domain,
  its target the 500 generated GSM8K answers): after CodeAlpaca and UltraChat they cost about a
  sixth of a cold default build (measured: benchmarks/RESULTS.md), which put the profile over its
  time budget -- chosen by that cost before any control verdict was looked at;
  `full` runs them after every domain, `smoke` none;
* the factorial's added cells: the runs claims C2, C3 and C7 need -- recurrent-only after GSM8K
  training and full after every domain (`FACTORIAL_RUNS`) × seed. The other claims' conditions
  are not run there: at four organisms they do not fit the profiles' time budgets (README), so
  C1, C4 and C6 have no parts on those cells.
"""
from __future__ import annotations

from dataclasses import dataclass

from loraplace.models import organisms as org
from loraplace.models.controls import CONTROLS
from loraplace.roles import STUDY_ROLE
from loraplace.study import DOMAINS, TARGETS

ROLE_OF = STUDY_ROLE  # harmonized condition -> role (loraplace.roles)
FACTORIAL_RUNS = (("recurrent_only", "gsm8k_train"), *(("full", d) for d in DOMAINS))


@dataclass(frozen=True, kw_only=True)
class Profile:
    name: str
    hidden_size: int  # organism width (layers fixed: 4 sequential / 3 parallel)
    pretrain_steps: int
    pretrain_batch: int
    pretrain_lr: float
    pretrain_seq_len: int  # characters per pretraining window
    seq_len: int  # characters per fine-tuning window
    finetune_steps: int
    finetune_batch: int
    finetune_lr: float
    rank: int
    seeds: tuple[int, ...]
    items: tuple[tuple[str, int], ...]  # (benchmark, held-out items evaluated)
    max_new_tokens: int  # gsm8k generation cap (characters)
    code_tokens: int  # humaneval generation cap (characters)
    mc_batch: int = 256
    gen_batch: int = 512  # prompts per generation batch (sorted by length): fewer decoding steps
    control_domains: tuple[str, ...] = ()  # fine-tuning domains the study pair's budget controls run after

    @property
    def controls(self) -> bool:
        return bool(self.control_domains)

    @property
    def n_items(self) -> dict[str, int]:
        return dict(self.items)


def item_counts(gsm8k, humaneval, mc):
    return (("gsm8k", gsm8k), ("humaneval", humaneval), ("mmlu", mc), ("arc_challenge", mc), ("hellaswag", mc))


# Pretraining windows of 191 characters: with BOS, 192 tokens = 3 Gated-DeltaNet chunks of 64 and 12
# Mamba-2 chunks of 16, so the torch chunk paths pad nothing (161 tokens are padded to 192 and 176);
# batch 13 keeps the tokens per step of 16 x 161. Fine-tuning keeps 160-character windows, batch 8.
_PRETRAIN = dict(hidden_size=64, pretrain_steps=1200, pretrain_batch=13, pretrain_lr=4e-3, pretrain_seq_len=191,
                 seq_len=160, finetune_batch=8, finetune_lr=3e-3, rank=4, code_tokens=24)
PROFILES = {p.name: p for p in (
    Profile(name="smoke", **_PRETRAIN, finetune_steps=12, seeds=(0, 1), items=item_counts(40, 16, 40), max_new_tokens=20),
    Profile(name="default", **_PRETRAIN, finetune_steps=40, seeds=(0, 1, 2), items=item_counts(500, 100, 600),
            max_new_tokens=40, control_domains=("gsm8k_train",)),
    Profile(name="full", hidden_size=96, pretrain_steps=3000, pretrain_batch=13, pretrain_lr=3e-3, pretrain_seq_len=191,
            seq_len=160, finetune_steps=150, finetune_batch=8, finetune_lr=2e-3, rank=8, seeds=(0, 1, 2, 3, 4),
            items=item_counts(1000, 200, 1000), max_new_tokens=128, code_tokens=32, control_domains=DOMAINS),
)}


def profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"Unknown profile {name!r}. Available: {', '.join(PROFILES)}") from None


def specs(p: Profile, names=None) -> dict[str, org.OrganismSpec]:
    """{key: spec} of the organisms of profile `p` (the study's pair first), or of those named by
    key or by topology (a topology names the study's organism of it)."""
    every = org.factorial(p.hidden_size)
    if not names:
        return every
    study = {t: s.key for t, s in org.organisms(p.hidden_size).items()}
    keys = [study.get(n, n) for n in names]
    unknown = [n for n, k in zip(names, keys) if k not in every]
    if unknown:
        raise ValueError(f"Unknown organism {unknown[0]!r}. Available: {', '.join(every)} "
                         f"(or a topology: {', '.join(study)})")
    return {k: every[k] for k in every if k in keys}


def is_study_organism(spec: org.OrganismSpec) -> bool:
    return spec.key in {s.key for s in org.organisms(spec.hidden_size).values()}


def runs_of(p: Profile, spec: org.OrganismSpec) -> list[tuple[str, str, int]]:
    """(condition, domain, seed) of every fine-tuning run of one organism under profile `p`."""
    if not is_study_organism(spec):
        return [(c, d, s) for c, d in FACTORIAL_RUNS for s in p.seeds]
    runs = [(c, d, s) for c in ROLE_OF for d in DOMAINS for s in p.seeds]
    runs += [(c, d, s) for c in CONTROLS for d in p.control_domains for s in p.seeds]
    return runs


def items_of(p: Profile, condition: str, domain: str) -> dict[str, int]:
    """{benchmark: items} a run is evaluated on: every benchmark, but a control only its domain's targets."""
    if condition in CONTROLS:
        return {b: n for b, n in p.items if b in TARGETS[domain]}
    return p.n_items
