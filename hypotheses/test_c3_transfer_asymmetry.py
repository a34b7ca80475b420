"""C3 — "parallel hybrids exhibit positive cross-task transfer while sequential hybrids
suffer catastrophic forgetting" (abstract).

Measured as full adaptation minus the base model on the off-target benchmarks of each
fine-tuning domain (mean over benchmarks): positive in parallel, negative in sequential."""
import pytest

from loraplace.claims.registry import get_claim
from loraplace.pytest_plugin.fixtures import claim_parts

CLAIM = get_claim("C3")


@pytest.mark.parametrize("part", claim_parts(CLAIM))
def test_parallel_transfers_sequential_forgets(part, loraplace_judge):
    loraplace_judge(CLAIM, part)
