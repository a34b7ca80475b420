"""C1 — "the attention pathway -- despite being the minority component -- consistently
outperforms full-model adaptation with 5-10x fewer trainable parameters" (abstract).

Measured as attention-only minus full adaptation, on each fine-tuning domain's own target
benchmarks, for each topology (the parameter-count half of the sentence is claim C5)."""
import pytest

from fixtures.claims import claim_parts
from loraplace.claims import get_claim

CLAIM = get_claim("C1")


@pytest.mark.parametrize("part", claim_parts(CLAIM))
def test_attention_only_outperforms_full_adaptation(part, judge):
    judge(CLAIM, part)
