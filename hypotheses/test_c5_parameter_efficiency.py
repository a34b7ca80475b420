"""C5 — "[the attention pathway] consistently outperforms full-model adaptation with 5-10x
fewer trainable parameters" (abstract).

Exact arithmetic on the real-size architectures built from their configs (meta device, no
weights): full ÷ attention-only trainable LoRA parameters at r=16, under the study's own
condition definitions and under harmonized ones. No evidence track or scorer involved; the
counts are cached in --cache-dir by config, code and transformers version. With --evidence paper
and models of one's own, the same parts are counted on those models too, each named."""
import pytest

from loraplace.claims.registry import get_claim
from loraplace.judging.efficiency import verdict
from loraplace.pytest_plugin.fixtures import claim_parts

C5 = get_claim("C5")


@pytest.mark.parametrize("part", claim_parts(C5))
def test_attention_only_has_5_to_10x_fewer_trainable_parameters(part, loraplace_architecture, loraplace_record_verdict,
                                                                 loraplace_settings):
    from loraplace.train.cache import Cache

    _, models = loraplace_architecture
    key, config = models.get(part.topology, (None, None))
    if models and key is None:
        pytest.skip(f"no {part.topology} model of one's own was given")
    loraplace_record_verdict(verdict(part, cache=Cache(loraplace_settings.cache_dir), model=config, name=key))
