"""`loraplace compare` takes every track's options: the paper track's model, data and cache, a profile."""
from __future__ import annotations

import json

from loraplace import cli


def test_paper_track_options_reach_the_track(capsys, monkeypatch, tmp_path):
    """--paper-model is accepted and used: its missing directory is the error, in one line."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    missing = tmp_path / "no-such-model"
    rc = cli.main(["compare", "softmax_only", "base", "--evidence", "paper", "--paper-model", f"sequential={missing}",
                   "--paper-data", str(tmp_path), "--cache-dir", str(tmp_path / "cache"), "--model", "m",
                   "--domain", "gsm8k_train", "--benchmark", "gsm8k"])
    err = capsys.readouterr().err
    assert rc == 2 and str(missing) in err and "no such directory" in err and len(err.strip().splitlines()) == 1


def test_a_profile_the_track_does_not_take_lists_those_it_does(capsys):
    rc = cli.main(["compare", "a", "b", "--evidence", "tiny", "--profile", "study", "--model", "m",
                   "--domain", "d", "--benchmark", "gsm8k"])
    assert rc == 2 and "Available: smoke, default, full" in capsys.readouterr().err


def test_published_comparison_is_the_library_comparison(capsys, published):
    from loraplace.judging.pairing import compare

    args = ["softmax_only", "base", "--model", "qwen3_5_0_8b_base", "--domain", "gsm8k_train", "--benchmark", "mmlu",
            "--scorer", "corrected", "--resamples", "2000", "--json"]
    assert cli.main(["compare", *args]) == 0
    out = json.loads(capsys.readouterr().out)
    est = compare(published, model="qwen3_5_0_8b_base", scorer="corrected", a="softmax_only", b="base",
                  domain="gsm8k_train", benchmarks=("mmlu",), resamples=2000, seed=3407)
    assert (out["n"], round(out["mean_diff_pp"], 9)) == (est.n, round(100 * est.effect, 9))
