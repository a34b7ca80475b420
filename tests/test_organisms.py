"""The four organisms of the mixer × topology factorial: each is what it says (the taxonomy decides,
not the spec), they are matched in size, the composed parallel Gated DeltaNet model behaves like a
transformers model, and the study organisms' cache identities did not move."""
import json
from pathlib import Path

import pytest
import torch

from loraplace.models import organisms as org
from loraplace.models.taxonomy import classify_model
from loraplace.study import MIXER_OF_KIND
from loraplace.tracks.tiny import evaluate as tiny_eval
from loraplace.tracks.tiny import track as tiny

GOLDEN = Path(__file__).parent / "golden" / "tiny_cache_specs.json"


@pytest.mark.parametrize("width", [64, 96])
def test_added_cells_within_5_percent_of_the_study_pair(width):
    counts = org.param_counts(width)
    study = [counts[s.key] for s in org.organisms(width).values()]
    assert len(counts) == 4 and max(study) / min(study) <= 1.10  # the pair itself: within 10 % (test_tiny)
    for key in set(counts) - {s.key for s in org.organisms(width).values()}:
        assert abs(counts[key] / (sum(study) / 2) - 1) <= 0.05, (key, counts)


@pytest.mark.parametrize("key", list(org.factorial(32)))
def test_taxonomy_agrees_with_the_declared_cell(key):
    spec = org.organism(key, 32)
    model = org.build(spec)
    tx = classify_model(model)
    assert type(model).__name__ == spec.model_class
    assert tx.topology == spec.topology
    assert [MIXER_OF_KIND[k] for k in tx.mixer_kinds] == [spec.mixer]
    recurrent = [k for k in tx.layer_kinds if "recurrent" in k]
    if spec.topology == "sequential":  # three recurrent layers, then one attention layer
        assert tx.layer_kinds[-1] == "attention" and len(recurrent) == 3
    else:  # both mixers side by side in every layer
        assert all(k.startswith("attention+recurrent") for k in tx.layer_kinds)


def test_unknown_organism_lists_the_keys():
    with pytest.raises(KeyError, match="tiny_bamba"):
        org.organism("tiny_jamba")


@pytest.fixture(scope="module")
def parallel_gdn():
    return org.build(org.organism("tiny_falcon_h1_gdn", 32)).eval()


def test_parallel_gdn_cached_generation_equals_recomputation(parallel_gdn):
    ids = torch.randint(3, 90, (3, 40), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        cached = parallel_gdn.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=6,
                                       do_sample=False, pad_token_id=0)
        cur = ids
        for _ in range(6):  # greedy, the whole sequence re-run every step (no cache)
            cur = torch.cat([cur, parallel_gdn(input_ids=cur, use_cache=False).logits[:, -1].argmax(-1, keepdim=True)], 1)
    assert torch.equal(cached, cur)


def test_parallel_gdn_saves_and_loads_through_auto_classes(parallel_gdn, tmp_path):
    from transformers import AutoModelForCausalLM

    parallel_gdn.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "falcon_h1_gdn"
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    ids = torch.randint(3, 90, (2, 30), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(loaded(input_ids=ids).logits, parallel_gdn(input_ids=ids).logits)


def test_parallel_gdn_model_sets_what_falcon_h1_model_sets():
    """Canary: FalconH1GDNModel re-implements FalconH1Model.__init__ (its layers differ); an
    attribute a new transformers release adds there must be added here too."""
    from transformers import AutoModelForCausalLM

    falcon = AutoModelForCausalLM.from_config(org.config(org.organism("tiny_falcon_h1", 32))).model
    ours = org.build(org.organism("tiny_falcon_h1_gdn", 32)).model
    assert set(vars(falcon)) - {"_modules"} <= set(vars(ours))
    assert set(falcon._modules) == set(ours._modules)
    assert set(falcon.layers[0]._modules) == set(ours.layers[0]._modules)


def test_study_organisms_keep_their_cache_specs():
    """The specs the study organisms' cache entries were created with before the factorial existed
    (written by that code: tests/golden/tiny_cache_specs.json) are still the ones computed now."""
    golden = json.loads(GOLDEN.read_text())
    for pname in ("smoke", "default", "full"):
        p = tiny.profile(pname)
        for topo, spec in org.organisms(p.hidden_size).items():
            k = f"{pname}/{spec.key}"
            assert tiny.base_spec(spec, p) == golden[f"{k}/tiny-base"]
            assert tiny.adapter_spec(p, spec.key, "BASESHA", "full", "codealpaca", 1) == golden[f"{k}/tiny-adapter"]
            run = tiny_eval.Run(spec.key, topo, "full", "codealpaca", 1)
            assert tiny.records_spec(p, run, "BASESHA", "ADAPTERSHA") == golden[f"{k}/tiny-records"]
            base_run = tiny_eval.Run(spec.key, topo, "base", "base", 0)
            assert tiny.records_spec(p, base_run, "BASESHA", None) == golden[f"{k}/tiny-records-base"]
