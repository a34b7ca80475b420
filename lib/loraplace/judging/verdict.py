"""One verdict: a claim part judged under one evidence track and scorer (see `loraplace.judging.rule`
for the rule), with everything a reader needs to check it: n per side, seeds, effect, CI, Holm p,
MDE, power planning, and the line pytest prints."""
from __future__ import annotations

from dataclasses import dataclass

from loraplace.judging import stats
from loraplace.judging.rule import FLOOR
from loraplace.vocab import DECIDED, MAGNITUDE_EXCLUDED


@dataclass(frozen=True)
class Verdict:
    claim_id: str
    claim_title: str
    sentence: str
    part_id: str
    part: str
    topology: str
    model: str
    evidence: str
    scorer: str
    comparison: str
    benchmark: str
    domain: str
    direction: str
    verdict: str
    n: int = 0                      # paired questions (summed over strata, not multiplied by seeds)
    n_seeds: int = 0
    effect_pp: float | None = None
    ci_low_pp: float | None = None
    ci_high_pp: float | None = None
    p_value: float | None = None
    p_holm: float | None = None
    mde_pp: float | None = None     # at Holm's strictest step alpha / family_size, 80 % power
    note: str = ""
    n_a: int | None = None          # questions side a / side b answered, before pairing
    n_b: int | None = None
    seeds: tuple[int, ...] = ()
    family_size: int = 0            # Holm's m: testable comparisons of the claim (track × scorer)
    seed_sd_pp: float | None = None  # between-seed SD (n_seeds >= 3), else None
    strata: tuple[dict, ...] = ()   # per benchmark: name, n_a, n_b, n_paired, weight, effect_pp, var_share
    interval: str = ""              # "bootstrap percentile" | "exact Clopper–Pearson"
    power_target_pp: float | None = None  # inconclusive parts: the effect to plan for …
    power_target: str = ""          # … "claimed" (the paper's number) or "observed"
    items_needed: int | None = None  # questions for 80 % power at alpha / family_size (None: seeds limit)
    seeds_needed: int | None = None  # fewest seeds that could reach it (needs n_seeds >= 3)
    mixer: str = ""                 # the model's recurrent mixer (gdn | mamba2) where the track knows it
    family: str = "study"           # the part's Holm family (study | factorial | controls)
    claimed_pp: float | None = None  # the paper's own number for this part, if it states one
    magnitude: str = ""             # "excluded" (claimed number outside the CI) | "compatible" | ""
    primary: bool = True            # this scorer is the part's pre-registered primary scorer
    protocol: str = ""              # the paper track's protocol (study | harness); "" elsewhere
    resamples: int = 0              # bootstrap resamples: a p below 1/resamples is printed as "<1/B"

    @property
    def p_text(self) -> str:
        """"=0.012", or "<1/10000" where the bootstrap cannot resolve a smaller p (never "=0")."""
        if self.p_holm is not None and (self.p_holm == 0 or (self.resamples and self.p_holm < 1 / self.resamples)):
            return f"<1/{self.resamples}" if self.resamples else "<1/B"
        return f"={self.p_holm:.3g}"

    @property
    def dropped(self) -> bool:
        return any(s["n_paired"] < max(s["n_a"] or 0, s["n_b"] or 0) for s in self.strata)

    @property
    def sample_text(self) -> str:
        """'n=256 questions, one training run (seed 3407)' — questions and seeds separately."""
        counts = [f"{s['name']} {s['n_paired']}" + (f" of {s['n_a']}/{s['n_b']}" if s["n_paired"] < max(
            s["n_a"] or 0, s["n_b"] or 0) else "") for s in self.strata]
        text = f"n={self.n} questions"
        if self.dropped:
            text += f" ({', '.join(counts)}; questions not answered by both sides dropped)"
        if self.n_seeds == 1:
            runs = f"one training run{f' (seed {self.seeds[0]})' if self.seeds else ''}"
        elif self.direction == "floor":  # exact bounds with the questions as clusters
            runs = (f"{self.n_seeds} training runs, the {self.n} questions as clusters (layered exact bound, "
                    f"not {self.n_seeds * self.n} independent answers)")
        elif self.n_seeds < stats.MIN_SEEDS_FOR_SPREAD:
            runs = f"{self.n_seeds} training runs"
        else:
            runs = (f"{self.n_seeds} training runs (SD of the per-seed effects {self.seed_sd_pp:.1f} pp, "
                    f"seed part t({self.n_seeds - 1}))")
        return f"{text}, {runs}"

    @property
    def about_these_runs(self) -> bool:
        """A decided verdict from fewer than 3 seeds: about these training runs only."""
        return self.verdict in DECIDED and 0 < self.n_seeds < stats.MIN_SEEDS_FOR_SPREAD

    @property
    def outcome_text(self) -> str:
        """'INCONCLUSIVE (about these runs; …); THE CLAIMED MAGNITUDE IS EXCLUDED': what the line leads with."""
        text = self.verdict.upper()
        if self.about_these_runs:
            text += " (about these runs; between-seed spread not estimable)"
        if self.magnitude == "excluded":
            text += f"; {MAGNITUDE_EXCLUDED.upper()} (claimed {self.claimed_pp:+.1f} pp)"
        return text

    @property
    def verdict_line(self) -> str:
        protocol = f"; {self.protocol} protocol" if self.protocol else ""
        head = f"{self.part_id} [{self.evidence}/{self.scorer}{protocol}] {'' if self.primary else '(sensitivity) '}" \
               f"{self.outcome_text}"
        if self.verdict == "untestable":
            return f"{head}: {self.comparison}: {self.note}"
        if self.verdict == "unavailable" or self.effect_pp is None:
            return f"{head}: {self.note}"
        tail = f"; {self.note}" if self.note else ""
        if self.direction == "floor":
            return (f"{head}: {self.comparison} = {self.effect_pp:.1f} % [{self.ci_low_pp:.1f}, {self.ci_high_pp:.1f}] "
                    f"exact 95 % (claimed below {100 * FLOOR:.0f} %), {self.sample_text}{tail}")
        return (f"{head}: {self.comparison} = {self.effect_pp:+.1f} pp [{self.ci_low_pp:+.1f}, {self.ci_high_pp:+.1f}] "
                f"(claimed {self.direction}), {self.sample_text}, Holm p{self.p_text} (m={self.family_size}), "
                f"MDE {self.mde_pp:.1f} pp at α/{self.family_size}{tail}")

    def to_dict(self) -> dict:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["verdict_line"] = self.verdict_line
        out["dropped"] = self.dropped
        out["about_these_runs"] = self.about_these_runs
        return out
