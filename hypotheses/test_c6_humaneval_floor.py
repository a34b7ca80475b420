"""C6 — "All released CodeAlpaca-trained conditions solved zero HumanEval examples on both
models" (README: the HumanEval floor effect, 0/164 in every condition).

Measured as pass@1 of every placement after CodeAlpaca training: supported iff each
condition's 95 % CI stays below the 5 % floor (exact; with several training runs the questions
are the clusters, `loraplace.judging.floor`). The study's metric never executed the code;
the `corrected` scorer executes it (sandbox)."""
import pytest

from loraplace.claims.registry import get_claim
from loraplace.pytest_plugin.fixtures import claim_parts

CLAIM = get_claim("C6")


@pytest.mark.parametrize("part", claim_parts(CLAIM))
def test_humaneval_pass_at_1_is_at_the_floor(part, loraplace_judge):
    loraplace_judge(CLAIM, part)
