"""The study's own numbers come back from its raw data (scorer `as-published`).

Expected values are read from the study's released tables, never pasted."""
import csv

import pytest

from loraplace.judging.deltas import delta_table
from loraplace.judging.pairing import compare


def _rows(published_dir, relpath):
    with (published_dir / relpath).open() as fh:
        return list(csv.DictReader(fh))


def test_key_paired_bootstrap_comparisons_are_reproduced(published_dir, published):
    rows = _rows(published_dir, "stats/key_paired_bootstrap_comparisons.csv")
    assert len(rows) == 9
    off_grid = []
    for row in rows:
        b = "base" if row["condition_b"] == "__base__" else row["condition_b"]
        est = compare(published, model=row["model_key"], scorer="as-published", a=row["condition_a"], b=b,
                      domain=row["train_dataset"], benchmarks=(row["benchmark"],), resamples=10_000, seed=3407)
        assert est.n == int(row["n_shared"]), row["label"]
        assert est.effect == pytest.approx(float(row["mean_diff"]), abs=1e-12), row["label"]
        for got, want in ((est.ci_low, row["ci_low"]), (est.ci_high, row["ci_high"])):
            assert abs(got - float(want)) <= 0.005, row["label"]  # within 0.5 pp
            if got != pytest.approx(float(want), abs=1e-12):
                off_grid.append(row["label"])
    # bit-exact but for one bound of one row, one resampling grid step (1/256) off (see test_stats_reproduction)
    assert len(off_grid) <= 1, off_grid


def test_forgetting_summary_is_reproduced(published_dir, published):
    rows = _rows(published_dir, "tables/forgetting_summary.csv")
    ours = {(r["model"], r["condition"], r["domain"]): r for r in delta_table(published, "as-published")}
    assert len(rows) == len(ours) == 36
    for row in rows:
        got = ours[(row["model_key"], row["condition"], row["train_dataset"])]
        for column in ("target_mean_delta_vs_base", "non_target_mean_delta_vs_base"):
            if row[column] == "":
                assert got[column] is None, (row["condition"], row["train_dataset"], column)
            else:
                assert got[column] == pytest.approx(float(row[column]), abs=1e-12), (row["condition"], column)


def test_corrected_scorer_changes_the_headline_gsm8k_deltas(published):
    # Not a pasted verdict: the two scorers must disagree somewhere on GSM8K, and agree on multiple choice.
    pub = {(r["model"], r["condition"], r["domain"]): r for r in delta_table(published, "as-published")}
    cor = {(r["model"], r["condition"], r["domain"]): r for r in delta_table(published, "corrected")}
    gsm = [k for k in pub if k[2] == "gsm8k_train"]
    assert any(pub[k]["target_mean_delta_vs_base"] != cor[k]["target_mean_delta_vs_base"] for k in gsm)
    assert all(pub[k]["non_target_mean_delta_vs_base"] == cor[k]["non_target_mean_delta_vs_base"] for k in gsm)
