"""`loraplace inventory`: JSON output agrees with the placement module; any config JSON works."""
from __future__ import annotations

import json

import pytest
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from loraplace import cli
from loraplace.models.placement import build_conditions, model_taxonomy


def run_json(capsys, *args: str) -> dict:
    assert cli.main(["inventory", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("model,condition_set", [
    ("qwen3_5_0_8b_base", "study"), ("falcon_h1_0_5b_base", "study"),
    ("falcon_h1_0_5b_base", "harmonized")])
def test_json_counts_equal_placement(capsys, model, condition_set):
    inv = run_json(capsys, "--config", model, "--conditions", condition_set, "--rank", "16")
    expected = build_conditions(model_taxonomy(model), condition_set, 16)
    assert inv["topology"] == {"qwen3_5_0_8b_base": "sequential", "falcon_h1_0_5b_base": "parallel"}[model]
    assert list(inv["conditions"]) == list(expected)
    for name, cond in expected.items():
        assert inv["conditions"][name] == {"role": cond.role, "modules": list(cond.modules),
                                           "trainable": cond.trainable}
    assert inv["total_params"] == sum(row["params"] for row in inv["components"].values())


def test_rank_scales_counts(capsys):
    r8 = run_json(capsys, "--config", "qwen3_5_0_8b_base", "--rank", "8")["conditions"]
    r16 = run_json(capsys, "--config", "qwen3_5_0_8b_base", "--rank", "16")["conditions"]
    assert all(2 * r8[k]["trainable"] == r16[k]["trainable"] for k in r16)


def test_arbitrary_config_path(capsys, tmp_path):
    path = tmp_path / "bamba.json"
    CONFIG_MAPPING["bamba"](num_hidden_layers=4, attn_layer_indices=[2], hidden_size=256,
                            intermediate_size=512, vocab_size=1000).to_json_file(path)
    inv = run_json(capsys, "--config", str(path))
    assert inv["model_class"] == "BambaForCausalLM" and inv["topology"] == "sequential"
    assert inv["mixer_kinds"] == ["mamba2"]
    assert all(e["module"].endswith("mamba.out_proj") for e in inv["excluded"]) and len(inv["excluded"]) == 3
    c = inv["conditions"]
    assert sum(c[k]["trainable"] for k in ("attention_only", "recurrent_only", "mlp_only")) == c["full"]["trainable"]


def test_study_config_file_path_equals_key(capsys, tmp_path):
    from loraplace.models.zoo import config_dict

    path = tmp_path / "falcon.json"
    path.write_text(json.dumps(config_dict("falcon_h1_0_5b_base")))
    by_path = run_json(capsys, "--config", str(path), "--conditions", "study")
    by_key = run_json(capsys, "--config", "falcon_h1_0_5b_base", "--conditions", "study")
    assert by_path["conditions"] == by_key["conditions"]


def test_text_output(capsys):
    assert cli.main(["inventory", "--config", "falcon_h1_0_5b_base"]) == 0
    out = capsys.readouterr().out
    assert "topology parallel" in out and "recurrent_only" in out and "fused kernel" in out


def test_errors(capsys, tmp_path):
    assert cli.main(["inventory", "--config", "nope"]) == 2
    assert "Unknown model 'nope'. Available: falcon_h1_0_5b_base, qwen3_5_0_8b_base" in capsys.readouterr().err
    path = tmp_path / "llama.json"
    CONFIG_MAPPING["llama"](num_hidden_layers=1).to_json_file(path)
    assert cli.main(["inventory", "--config", str(path), "--conditions", "study"]) == 2
    assert "No study conditions for model type 'llama'" in capsys.readouterr().err


def test_multimodal_wrapper_config_uses_its_text_model(capsys, tmp_path):
    path = tmp_path / "qwen3_5.json"  # the hub's Qwen3.5 config.json wraps the LM in `text_config`
    CONFIG_MAPPING["qwen3_5"]().to_json_file(path)
    inv = run_json(capsys, "--config", str(path))
    assert inv["model_class"] == "Qwen3_5ForCausalLM" and inv["topology"] == "sequential"


@pytest.mark.parametrize("model_type,kwargs,missing", [
    ("llama", dict(num_hidden_layers=2, hidden_size=128, intermediate_size=256, num_attention_heads=4,
                   vocab_size=500), {"recurrent_only": ["recurrent"]}),
    ("mamba2", dict(num_hidden_layers=2, hidden_size=128, num_heads=4, head_dim=64, n_groups=1, vocab_size=500),
     {"attention_only": ["attention"], "mlp_only": ["mlp"], "attention_plus_mlp": ["attention", "mlp"]}),
])
def test_non_hybrids_list_conditions_that_do_not_apply(capsys, tmp_path, model_type, kwargs, missing):
    path = tmp_path / f"{model_type}.json"
    CONFIG_MAPPING[model_type](**kwargs).to_json_file(path)
    inv = run_json(capsys, "--config", str(path))
    assert inv["topology"] == {"llama": "pure-attention", "mamba2": "pure-recurrent"}[model_type]
    assert {k: v["missing"] for k, v in inv["not_applicable"].items()} == missing
    assert set(inv["conditions"]) | set(inv["not_applicable"]) == {
        "attention_only", "recurrent_only", "mlp_only", "attention_plus_mlp", "recurrent_plus_mlp", "full"}
    # a pair that lacks one component equals its other half; full is the union of what exists
    tx = model_taxonomy(str(path))
    eligible = sorted(m.name for m in tx.linears() if m.component != "embedding/head")
    assert sorted(inv["conditions"]["full"]["modules"]) == eligible
    assert cli.main(["inventory", "--config", str(path)]) == 0
    assert "do not apply" in capsys.readouterr().out


def test_a_model_directory_and_the_default_condition_set_follow_the_run(capsys, tmp_path):
    """A model directory is read through its config.json; without --conditions a study architecture
    gets the study's set and any other hybrid the harmonized one (the paper track's rule)."""
    from loraplace.models.zoo import config_dict

    falcon = tmp_path / "falcon"
    falcon.mkdir()
    (falcon / "config.json").write_text(json.dumps(config_dict("falcon_h1_0_5b_base")))
    inv = run_json(capsys, "--config", str(falcon))
    assert inv["condition_set"] == "study"
    assert inv["conditions"] == run_json(capsys, "--config", "falcon_h1_0_5b_base", "--conditions",
                                         "study")["conditions"]
    bamba = tmp_path / "bamba"
    bamba.mkdir()
    CONFIG_MAPPING["bamba"](num_hidden_layers=4, attn_layer_indices=[2], hidden_size=256,
                            intermediate_size=512, vocab_size=1000).to_json_file(bamba / "config.json")
    assert run_json(capsys, "--config", str(bamba))["condition_set"] == "harmonized"


def test_a_directory_without_config_or_an_unreachable_hub_id_is_one_clear_line(capsys, tmp_path, monkeypatch):
    assert cli.main(["inventory", "--config", str(tmp_path)]) == 2
    assert "without a config.json" in capsys.readouterr().err
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert cli.main(["inventory", "--config", "nobody/no-such-model"]) == 2
    err = capsys.readouterr().err
    assert "nobody/no-such-model" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
