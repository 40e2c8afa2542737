"""Streaming input: JSON arrays decoded element by element, JSONL, CSV, Parquet, and broken files."""

import json

import pytest

import prefkit.io.sources as sources
from prefkit.errors import InputError
from prefkit.io.sources import iter_rows


@pytest.fixture
def tiny_chunks(monkeypatch):
    monkeypatch.setattr(sources, "CHUNK", 7)  # every element straddles several buffer refills


def test_json_array_streams_with_any_chunk_size(tmp_path, tiny_chunks):
    records = [{"i": i, "text": "é\u4e2d😀\\\"" * (i % 5), "n": [1.5, -1234567890123, True, None]} for i in range(60)]
    path = tmp_path / "a.json"
    path.write_text(json.dumps(records, indent=2, ensure_ascii=False), encoding="utf-8")
    rows = list(iter_rows(str(path)))
    assert [r.data for r in rows] == records
    lines = path.read_text(encoding="utf-8").splitlines()
    assert all(lines[r.line - 1].strip() == "{" for r in rows)  # line numbers point at each record


def test_json_array_with_bom_and_compact_layout(tmp_path):
    path = tmp_path / "b.json"
    path.write_bytes("\ufeff".encode() + b'[{"a":1},{"a":2}]')
    assert [r.data for r in iter_rows(str(path))] == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize("text, message", [
    ('[{"a": 1},\n{"a": tru}]', "line 2: invalid JSON in record 1"),
    ('[{"a": 1} {"a": 2}]', "expected ',' or ']' after record 0"),
    ('[{"a": 1},', "unexpected end of file inside the JSON array"),
    ('{"a": 1}', "expected a JSON array of records"),
])
def test_broken_json_array_is_one_clear_error(tmp_path, tiny_chunks, text, message):
    path = tmp_path / "c.json"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        list(iter_rows(str(path)))


def test_jsonl_bad_line_is_a_row_error_not_a_crash(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"a": 1}\n\nnot json\n{"a": 2}')
    rows = list(iter_rows(str(path)))
    assert [(r.index, r.line, r.error is None) for r in rows] == [(0, 1, True), (1, 3, False), (2, 4, True)]
    assert rows[1].data == "not json" and rows[1].error.startswith("invalid JSON")


def test_csv_cells_with_json_and_extra_cells(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text('prompt,responses,scores\n"hi","[""a"", ""b""]","[1, 2]"\n"x","y","z",extra\n')
    rows = list(iter_rows(str(path)))
    assert rows[0].data == {"prompt": "hi", "responses": ["a", "b"], "scores": [1, 2]} and rows[0].line == 2
    assert rows[1].error == "more cells than header columns"


def test_parquet_rows(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"prompt": ["p1", "p2"], "chosen": ["a", "b"], "rejected": ["c", "d"]})
    pq.write_table(table, tmp_path / "f.parquet")
    assert [r.data["chosen"] for r in iter_rows(str(tmp_path / "f.parquet"))] == ["a", "b"]
    (tmp_path / "bad.parquet").write_text("nope")
    with pytest.raises(InputError, match="not a readable Parquet file"):
        list(iter_rows(str(tmp_path / "bad.parquet")))


def test_unreadable_inputs(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        list(iter_rows(str(tmp_path / "missing.json")))
    with pytest.raises(InputError, match="unknown file type"):
        list(iter_rows(__file__))
    (tmp_path / "latin.jsonl").write_bytes(b'{"a": "\xe9"}\n')
    rows = list(iter_rows(str(tmp_path / "latin.jsonl")))
    assert rows[0].error is not None  # invalid UTF-8 on one line is that line's problem
