"""Streaming reads of raw input files: JSON arrays, JSONL, CSV and Parquet.

Every file yields ``Row``s in order. A row that cannot be parsed is still yielded, with ``error`` set,
so the reader turns it into a reject naming its line instead of stopping. Nothing is loaded whole: a
JSON array is decoded element by element from a sliding buffer, so memory stays bounded by the largest
single element.

With ``groups=True`` (prefkit convert's inputs) a ``.json`` file may also be a top-level object of record
lists, as some judge benchmarks ship them: ``{"length bias": [{...}, {...}], "concreteness": [{...}]}``. Every
list is read in order, element by element like an array, record indices running on across the lists, and
each record object without a ``group`` key gets the list's key as ``"group"`` (a reader sees it as a column;
the rejects file keeps it). Only an object whose values are all lists is read so: any other object is one
record, refused as before. LLaMA-Factory's loader reads such a file as one record whose columns are the
keys, so the readers of LLaMA-Factory datasets (validate, register, train) keep ``groups=False`` and refuse it
with a line that says to convert it.
"""

from __future__ import annotations

import codecs
import csv
import json
import math
import os
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

from ..errors import InputError

CHUNK = 1 << 20  # bytes read at a time from a JSON array
_WS = " \t\r\n"


@dataclass(slots=True)
class Row:
    source: str  # the path as the user gave it
    index: int  # 0-based position in the file
    line: int | None  # 1-based line where known (JSONL, CSV, JSON arrays)
    data: Any = None
    error: str | None = None  # why the row could not be parsed
    reason: str = "invalid_json"  # the reject reason code when ``error`` is set
    field: str = ""  # the field a reader looked up last (named when an unexpected value stops it)


class BadValue(ValueError):
    """A JSON text that parses into no usable value: (reason code, message)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _no_constant(name: str) -> Any:
    raise BadValue("non_finite_number", f"{name} is not a JSON number (NaN and Infinity are not allowed)")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise BadValue("number_out_of_range", f"the number {text[:20]}... is out of a double's range")
    return value


STRICT = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite_float)


def parse_json(text: bytes | str) -> Any:
    """One JSON value, the same for every container: orjson first, then the standard library for what
    orjson refuses but JSON allows (integers past 64 bits). Raises BadValue with a reason code for NaN,
    Infinity, out-of-range numbers, nesting deeper than the parser's limit, and invalid JSON."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as err:
        first = err
    try:
        return STRICT.decode(text.decode("utf-8") if isinstance(text, bytes) else text)
    except BadValue:
        raise
    except RecursionError:
        raise BadValue("too_deep", "nested too deep (over about 1,000 levels) to read") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadValue("invalid_json", f"invalid JSON: {first}") from None
    except ValueError as err:  # an integer past Python's 4,300-digit limit
        raise BadValue("number_out_of_range", f"a number too large to read ({str(err)[:60]})") from None


def file_kind(path: str) -> str:
    """The container format from the extension (``.json``, ``.jsonl``/``.ndjson``, ``.csv``, ``.parquet``), or
    "dataset" for a folder or an ``hf://`` dataset (see prefkit.io.hf)."""
    if path.startswith("hf://") or os.path.isdir(path):
        return "dataset"
    lower = path.lower()
    for suffix, kind in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json"), (".csv", "csv"),
                         (".tsv", "tsv"), (".parquet", "parquet"), (".pq", "parquet")):
        if lower.endswith(suffix):
            return kind
    raise InputError(f"{path}: unknown file type; use .json, .jsonl, .csv, .tsv or .parquet")


def iter_rows(path: str, split: str = "train", subset: str | None = None, groups: bool = False) -> Iterator[Row]:
    """Yield the rows of one input: a file, a ``datasets`` folder or an ``hf://`` dataset (``split`` and
    ``subset`` choose what of a dataset). ``groups``: read a JSON object of record lists (see the module's
    doc). Raises InputError for an input that cannot be read at all."""
    if file_kind(path) == "dataset":
        from . import hf

        yield from (Row(path, i, None, data) for i, data in enumerate(hf.rows(path, split, subset)))
        return
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    kind = file_kind(path)
    _check_encoding(path)
    try:
        if kind == "jsonl":
            yield from _jsonl_rows(path)
        elif kind == "json":
            yield from _json_rows(path, groups)
        elif kind in ("csv", "tsv"):
            yield from _csv_rows(path, "\t" if kind == "tsv" else ",")
        else:
            yield from _parquet_rows(path)
    except PermissionError as err:
        raise InputError(f"{path}: cannot read ({err.strerror})") from None
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None


def _check_encoding(path: str) -> None:
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        raise InputError(f"{path}: the file is UTF-16 text; prefkit and LLaMA-Factory read UTF-8 "
                         f"(convert it: iconv -f UTF-16 -t UTF-8 {path} > new{os.path.splitext(path)[1]})")


def encoding_hint(path: str) -> str:
    """Why a file whose records are all invalid JSON may be so: its text encoding (or "")."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return ""
    convert = f"iconv -f {{}} -t UTF-8 {path} > new{os.path.splitext(path)[1]}"
    if head.count(b"\x00") > len(head) // 4:
        return f"; the file looks like UTF-16 without a byte-order mark ({convert.format('UTF-16LE')})"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 4:  # not just a character cut at the end of the sample
            return f"; the file is not UTF-8, perhaps latin-1 or cp1252 ({convert.format('latin1')})"
    return ""


def _jsonl_rows(path: str) -> Iterator[Row]:
    with open(path, "rb") as f:
        yield from _jsonl_lines(path, f, 1, 0)


def _jsonl_lines(path: str, lines: Iterable[bytes], first_line: int, index: int) -> Iterator[Row]:
    """Rows from JSONL lines, the first being line ``first_line`` and holding record ``index`` (if not blank)."""
    for line_no, raw in enumerate(lines, start=first_line):
        raw = raw.rstrip(b"\r\n")  # the same bytes whether the lines came from the file or from a split
        if line_no == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8):]  # as datasets reads it
        if not raw.strip():
            continue  # blank lines hold no record
        try:
            yield Row(path, index, line_no, parse_json(raw))
        except BadValue as bad:
            yield Row(path, index, line_no, raw.decode("utf-8", "replace")[:10000],
                      error=str(bad), reason=bad.reason)
        index += 1


@dataclass(frozen=True, slots=True)
class LineRange:
    """Whole lines ``start:end`` (bytes) of a JSONL file, beginning at line ``line`` with record ``index``:
    a block of rows that a worker reads and parses itself."""

    path: str
    start: int
    end: int
    line: int
    index: int

    def rows(self) -> list[Row]:
        with open(self.path, "rb") as f:
            f.seek(self.start)
            data = f.read(self.end - self.start)
        lines = data.split(b"\n")
        if lines and not lines[-1]:
            lines.pop()  # the text after the final newline is no line
        return list(_jsonl_lines(self.path, lines, self.line, self.index))


def jsonl_ranges(path: str, size: int = 1 << 21) -> Iterator[LineRange]:
    """Split a JSONL file into ranges of about ``size`` bytes of whole lines, counting lines and records
    (blank lines hold none) so every range knows where it starts. Reads the file once, parses nothing."""
    if file_kind(path) != "jsonl":
        raise InputError(f"{path}: only JSONL files are split into line ranges")
    _check_encoding(path)
    start, line, index = 0, 1, 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(size)
            if not chunk:
                return
            chunk += f.readline()  # up to the end of the line the chunk cut
            lines = chunk.split(b"\n")
            if not lines[-1]:
                lines.pop()
            if start == 0 and lines and lines[0].startswith(codecs.BOM_UTF8):
                lines[0] = lines[0][len(codecs.BOM_UTF8):]
            yield LineRange(path, start, start + len(chunk), line, index)
            line += len(lines)
            index += sum(1 for raw in lines if raw.strip())
            start += len(chunk)


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


def _skip_value(buf: _Buffer) -> int:
    """The end of the array element at ``buf.pos``, found without decoding it (for elements the decoder
    refuses: they become error rows and reading goes on after them)."""
    depth, in_string, escaped, pos = 0, False, False, buf.pos
    while True:
        text = buf.text
        while pos < len(text):
            c = text[pos]
            if in_string:
                if escaped:
                    escaped = False
                elif c == "\\":
                    escaped = True
                elif c == '"':
                    in_string = False
            elif c == '"':
                in_string = True
            elif c in "[{":
                depth += 1
            elif c in "]}":
                if depth == 0:
                    return pos  # the array's own closing bracket: a scalar element ended
                depth -= 1
                if depth == 0:
                    return pos + 1
            elif c == "," and depth == 0:
                return pos
            pos += 1
        if buf.eof:
            return pos
        offset = buf.pos
        buf.fill()
        pos -= offset


def _trailing(path: str, buf: _Buffer, index: int, closing: str = "]", what: str = "JSON array") -> Iterator[Row]:
    """Content after the closing bracket: one error row (LLaMA-Factory's loader fails on it)."""
    buf.pos += 1
    if buf.skip_ws():
        line = buf.line_at(buf.pos)
        yield Row(path, index, line, buf.text[buf.pos:buf.pos + 200], reason="trailing_content",
                  error=f"line {line}: content after the closing {closing!r} of the {what}")


def _json_rows(path: str, groups: bool = False) -> Iterator[Row]:
    """Decode a top-level JSON array one element at a time (or, with ``groups``, an object of record lists)."""
    with open(path, "rb") as f:
        buf = _Buffer(f)
        buf.fill()
        first = buf.skip_ws()
        if not first:
            return  # empty file: no rows (the caller reports an empty input)
        if first == "{":
            yield from _grouped_rows(path, buf, groups)
            return
        if first != "[":
            raise InputError(f"{path}: expected a JSON array of records; for one record a line, name the file .jsonl")
        buf.pos += 1
        index = yield from _elements(path, buf, 0)
        yield from _trailing(path, buf, index)


def _elements(path: str, buf: _Buffer, index: int, first: bool = True, group: str | None = None
              ) -> Generator[Row, None, int]:
    """The elements of the JSON array whose ``[`` is behind ``buf.pos`` (``first``: none read yet), numbered from
    ``index``; stops at its ``]`` and returns the next index. With ``group``, each record object without a
    ``group`` key gets one."""
    while True:
        char = buf.skip_ws()
        if char == "]":
            return index
        if not first and char:
            if char != ",":
                raise InputError(f"{path}: line {buf.line_at(buf.pos)}: expected ',' or ']' after record {index - 1}")
            buf.pos += 1
            char = buf.skip_ws()
        if not char:
            raise InputError(f"{path}: unexpected end of file inside the JSON array (record {index})")
        row = _decode_element(path, buf, index, buf.line_at(buf.pos))
        if group is not None:
            _tag(row, group)
        yield row
        index += 1
        first = False


def _tag(row: Row, group: str) -> None:
    if row.error is None and isinstance(row.data, dict) and "group" not in row.data:
        row.data["group"] = group


# The keys of a chat turn: an object whose lists hold only such objects is one conversation record, not groups.
_TURN_KEYS = frozenset({"role", "content", "from", "value", "name", "tool_calls", "tool_call_id", "function_call",
                        "weight", "loss_weight"})


def _grouped_rows(path: str, buf: _Buffer, groups: bool) -> Iterator[Row]:
    """A top-level object at ``buf.pos``: its lists' records when it is an object of record lists (decided by its
    first value and that list's first element), else today's refusal. Streams: once it is read as groups, a later
    value that is no list stops the file with a line naming the key."""
    one_record = f"{path}: expected a JSON array of records; for one record a line, name the file .jsonl"
    buf.pos += 1
    index, key, confirmed = 0, None, False
    while True:
        char = buf.skip_ws()
        if key is not None:  # after a list: ',' or '}'
            if char == "}" and confirmed:
                yield from _trailing(path, buf, index, "}", "JSON object of record lists")
                return
            if char != ",":
                if not confirmed:
                    raise InputError(one_record)
                raise InputError(f"{path}: line {buf.line_at(buf.pos)}: expected ',' or '}}' after the list {key!r}"
                                 if char else f"{path}: unexpected end of file inside the JSON object of record lists")
            buf.pos += 1
            char = buf.skip_ws()
        if char != '"':
            if not confirmed:
                raise InputError(one_record)
            raise InputError(f"{path}: line {buf.line_at(buf.pos)}: expected a key in the JSON object of record lists")
        key = _decode_key(path, buf)
        if buf.skip_ws() != ":":
            raise InputError(f"{path}: line {buf.line_at(buf.pos)}: expected ':' after the key {key!r}")
        buf.pos += 1
        char = buf.skip_ws()
        if char != "[":
            if not confirmed:
                raise InputError(one_record)
            raise InputError(f"{path}: line {buf.line_at(buf.pos)}: the value of {key!r} is not a list of records: a "
                             "JSON object read as record lists (its first value is one) needs a list under every key")
        buf.pos += 1
        first = True
        if not confirmed:
            char = buf.skip_ws()
            if char == "]":  # an empty list decides nothing
                buf.pos += 1
                continue
            if char != "{":
                raise InputError(one_record)
            row = _decode_element(path, buf, index, buf.line_at(buf.pos))
            if row.error is None and set(row.data) <= _TURN_KEYS:
                raise InputError(one_record)  # a conversation record ({"messages": [turns]}), not groups
            if not groups:
                raise InputError(f"{path}: a JSON object of record lists (the first under {key!r}): LLaMA-Factory "
                                 "reads it as one record whose columns are the keys; convert it first (prefkit "
                                 f"convert {path} -o OUT.jsonl reads every list, keeping its key as \"group\")")
            confirmed, first = True, False
            _tag(row, key)
            yield row
            index += 1
        index = yield from _elements(path, buf, index, first, key)
        buf.pos += 1  # past the list's ']'


def _decode_key(path: str, buf: _Buffer) -> str:
    """The JSON string at ``buf.pos`` (an object's key), decoded and moved past."""
    while True:
        try:
            key, end = STRICT.raw_decode(buf.text, buf.pos)
        except json.JSONDecodeError as err:
            if not buf.eof and (err.pos >= len(buf.text) - 64 or err.msg.startswith("Unterminated string")):
                buf.fill()  # the key is cut by the buffer's end
                continue
            raise InputError(f"{path}: line {buf.line_at(err.pos)}: invalid JSON ({err.msg})") from None
        buf.pos = end
        return key


def _decode_element(path: str, buf: _Buffer, index: int, line: int) -> Row:
    """Decode the element at ``buf.pos`` and move past it. An element the decoder refuses (NaN, a huge
    number, too deep) becomes an error row; a syntax error ends the file's reading."""
    while True:
        try:
            obj, end = STRICT.raw_decode(buf.text, buf.pos)
        except json.JSONDecodeError as err:
            # A token cut by the buffer's end fails near the end (or as an unterminated string).
            incomplete = err.pos >= len(buf.text) - 64 or err.msg.startswith("Unterminated string")
            if buf.eof or not incomplete:
                raise InputError(f"{path}: line {buf.line_at(err.pos)}: invalid JSON in record {index} "
                                 f"({err.msg})") from None
            buf.fill()
            continue
        except (BadValue, RecursionError, ValueError) as err:
            bad = err if isinstance(err, BadValue) else \
                BadValue("too_deep", "nested too deep (over about 1,000 levels) to read") \
                if isinstance(err, RecursionError) else \
                BadValue("number_out_of_range", f"a number too large to read ({str(err)[:60]})")
            end = _skip_value(buf)
            row = Row(path, index, line, buf.text[buf.pos:min(end, buf.pos + 200)], error=str(bad), reason=bad.reason)
            buf.pos = end
            return row
        if end >= len(buf.text) and not buf.eof:  # a number cut at the buffer's end would parse short
            buf.fill()
            continue
        buf.pos = end
        return Row(path, index, line, obj)


class _Lines:
    """The lines of a text file for ``csv.reader``, keeping those of the record being read so that the
    lines an unclosed quote swallowed can be read again."""

    def __init__(self, f: IO[str]) -> None:
        self.f = f
        self.pending: list[tuple[int, str]] = []  # (line number, text) to hand out again
        self.line = 0  # the number of the last line handed out
        self.held: list[tuple[int, str]] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.pending:
            self.line, text = self.pending.pop(0)
        else:
            text = next(self.f)
            self.line += 1
        self.held.append((self.line, text))
        return text


def _csv_rows(path: str, delimiter: str) -> Iterator[Row]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        lines = _Lines(f)
        reader = csv.reader(lines, delimiter=delimiter, strict=True)
        header = next(reader, None)
        if header is None:
            return
        index = 0
        while True:
            lines.held = []
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                held = lines.held
                yield Row(path, index, held[0][0] if held else lines.line, held[0][1].rstrip("\r\n") if held else None,
                          error=f"invalid CSV: {err}", reason="unparsable_row")
                index += 1
                if len(held) > 1:  # an unclosed quote swallowed the lines after its own: read them again
                    lines.pending = held[1:] + lines.pending
                    reader = csv.reader(lines, delimiter=delimiter, strict=True)
                continue
            line = lines.held[0][0] if lines.held else lines.line
            if not cells:
                continue  # a blank line holds no record
            if len(cells) > len(header):
                yield Row(path, index, line, cells, error="more cells than header columns", reason="unparsable_row")
            else:
                yield Row(path, index, line, _parse_cells(dict(zip(header, cells + [None] * (len(header) - len(cells))))))
            index += 1


def _parse_cells(row: dict[str, str | None]) -> dict[str, Any]:
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
    for group in range(pf.num_row_groups):  # one group at a time, so a corrupt page names its group
        first, rows = index, pf.metadata.row_group(group).num_rows
        try:
            for batch in pf.iter_batches(batch_size=1024, row_groups=[group]):
                for row in batch.to_pylist():
                    yield Row(path, index, None, row)
                    index += 1
        except Exception as err:  # pyarrow raises OSError, ArrowInvalid, ... for a corrupt page
            raise InputError(f"{path}: row group {group} of {pf.num_row_groups} (records {first}-{first + rows - 1}) "
                             f"cannot be read: {str(err).strip() or type(err).__name__}") from None
