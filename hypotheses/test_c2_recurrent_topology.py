"""C2 — "adapting the recurrent backbone is destructive in sequential hybrids (-14.8 pp on
GSM8K) but constructive in parallel ones (+8.6 pp)" (abstract).

Measured as recurrent-only (Qwen `gdn_only`, Falcon `ssm_only`) minus the base model on
GSM8K after GSM8K training: negative in the sequential hybrid, positive in the parallel one."""
import pytest

from loraplace.claims.registry import get_claim
from loraplace.pytest_plugin.fixtures import claim_parts

CLAIM = get_claim("C2")


@pytest.mark.parametrize("part", claim_parts(CLAIM))
def test_recurrent_adaptation_destructive_in_sequential_constructive_in_parallel(part, loraplace_judge):
    loraplace_judge(CLAIM, part)
