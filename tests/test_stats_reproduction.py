"""paired_bootstrap against the study's own released bootstrap tables.

Every expected value is read from the released CSVs; every input from the released
per-item JSONL files (paired by ``example_id``, sorted). Data location:
``$LORAPLACE_PUBLISHED_DIR``, default ``<repo>/../shared/published/hecboar-lora-placement-hybrid``.

Two tables, two schemes, one resampler (``default_rng(3407).integers(0, n, (B, n))``):
- ``stats/key_paired_bootstrap_comparisons.csv``: 10,000 resamples, float64.
- ``tables/paired_bootstrap_comparisons.csv``: the notebook's ``paired_bootstrap`` called
  with ``n_boot=1000`` on float32 scores (hence float32 rounding where n is not a power of 2).
"""
from __future__ import annotations

import csv
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from loraplace.judging.stats import paired_bootstrap
from loraplace.tracks.published.fetch import resolve_published_dir

REPO = Path(__file__).resolve().parents[1]
PUBLISHED = resolve_published_dir()
KEY_CSV = PUBLISHED / "stats" / "key_paired_bootstrap_comparisons.csv"
TABLES_CSV = PUBLISHED / "tables" / "paired_bootstrap_comparisons.csv"
SEED = 3407

# The one key row whose released upper bound we do not reproduce: we get 33/256, the CSV
# says 32/256 (one grid step, 0.39 pp). The same scheme reproduces the other 8 key rows and
# all 8 rows of the notebook table (which covers this very comparison, at 1,000 resamples).
# Other streams (other seeds, a shared generator) give 32/256 for this row but then miss
# other rows; the exact procedure behind this single value is unknown.
KNOWN_DEVIATION = {"Falcon UltraChat GSM8K: attention_only vs all_eligible"}


def _rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _details_file(model: str, condition: str, train_dataset: str, benchmark: str) -> Path:
    name = (f"{model}__base__{benchmark}.jsonl" if condition == "__base__" else
            f"train__{model}__{condition}__{train_dataset}__seed{SEED}__inline_eval__{benchmark}.jsonl")
    return PUBLISHED / "results" / "eval_details" / name


@lru_cache(maxsize=None)
def _scores(model, condition, train_dataset, benchmark) -> dict:
    path = _details_file(model, condition, train_dataset, benchmark)
    if not path.is_file():
        pytest.skip(f"per-item file missing: {path}")
    with open(path, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    return {r["example_id"]: int(r["correct"]) for r in records}


def _paired(row: dict) -> tuple[np.ndarray, np.ndarray]:
    key = (row["model_key"], row["train_dataset"], row["benchmark"])
    a = _scores(key[0], row["condition_a"], key[1], key[2])
    b = _scores(key[0], row["condition_b"], key[1], key[2])
    shared = sorted(set(a) & set(b))
    return np.array([a[i] for i in shared], float), np.array([b[i] for i in shared], float)


def _params(rows, id_key, xfail_ids=frozenset()):
    if not rows:
        return [pytest.param(None, marks=pytest.mark.skip(
            reason=f"published data not found under {PUBLISHED} (set LORAPLACE_PUBLISHED_DIR)"))]
    known = pytest.mark.xfail(strict=True, reason="known one-grid-step deviation, see KNOWN_DEVIATION")
    return [pytest.param(r, id=id_key(r), marks=[known] if id_key(r) in xfail_ids else [])
            for r in rows]


def _label(row):
    return row["label"]


KEY_ROWS = _rows(KEY_CSV)
TABLE_ROWS = [r for r in _rows(TABLES_CSV) if int(r["n_shared"]) > 0]


@lru_cache(maxsize=None)
def _key_estimate(label: str):
    row = next(r for r in KEY_ROWS if r["label"] == label)
    a, b = _paired(row)
    return a, b, paired_bootstrap(a, b, resamples=10_000, rng=np.random.default_rng(SEED))


@pytest.mark.parametrize("row", _params(KEY_ROWS, _label))
def test_key_point_estimates_exact(row):
    a, b, est = _key_estimate(row["label"])
    assert est.n == int(row["n_shared"])
    assert est.effect == float(row["mean_diff"])
    assert a.mean() == float(row["acc_a"]) and b.mean() == float(row["acc_b"])


@pytest.mark.parametrize("row", _params(KEY_ROWS, _label))
def test_key_ci_within_half_pp(row):
    _, _, est = _key_estimate(row["label"])
    assert abs(est.ci_low - float(row["ci_low"])) <= 0.005
    assert abs(est.ci_high - float(row["ci_high"])) <= 0.005


@pytest.mark.parametrize("row", _params(KEY_ROWS, _label, xfail_ids=KNOWN_DEVIATION))
def test_key_ci_bit_exact(row):
    _, _, est = _key_estimate(row["label"])
    assert (est.ci_low, est.ci_high) == (float(row["ci_low"]), float(row["ci_high"]))


@pytest.mark.parametrize("row", _params(
    TABLE_ROWS, lambda r: f"{r['train_dataset']}-{r['benchmark']}-{r['condition_a']}-vs-{r['condition_b']}"))
def test_notebook_table_reproduced(row):
    a, b = _paired(row)
    n = a.size
    est = paired_bootstrap(a, b, resamples=1000, rng=np.random.default_rng(SEED))
    tol = 0.0 if n & (n - 1) == 0 else 1e-6   # float32 arithmetic in the notebook
    assert est.n == int(row["n_shared"])
    for got, key in [(est.effect, "mean_diff"), (est.ci_low, "ci_low"), (est.ci_high, "ci_high")]:
        assert abs(got - float(row[key])) <= tol, (key, got, row[key])
