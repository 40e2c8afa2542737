"""Streaming reads of raw input files: JSON arrays, JSONL, CSV and Parquet.

Every file yields ``Row``s in order. A row that cannot be parsed is still yielded, with ``error`` set,
so the reader turns it into a reject naming its line instead of stopping. Nothing is loaded whole: a
JSON array is decoded element by element from a sliding buffer, so memory stays bounded by the largest
single element.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

from .errors import InputError

CHUNK = 1 << 20  # bytes read at a time from a JSON array
_WS = " \t\r\n"


@dataclass(slots=True)
class Row:
    source: str  # the path as the user gave it
    index: int  # 0-based position in the file
    line: int | None  # 1-based line where known (JSONL, CSV, JSON arrays)
    data: Any = None
    error: str | None = None  # why the row could not be parsed


def file_kind(path: str) -> str:
    """The container format from the extension (``.json``, ``.jsonl``/``.ndjson``, ``.csv``, ``.parquet``)."""
    lower = path.lower()
    for suffix, kind in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json"), (".csv", "csv"),
                         (".tsv", "tsv"), (".parquet", "parquet"), (".pq", "parquet")):
        if lower.endswith(suffix):
            return kind
    raise InputError(f"{path}: unknown file type; use .json, .jsonl, .csv, .tsv or .parquet")


def iter_rows(path: str) -> Iterator[Row]:
    """Yield the rows of one input file. Raises InputError for a file that cannot be read at all."""
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, expected a file")
    kind = file_kind(path)
    try:
        if kind == "jsonl":
            yield from _jsonl_rows(path)
        elif kind == "json":
            yield from _json_rows(path)
        elif kind in ("csv", "tsv"):
            yield from _csv_rows(path, "\t" if kind == "tsv" else ",")
        else:
            yield from _parquet_rows(path)
    except PermissionError as err:
        raise InputError(f"{path}: cannot read ({err.strerror})") from None
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None


def _jsonl_rows(path: str) -> Iterator[Row]:
    index = 0
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            if not raw.strip():
                continue  # blank lines hold no record
            try:
                yield Row(path, index, line_no, orjson.loads(raw))
            except orjson.JSONDecodeError as err:
                yield Row(path, index, line_no, raw.decode("utf-8", "replace").rstrip("\n"),
                          error=f"invalid JSON: {err}")
            index += 1


class _Buffer:
    """A sliding window of decoded text over a binary file, with line numbers counted incrementally."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f = f
        self.utf8 = codecs.getincrementaldecoder("utf-8-sig")()
        self.text = ""
        self.pos = 0
        self.eof = False
        self._line = 1  # line number at text[_counted]
        self._counted = 0

    def line_at(self, pos: int) -> int:
        if pos >= self._counted:
            self._line += self.text.count("\n", self._counted, pos)
            self._counted = pos
            return self._line
        return self._line - self.text.count("\n", pos, self._counted)

    def fill(self) -> None:
        """Drop the consumed text and append the next chunk."""
        self.line_at(self.pos)
        chunk = self.f.read(CHUNK)
        self.eof = not chunk
        self.text = self.text[self.pos:] + self.utf8.decode(chunk, final=self.eof)
        self._counted -= self.pos
        self.pos = 0

    def skip_ws(self) -> str:
        """Advance to the next non-blank character and return it ("" at the end of the file)."""
        while True:
            text, pos = self.text, self.pos
            while pos < len(text) and text[pos] in _WS:
                pos += 1
            self.pos = pos
            if pos < len(text):
                return text[pos]
            if self.eof:
                return ""
            self.fill()


def _json_rows(path: str) -> Iterator[Row]:
    """Decode a top-level JSON array one element at a time."""
    decoder = json.JSONDecoder()
    with open(path, "rb") as f:
        buf = _Buffer(f)
        buf.fill()
        first = buf.skip_ws()
        if not first:
            return  # empty file: no rows (the caller reports an empty input)
        if first != "[":
            raise InputError(f"{path}: expected a JSON array of records; for one record a line, name the file .jsonl")
        buf.pos += 1
        index = 0
        while True:
            char = buf.skip_ws()
            if char == "]":
                return
            if index > 0 and char:
                if char != ",":
                    raise InputError(f"{path}: line {buf.line_at(buf.pos)}: expected ',' or ']' after record {index - 1}")
                buf.pos += 1
                char = buf.skip_ws()
            if not char:
                raise InputError(f"{path}: unexpected end of file inside the JSON array (record {index})")
            start_line = buf.line_at(buf.pos)
            while True:
                try:
                    obj, end = decoder.raw_decode(buf.text, buf.pos)
                except json.JSONDecodeError as err:
                    # A token cut by the buffer's end fails near the end (or as an unterminated string).
                    incomplete = err.pos >= len(buf.text) - 64 or err.msg.startswith("Unterminated string")
                    if buf.eof or not incomplete:
                        raise InputError(f"{path}: line {buf.line_at(err.pos)}: invalid JSON in record {index} "
                                         f"({err.msg})") from None
                    buf.fill()
                    continue
                if end >= len(buf.text) and not buf.eof:  # a number cut at the buffer's end would parse short
                    buf.fill()
                    continue
                break
            yield Row(path, index, start_line, obj)
            index += 1
            buf.pos = end


def _csv_rows(path: str, delimiter: str) -> Iterator[Row]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        if reader.fieldnames is None:
            return
        index = 0
        while True:
            line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                yield Row(path, index, line, None, error=f"invalid CSV: {err}")
            else:
                if None in row:  # more cells than header columns
                    yield Row(path, index, line, row.pop(None), error="more cells than header columns")
                else:
                    yield Row(path, index, line, _parse_cells(row))
            index += 1


def _parse_cells(row: dict[str, str]) -> dict[str, Any]:
    """CSV cells holding JSON lists or objects (messages, completions) are decoded; others stay text."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        stripped = value.strip() if isinstance(value, str) else value
        if isinstance(stripped, str) and stripped[:1] in "[{":
            try:
                out[key] = orjson.loads(stripped)
                continue
            except orjson.JSONDecodeError:
                pass
        out[key] = value
    return out


def _parquet_rows(path: str) -> Iterator[Row]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError("reading Parquet needs pyarrow: pip install 'prefkit[tables]'") from None
    try:
        pf = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several types for a corrupt file
        raise InputError(f"{path}: not a readable Parquet file ({err})") from None
    index = 0
    for batch in pf.iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            yield Row(path, index, None, row)
            index += 1
