"""C4 — "Attention-only shows comparatively smaller off-target degradation in several
settings" (README, key finding 4: Qwen "smallest off-target degradation across domains").

Measured per topology and domain as attention-only minus every other placement on the
off-target benchmarks (the base cancels in the paired difference); supported only if
attention-only is better than each of them."""
import pytest

from loraplace.claims.registry import get_claim
from loraplace.pytest_plugin.fixtures import claim_parts

CLAIM = get_claim("C4")


@pytest.mark.parametrize("part", claim_parts(CLAIM))
def test_attention_only_degrades_least_off_target(part, loraplace_judge):
    loraplace_judge(CLAIM, part)
