"""Your own hybrid, first try (issue 27's trial): a tiny Jamba as the sequential model and a tiny
Falcon-H1 as the parallel one, offline. The report's C5 parts and Components section name the
given models, their condition sets and their own full ÷ attention-only ratios."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

pytest_plugins = ["pytester"]
REPO = Path(__file__).resolve().parents[1]
RANK = 16


def tiny_jamba(directory: Path) -> Path:
    from transformers import JambaForCausalLM

    from loraplace.tracks.paper.toy import toy_tokenizer

    config = CONFIG_MAPPING["jamba"](num_hidden_layers=4, attn_layer_period=4, attn_layer_offset=2, hidden_size=64,
                                     intermediate_size=128, num_attention_heads=4, num_key_value_heads=2,
                                     num_experts=1, mamba_d_state=8, mamba_expand=2, vocab_size=100,
                                     pad_token_id=0, bos_token_id=1, eos_token_id=2)
    torch.manual_seed(0)
    JambaForCausalLM(config).save_pretrained(directory)
    toy_tokenizer(False).save_pretrained(directory)
    return directory


def lora_params(config_path: Path, names: tuple[str, ...]) -> int:
    """r x (in + out) summed over the Linears whose dotted name has one of `names` as a component,
    less Jamba's `mamba.dt_proj` (its mixer multiplies `self.dt_proj.weight` directly, so an adapter
    there would be ignored): counted from the meta model's modules, not through the placement rules."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(config_path.parent)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(RANK * (m.in_features + m.out_features) for n, m in model.named_modules()
               if isinstance(m, torch.nn.Linear) and any(f".{x}." in f".{n}." for x in names)
               and not n.endswith("mamba.dt_proj"))


def test_the_report_speaks_about_the_given_models(pytester, tmp_path, monkeypatch):
    from loraplace.tracks.paper import toy

    jamba = tiny_jamba(tmp_path / "my_jamba")
    falcon = toy.write_checkpoint("parallel", tmp_path / "my_falcon")
    data = toy.write_data(tmp_path / "data")
    shutil.copy(REPO / "hypotheses" / "test_c5_parameter_efficiency.py", pytester.path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO / "lib"), str(REPO)]))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    report = tmp_path / "report"
    result = pytester.runpytest_subprocess(
        "-p", "loraplace.pytest_plugin.plugin", "-p", "loraplace.pytest_plugin.fixtures", "-p", "no:cacheprovider",
        "--evidence", "paper", f"--paper-model=sequential={jamba}", f"--paper-model=parallel={falcon}",
        f"--paper-data={data}", "--profile", "smoke", "--verdicts", "record", f"--report-dir={report}",
        f"--cache-dir={tmp_path / 'cache'}")
    assert result.ret == 0, result.stdout.str()[-3000:]
    claims = json.loads((report / "claims.json").read_text())
    own = {v["part_id"]: v for v in claims["verdicts"] if "@" in v["part_id"]}
    # the Jamba: harmonized only (the study ran no Jamba), its own ratio, named
    assert own["C5-seq-study@my_jamba"]["verdict"] == "unavailable"
    jv = own["C5-seq-harmonized@my_jamba"]
    ratio = lora_params(jamba / "config.json", ("self_attn", "mamba", "feed_forward")) \
        / lora_params(jamba / "config.json", ("self_attn",))
    assert jv["model"] == "my_jamba" and f"= {ratio:.2f}×" in jv["note"] and jv["verdict_line"].count("my_jamba")
    assert jv["verdict"] == ("supported" if 5.0 <= round(ratio, 1) <= 10.0 else "refuted")
    # the Falcon-H1 class: the study's own condition set applies too
    assert {own["C5-par-study@my_falcon"]["verdict"], own["C5-par-harmonized@my_falcon"]["verdict"]} <= {
        "supported", "refuted"}
    comps = {c["model"]: c for c in claims["components"]}
    assert comps["my_jamba"]["model_class"] == "JambaForCausalLM"
    assert {c["kind"] for c in comps["my_jamba"]["conditions"]} == {"harmonized"}
    assert {c["kind"] for c in comps["my_falcon"]["conditions"]} == {"study", "harmonized"}
    page = (report / "claims.html").read_text()
    assert "my_jamba" in page and "JambaForCausalLM" in page
