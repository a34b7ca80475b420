"""The suite's vocabularies, each defined once: topologies, recurrent mixers, verdicts, and the
pytest markers a claim part carries (registered by the plugin), and the outcome shown beside a
verdict when the paper's own number lies outside the interval."""
from __future__ import annotations

TOPOLOGIES = ("sequential", "parallel")
MIXERS = ("gdn", "mamba2")  # display names: `loraplace.study.MIXER_NAMES`
VERDICTS = ("supported", "refuted", "inconclusive", "untestable", "unavailable")
MAGNITUDE_EXCLUDED = "the claimed magnitude is excluded"  # the outcome shown beside a verdict (judging.rule)
DECIDED = VERDICTS[:3]  # the verdicts a test of the data reaches (the rest: the data cannot decide / no data)
CLAIM_MARKERS = {
    "sequential": "claim part about the sequential hybrid (Qwen3.5-0.8B: Gated DeltaNet + attention layers)",
    "parallel": "claim part about the parallel hybrid (Falcon-H1-0.5B: Mamba-2 || attention)",
    "gdn": "claim part about a hybrid whose recurrent mixer is Gated DeltaNet (the study's sequential "
           "model, or a factorial cell)",
    "mamba2": "claim part about a hybrid whose recurrent mixer is Mamba-2 (the study's parallel model, "
              "or a factorial cell)",
}
