"""C7 — "hybrid topology fundamentally determines adaptation response" (abstract).

The referee's objection: the study's two models differ in topology *and* in recurrent mixer
(Gated DeltaNet vs Mamba-2), size and pretraining, so topology's causal role cannot be isolated.
The tiny track adds the two missing cells of a 2×2 -- a sequential Mamba-2 hybrid (Bamba) and a
parallel Gated DeltaNet hybrid (Falcon-H1's layer around Qwen3.5's module) -- matched in size,
tokenizer, data and recipe with the study's two.

Pre-registered (committed before any result of the added cells existed):
* Outcomes: recurrent-only − base on GSM8K after GSM8K training (C2's), and full − base on the
  off-target benchmarks after each of the three domains (C3's; the eight (domain, benchmark)
  strata weighted equally).
* Parts: for each outcome and each mixer, the topology contrast [parallel − sequential] of the
  cell effects, estimated per question (every cell answers the same questions), seeds crossed
  with questions; claimed positive (C2 and C3's direction).
* Supported iff all four parts are supported (CI excludes 0 upwards, Holm over the four);
  refuted iff any part is refuted (a topology contrast significantly negative under a mixer);
  otherwise inconclusive. The mixer contrasts within each topology and the topology × mixer
  interaction are estimated in the report's 2×2 section, not judged.
On the published and paper tracks (two models, one per topology) the parts are unavailable."""
import pytest

from loraplace.claims.registry import get_claim
from loraplace.pytest_plugin.fixtures import claim_parts

CLAIM = get_claim("C7")


@pytest.mark.parametrize("part", claim_parts(CLAIM))
def test_topology_sets_the_response_under_both_mixers(part, loraplace_judge):
    loraplace_judge(CLAIM, part)
