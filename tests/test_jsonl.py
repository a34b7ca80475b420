"""The one JSONL reader: line numbers count blank lines, errors are typed and name file and line."""
from __future__ import annotations

import pytest

from loraplace import jsonl
from loraplace.evidence.records import Record, read_jsonl, write_jsonl


def test_rows_skip_blank_lines_but_count_them(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"x": 1}\n\n  \n[2]\n', encoding="utf-8")
    assert list(jsonl.rows(path)) == [(1, {"x": 1}), (4, [2])]


def test_a_malformed_line_is_a_typed_error_naming_file_and_line(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text('{"x": 1}\n{"x": \n', encoding="utf-8")
    with pytest.raises(jsonl.JsonlError) as info:
        list(jsonl.rows(path))
    assert (info.value.path, info.value.line) == (str(path), 2)
    assert str(info.value).startswith(f"{path}:2: malformed JSON")


def test_a_track_error_is_also_a_jsonl_error(tmp_path):
    from loraplace.tracks.paper.data import PaperDataError, _read_local

    path = tmp_path / "gsm8k.jsonl"
    path.write_text("not json\n", encoding="utf-8")
    with pytest.raises(PaperDataError) as info:
        _read_local("gsm8k", path)
    assert isinstance(info.value, jsonl.JsonlError) and info.value.line == 1


def test_records_round_trip_and_a_foreign_row_names_its_line(tmp_path):
    rec = Record("m", "sequential", "base", "base", 0, "gsm8k", "gsm8k:1", 1.0, "corrected", {})
    path = tmp_path / "r.jsonl"
    write_jsonl([rec, rec], path)
    assert list(read_jsonl(path)) == [rec, rec]
    path.write_text(path.read_text() + '{"model": "m"}\n', encoding="utf-8")
    with pytest.raises(jsonl.JsonlError, match=r":3: not a loraplace record"):
        list(read_jsonl(path))
