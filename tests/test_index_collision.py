"""Published eval_indices are looked up by (benchmark, subset size): two different files with
the same key must be an error, never a silent overwrite (issue 13, point 5)."""
import json

import pytest

from loraplace.tracks.published.loader import PublishedDataError, load_indices


def _write(folder, name, values):
    (folder / name).write_text(json.dumps(values))


def test_two_splits_with_the_same_size_are_ambiguous(tmp_path):
    folder = tmp_path / "results" / "eval_indices"
    folder.mkdir(parents=True)
    _write(folder, "indices__gsm8k__test__3.json", [1, 2, 3])
    _write(folder, "indices__gsm8k__train__3.json", [7, 8, 9])
    with pytest.raises(PublishedDataError, match="ambiguous") as err:
        load_indices(tmp_path)
    assert "indices__gsm8k__test__3.json" in str(err.value)


def test_distinct_keys_load(tmp_path):
    folder = tmp_path / "results" / "eval_indices"
    folder.mkdir(parents=True)
    _write(folder, "indices__gsm8k__test__3.json", [1, 2, 3])
    _write(folder, "indices__gsm8k__test__2.json", [5, 6])
    assert load_indices(tmp_path) == {("gsm8k", 3): [1, 2, 3], ("gsm8k", 2): [5, 6]}
