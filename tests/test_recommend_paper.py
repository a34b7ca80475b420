"""`recommend` on a real (toy) checkpoint with a study domain: the paper track's own runs and
cache entries (toy checkpoints and data saved locally, as tests/test_paper.py builds them; CPU)."""
from __future__ import annotations

import pytest

from loraplace import cli
from loraplace.recommend.paper_backend import PaperBackend
from loraplace.recommend.run import plan, recommend
from loraplace.tracks.paper import toy
from loraplace.tracks.paper.track import PaperSession
from loraplace.train.cache import Cache


@pytest.fixture(scope="module")
def toys(tmp_path_factory):
    root = tmp_path_factory.mktemp("recpaper")
    return root, toy.write_all(root / "inputs")


def test_the_one_model_session_names_the_paper_tracks_own_entries(toys):
    root, opts = toys
    seq = opts["paper_models"][0].split("=", 1)[1]
    backend = PaperBackend(seq, "gsm8k_train", data_dir=opts["paper_data"], profile="smoke", cache_dir=root / "c")
    real = PaperSession("smoke", models=opts["paper_models"], data_dir=opts["paper_data"], cache=Cache(root / "c"),
                        progress=False, device="cpu", conditions="harmonized")
    mine = backend.session
    run = backend._run("attention_only", backend.seeds[0])
    theirs = next(r for r in real.runs if r.topology == run.topology and r.condition == run.condition
                  and r.domain == run.domain and r.seed == run.seed)
    texts = "x"
    assert mine.adapter_spec(run, texts) == real.adapter_spec(theirs, texts)
    assert mine.records_spec(run, "sha") == real.records_spec(theirs, "sha")
    assert mine.texts_of(run) == real.texts_of(theirs)


def test_recommend_trains_through_the_paper_track_and_pytest_finds_its_entries(toys):
    root, opts = toys
    seq = opts["paper_models"][0].split("=", 1)[1]
    backend = PaperBackend(seq, "gsm8k_train", data_dir=opts["paper_data"], profile="smoke", cache_dir=root / "c")
    names = [c["name"] for c in plan(backend, 1)["candidates"]]
    assert names[:3] == ["attention_only", "recurrent_only", "mlp_only"] and not any(n.startswith("budget_") for n in names)
    out = recommend(backend, seeds=1, max_runs=2, resamples=100, show_progress=False)
    assert out["runs"] == 2 and out["model"]["backend"] == "paper"
    real = PaperSession("smoke", models=opts["paper_models"], data_dir=opts["paper_data"], cache=Cache(root / "c"),
                        progress=False, device="cpu", conditions="harmonized")
    built = [r for r in real.runs if r.topology == backend.info.ref.topology and r.domain in ("gsm8k_train", "base")
             and r.condition in ("base", *names[:2])]
    assert len(built) == 3 and all(real.present(r) for r in built)  # the base and the two runs raced


def test_cli_a_non_hybrid_with_a_study_domain_points_to_jsonl(tmp_path, capsys):
    from transformers import LlamaConfig

    tmp_path.joinpath("llama").mkdir()
    LlamaConfig(num_hidden_layers=1, hidden_size=16, intermediate_size=32, num_attention_heads=2,
                vocab_size=40).save_pretrained(tmp_path / "llama")
    assert cli.main(["recommend", "--model", str(tmp_path / "llama"), "--train", "gsm8k_train", "--plan"]) == 2
    err = capsys.readouterr().err
    assert "LlamaForCausalLM is not a hybrid" in err and "--train FILE.jsonl" in err
