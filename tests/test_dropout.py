"""MaskDropout: the distribution of nn.Dropout, deterministic under a seed, swapped into peft models."""
from __future__ import annotations

import pytest
import torch
from scipy import stats
from torch import nn

from loraplace.models import organisms as org
from loraplace.train import lora
from loraplace.train.dropout import MaskDropout, use_mask_dropout


@pytest.mark.parametrize("p", [0.05, 0.3])
def test_drop_rate_and_scale_match_nn_dropout(p):
    torch.manual_seed(0)
    x = torch.rand(400_000) + 0.5  # no zeros of its own
    ours, ref = MaskDropout(p).train()(x), nn.Dropout(p).train()(x)
    for out in (ours, ref):
        kept = out != 0
        dropped = int((~kept).sum())
        # exact binomial test of the drop count against p (seeded, so not flaky)
        assert stats.binomtest(dropped, x.numel(), p).pvalue > 1e-4, (dropped, x.numel() * p)
        torch.testing.assert_close(out[kept], x[kept] / (1 - p))
    # the two drop counts are two samples of the same binomial
    table = [[int((ours == 0).sum()), int((ours != 0).sum())], [int((ref == 0).sum()), int((ref != 0).sum())]]
    assert stats.chi2_contingency(table).pvalue > 1e-4


def test_gradient_is_the_scaled_mask():
    torch.manual_seed(1)
    x = (torch.rand(64, 33) + 0.5).requires_grad_()
    y = MaskDropout(0.2).train()(x)
    y.sum().backward()
    torch.testing.assert_close(x.grad, (y != 0).float() / 0.8)


def test_identity_in_eval_and_at_zero_and_rejects_bad_p():
    x = torch.randn(10, 7)
    assert MaskDropout(0.5).eval()(x) is x
    assert MaskDropout(0.0).train()(x) is x
    for bad in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match="dropout probability"):
            MaskDropout(bad)


def test_same_seed_same_mask_different_seed_different_mask():
    x = torch.ones(5000)

    def draw(seed):
        torch.manual_seed(seed)
        return MaskDropout(0.1).train()(x)

    assert torch.equal(draw(3), draw(3))
    assert not torch.equal(draw(3), draw(4))


@pytest.mark.parametrize("condition", ["attention_only", "full"])
def test_swapped_into_every_lora_module_of_a_peft_model(condition):
    from loraplace.models.placement import adapted_modules, apply_lora

    base = org.build(org.organisms(32)["parallel"])
    peft_model = apply_lora(base, lora.conditions_for(base, 2, condition))
    before = sum(isinstance(d, nn.Dropout) for m in peft_model.modules()
                 if isinstance(getattr(m, "lora_dropout", None), nn.ModuleDict) for d in m.lora_dropout.values())
    n = use_mask_dropout(peft_model)
    assert n == before == len(adapted_modules(peft_model)) > 0
    dropouts = [d for m in peft_model.modules() if isinstance(getattr(m, "lora_dropout", None), nn.ModuleDict)
                for d in m.lora_dropout.values()]
    assert dropouts and all(isinstance(d, MaskDropout) and d.p == 0.05 for d in dropouts)
    assert use_mask_dropout(peft_model) == 0  # idempotent


def test_trainable_copy_leaves_the_base_untouched_and_uses_mask_dropout():
    base = org.build(org.organisms(32)["sequential"])
    before = {k: v.clone() for k, v in base.state_dict().items()}
    model = lora.trainable_copy(base, "recurrent_only", 2)
    assert any(isinstance(m, MaskDropout) for m in model.modules())
    assert not any(isinstance(m, nn.Dropout) for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())
    with pytest.raises(ValueError, match="Available: attention_only"):
        lora.trainable_copy(base, "nonsense", 2)
