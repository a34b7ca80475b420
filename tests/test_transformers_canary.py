"""Canaries on the transformers internals the suite reads (pinned range in pyproject.toml): if
a release moves one, this file fails first and names it, instead of a silent misclassification.

  models/dispatch.py   each kernel site is a module attribute wrapped by transformers' fallback
                       decorator, whose closure holds `implementation` and a `torch_function`
  models/taxonomy.py   Falcon-H1's Mamba-2 mixer hands `out_proj.weight` to its fused kernel in
                       its own source (found with inspect.getsource); Qwen3.5's Gated DeltaNet only its conv1d
"""
from __future__ import annotations

import importlib

import pytest

from loraplace.models import dispatch
from loraplace.models.taxonomy import bypassed_children


@pytest.mark.parametrize("site", dispatch.SITES, ids=lambda s: f"{s.architecture}.{s.attribute}")
def test_each_kernel_site_is_a_fallback_wrapper_with_a_torch_function(site):
    module = importlib.import_module(site.module)
    func = getattr(module, site.attribute, None)
    assert func is not None, f"{site.module} no longer has {site.attribute}"
    cells = dispatch._closure(func)
    assert "implementation" in cells, f"{site.attribute}: transformers' fallback wrapper changed shape"
    torch_fn = cells.get("torch_function")
    assert callable(torch_fn) and torch_fn.__module__ == site.module, \
        f"{site.attribute}: the torch reference is no longer in the wrapper's closure"


def test_source_introspection_finds_the_fused_kernel_bypass():
    falcon = importlib.import_module(dispatch.FALCON)
    qwen = importlib.import_module(dispatch.QWEN)
    assert "out_proj" in bypassed_children(falcon.FalconH1Mixer)
    assert bypassed_children(qwen.Qwen3_5GatedDeltaNet) == {"conv1d"}  # a convolution, never a LoRA target
