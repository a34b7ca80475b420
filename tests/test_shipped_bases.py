"""The tiny organisms' shipped pretrained bases (loraplace.tracks.tiny.shipped): they are what the
current recipe's cache keys name, they are installed byte for byte on a cache miss, they are the
product of pretraining on the synthetic mixture, and a damaged or foreign file is never used."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from loraplace.evidence.records import sha256_file
from loraplace.models import organisms as org
from loraplace.tracks.tiny import shipped
from loraplace.tracks.tiny import track as tiny
from loraplace.train import lora
from loraplace.train.cache import Cache, library_versions
from loraplace.train.tokenizer import build_tokenizer

P = tiny.profile("default")
SPECS = tiny.specs(P)
MANIFEST = shipped.manifest()


def test_every_organism_is_shipped_under_its_current_cache_key(tmp_path):
    libraries = {v["libraries"] == library_versions() for v in MANIFEST.values()}
    if libraries != {True}:
        pytest.skip(f"the bases were shipped for {next(iter(MANIFEST.values()))['libraries']}, this environment "
                    f"has {library_versions()}: their cache keys differ, so the bases are pretrained here")
    cache = Cache(tmp_path)
    keys = {cache.key("tiny-base", tiny.base_spec(s, P)): k for k, s in SPECS.items()}
    assert {k: v["organism"] for k, v in MANIFEST.items()} == keys, (
        "the tiny-base recipe changed without re-shipping: run `python scripts/ship_bases.py`")


def test_shipped_files_match_their_manifest():
    for key, entry in MANIFEST.items():
        assert set(entry["files"]) == set(shipped.FILES)
        for name, sha in entry["files"].items():
            assert sha256_file(shipped.root() / entry["organism"] / name) == sha
        assert shipped.lookup(key) == shipped.root() / entry["organism"]


@pytest.mark.parametrize("organism", list(SPECS))
def test_a_cold_cache_installs_the_shipped_base_which_is_a_pretrained_model(tmp_path, organism):
    spec = SPECS[organism]
    cache = Cache(tmp_path)
    key = cache.key("tiny-base", tiny.base_spec(spec, P))
    if key not in MANIFEST:
        pytest.skip("not shipped for this environment's library versions (see the first test)")
    d = tiny.cached_base(cache, spec, P, allow_create=True)
    for name, sha in MANIFEST[key]["files"].items():
        assert sha256_file(d / name) == sha
    assert cache.has("tiny-base", tiny.base_spec(spec, P))  # a verified entry, like a pretrained one
    model, tok = lora.load_base(d)
    # Independent of how the file was made: its loss curve starts where this code's freshly
    # initialised organism starts on the first pretraining batch, and the weights are a model
    # trained on the pretraining mixture -- their loss on that batch is near the curve's end and
    # far below the start.
    losses = json.loads((d / "losses.json").read_text())
    first = lora.make_batches("pretrain", 0, 1, P.pretrain_batch, P.pretrain_seq_len, build_tokenizer())[0]
    with torch.no_grad():
        now = float(model(input_ids=first, labels=first).loss)
        fresh = float(org.build(spec, 0).eval()(input_ids=first, labels=first).loss)
    assert abs(fresh - losses[0]) < 1e-3
    end = sum(losses[-50:]) / 50
    assert abs(now - end) < 0.1 * (losses[0] - end)
    assert now < fresh - 1.0
    assert type(model).__name__ == spec.model_class


def test_a_damaged_shipped_file_is_refused_with_a_warning_and_the_base_pretrained(tmp_path):
    copy = tmp_path / "organisms"
    shutil.copytree(shipped.root(), copy)
    key, entry = next(iter(MANIFEST.items()))
    weights = copy / entry["organism"] / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    with pytest.warns(UserWarning, match="not matching its sha256"):
        assert shipped.lookup(key, copy) is None
    assert shipped.install(key, tmp_path, copy) is False
    assert shipped.lookup("0" * 64, copy) is None  # a key nothing was shipped for


def test_ship_writes_files_and_manifest_and_keeps_other_organisms(tmp_path):
    dest = tmp_path / "organisms"
    src = tmp_path / "entry"
    src.mkdir()
    for name in shipped.FILES:
        (src / name).write_bytes(name.encode())
    shipped.ship([("a" * 64, "one", src)], dest)
    out = shipped.ship([("b" * 64, "two", src)], dest)
    assert {v["organism"] for v in out.values()} == {"one", "two"}
    assert out["b" * 64]["files"]["losses.json"] == sha256_file(src / "losses.json")
    assert shipped.manifest(dest) == out
    assert shipped.install("a" * 64, tmp_path, dest) and (tmp_path / "model.safetensors").read_bytes() == b"model.safetensors"
