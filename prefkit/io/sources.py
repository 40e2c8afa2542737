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

Bounded by construction: only regular files are read (a FIFO or a device is refused before it is opened, so nothing
waits on a writer or reads without end), and one record (a JSONL or CSV line, a JSON array element) holds at most
``PREFKIT_MAX_RECORD_BYTES`` (default 128 MiB): a longer one is a ``record_too_large`` reject, read past in chunks,
never held whole. A string with a lone surrogate (``"\\udfff"``: JSON allows the escape, Unicode and Arrow do not) is
an ``invalid_unicode`` reject naming its field.
"""

from __future__ import annotations

import codecs
import csv
import fcntl
import io
import json
import math
import os
import re
import stat
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

from ..errors import InputError

CHUNK = 1 << 20  # bytes read at a time from a JSON array
PREVIEW = 200  # characters of a record too large to keep that its reject shows
_WS = " \t\r\n"
RECORD_LIMIT_ENV = "PREFKIT_MAX_RECORD_BYTES"
DEFAULT_RECORD_LIMIT = 128 << 20  # bytes of one record (a JSONL/CSV line; characters of a JSON array element)
_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def record_limit() -> int:
    """The most bytes one record may hold: ``PREFKIT_MAX_RECORD_BYTES`` or 128 MiB."""
    given = os.environ.get(RECORD_LIMIT_ENV, "").strip()
    if not given:
        return DEFAULT_RECORD_LIMIT
    try:
        limit = int(given.replace("_", ""))
    except ValueError:
        limit = 0
    if limit < 1:
        raise InputError(f"{RECORD_LIMIT_ENV}={given!r}: expected a positive number of bytes")
    return limit


def _limit_note(limit: int, unit: str = "bytes") -> str:
    return f"over the limit of {limit:,} {unit} ({RECORD_LIMIT_ENV}; raise it to read such records)"


def not_regular(path: str, mode: int) -> str | None:
    """Why a file of stat mode ``mode`` is not read (None for a regular file or a folder)."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    what = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    return (f"{path}: {what}, not a regular file; prefkit reads regular files only (a pipe or device could make it "
            "wait or read without end): save the data to a file first")


def check_regular(path: str) -> None:
    """InputError for a path that is a FIFO, a device or a socket (following links); nothing is opened."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # a missing file is the caller's own error
    if reason := not_regular(path, mode):
        raise InputError(reason)


def open_input(path: str) -> IO[bytes]:
    """``open(path, "rb")`` for regular files only: opened without blocking (a FIFO with no writer cannot hang it)
    and refused (InputError) unless the opened file itself is regular."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if reason := not_regular(path, os.fstat(fd).st_mode):
            raise InputError(reason)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


# A lone surrogate can come only from a JSON \u escape (the UTF-8 decoder refuses encoded ones); a pair decodes to
# one character, so a surrogate code unit left in a decoded string is a lone one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def invalid_unicode(value: Any, path: str = "") -> BadValue | None:
    """The first string (key or value) of a decoded JSON value holding a lone surrogate, as a BadValue naming its
    field path (``conversations[1].value``), or None.

    >>> invalid_unicode({"chosen": {"value": "ok \\udfff"}}).field
    'chosen.value'
    """
    if isinstance(value, str):
        if found := _SURROGATE.search(value):
            return BadValue("invalid_unicode", f"{path or 'the record'}: a lone surrogate U+{ord(found.group()):04X} "
                            f"at character {found.start()}: not valid Unicode (JSON allows the escape; LLaMA-Factory's "
                            "loader, Arrow and UTF-8 do not); fix or drop the text", path)
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            name = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", str(key))  # printable
            where = f"{path}.{name}" if path else name
            if bad := invalid_unicode(key, where) or invalid_unicode(item, where):
                return bad
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if bad := invalid_unicode(item, f"{path}[{i}]"):
                return bad
    return None


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
    """A JSON text that parses into no usable value: (reason code, message, the field where known)."""

    def __init__(self, reason: str, message: str, field: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.field = field


class RecordTooLarge(Exception):
    """The record being read is past :func:`record_limit` (raised by the JSON array buffer)."""


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
        value = STRICT.decode(text.decode("utf-8") if isinstance(text, bytes) else text)
    except BadValue:
        raise
    except RecursionError:
        raise BadValue("too_deep", "nested too deep (over about 1,000 levels) to read") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadValue("invalid_json", f"invalid JSON: {first}") from None
    except ValueError as err:  # an integer past Python's 4,300-digit limit
        raise BadValue("number_out_of_range", f"a number too large to read ({str(err)[:60]})") from None
    if bad := invalid_unicode(value):  # orjson refuses lone surrogates: only this path can hold one
        raise bad
    return value


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
    if os.path.isdir(path) and (parts := part_files(path)):
        yield from _parts_rows(parts)
        return
    if file_kind(path) == "dataset":
        from . import hf

        yield from (Row(path, i, None, data) for i, data in enumerate(hf.rows(path, split, subset)))
        return
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    check_regular(path)
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


def part_files(folder: str) -> list[str]:
    """The JSONL files of a folder of parts (``convert -o DIR/``: part-000000.jsonl ...), in name order, which is
    the rows' order; [] for a folder that holds anything else (a ``datasets`` folder, a Hub repository's layout)."""
    names = sorted(os.listdir(folder))
    if not names or not all(n.lower().endswith(".jsonl") and os.path.isfile(os.path.join(folder, n)) for n in names):
        return []
    return [os.path.join(folder, n) for n in names]


def _parts_rows(parts: list[str]) -> Iterator[Row]:
    """The rows of every part, numbered as one input (each names its part and line)."""
    index = 0
    for part in parts:
        check_regular(part)
        _check_encoding(part)
        for row in _jsonl_rows(part, index):
            index = row.index + 1
            yield row


def _check_encoding(path: str) -> None:
    with open_input(path) as f:
        head = f.read(4)
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        raise InputError(f"{path}: the file is UTF-16 text; prefkit and LLaMA-Factory read UTF-8 "
                         f"(convert it: iconv -f UTF-16 -t UTF-8 {path} > new{os.path.splitext(path)[1]})")


def encoding_hint(path: str) -> str:
    """Why a file whose records are all invalid JSON may be so: its text encoding (or "")."""
    try:
        with open_input(path) as f:
            head = f.read(1 << 16)
    except (OSError, InputError):
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


def _jsonl_rows(path: str, index: int = 0) -> Iterator[Row]:
    """The rows of a JSONL file, the first holding record ``index``."""
    with open_input(path) as f:
        yield from _jsonl_lines(path, bounded_lines(f, record_limit()), 1, index)


@dataclass(frozen=True, slots=True)
class LongLine:
    """A line past the record limit: its first bytes and its whole length (the rest was read past, not kept)."""

    head: bytes
    size: int


def bounded_lines(f: IO[bytes], limit: int, end: int | None = None) -> Iterator[bytes | LongLine]:
    """The lines of a binary file, each read whole only up to ``limit`` bytes (newline excluded); a longer one is a
    LongLine, the rest of it read past in chunks. ``end``: stop at that offset (a line range's end)."""
    while end is None or f.tell() < end:
        raw = f.readline(limit + 2)  # room for "\r\n"
        if not raw:
            return
        if len(raw.rstrip(b"\r\n")) <= limit:
            yield raw
            continue
        head, size = raw[:PREVIEW], len(raw)
        while not raw.endswith(b"\n"):
            raw = f.readline(CHUNK)
            if not raw:
                break
            size += len(raw)
        yield LongLine(head, size)


def _jsonl_lines(path: str, lines: Iterable[bytes | LongLine], first_line: int, index: int) -> Iterator[Row]:
    """Rows from JSONL lines, the first being line ``first_line`` and holding record ``index`` (if not blank)."""
    for line_no, raw in enumerate(lines, start=first_line):
        if isinstance(raw, LongLine):
            yield Row(path, index, line_no, raw.head.decode("utf-8", "replace"), reason="record_too_large",
                      error=f"line {line_no}: the record has {raw.size:,} bytes, {_limit_note(record_limit())}")
            index += 1
            continue
        raw = raw.rstrip(b"\r\n")  # the same bytes whether the lines came from the file or from a split
        if line_no == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8):]  # as datasets reads it
        if not raw.strip():
            continue  # blank lines hold no record
        try:
            yield Row(path, index, line_no, parse_json(raw))
        except BadValue as bad:
            yield Row(path, index, line_no, raw.decode("utf-8", "replace")[:10000],
                      error=str(bad), reason=bad.reason, field=bad.field)
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
        with open_input(self.path) as f:
            f.seek(self.start)
            return list(_jsonl_lines(self.path, bounded_lines(f, record_limit(), self.end), self.line, self.index))


def jsonl_ranges(path: str, size: int = 1 << 21) -> Iterator[LineRange]:
    """Split a JSONL file into ranges of about ``size`` bytes of whole lines, counting lines and records
    (blank lines hold none; a line past the record limit is one) so every range knows where it starts. Reads the
    file once, parses nothing, holds at most ``size`` bytes and one record."""
    if file_kind(path) != "jsonl":
        raise InputError(f"{path}: only JSONL files are split into line ranges")
    check_regular(path)
    _check_encoding(path)
    limit = record_limit()
    start, line, index = 0, 1, 0
    with open_input(path) as f:
        while True:
            chunk = f.read(size)
            if not chunk:
                return
            end = start + len(chunk)
            if not chunk.endswith(b"\n"):  # up to the end of the line the chunk cut
                rest = f.readline(limit + 2)
                chunk, end = chunk + rest, end + len(rest)
                while rest and not rest.endswith(b"\n"):  # a line past the limit: read past the rest of it
                    rest = f.readline(CHUNK)
                    end += len(rest)
            lines = chunk.split(b"\n")
            if not lines[-1]:
                lines.pop()
            if start == 0 and lines and lines[0].startswith(codecs.BOM_UTF8):
                lines[0] = lines[0][len(codecs.BOM_UTF8):]
            yield LineRange(path, start, end, line, index)
            line += len(lines)
            index += sum(1 for raw in lines if raw.strip() or len(raw.rstrip(b"\r")) > limit)
            start = end


class _Buffer:
    """A sliding window of decoded text over a binary file, with line numbers counted incrementally."""

    def __init__(self, f: IO[bytes], limit: int) -> None:
        self.f = f
        self.limit = limit  # the most characters one value being read may hold (RecordTooLarge past it)
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
        """Drop the consumed text and append the next chunk: as large as the text still pending (so a large record
        is decoded a bounded number of times), and RecordTooLarge once that text is past the limit."""
        pending = len(self.text) - self.pos
        if pending > self.limit:
            raise RecordTooLarge
        self.line_at(self.pos)
        chunk = self.f.read(max(CHUNK, min(pending, self.limit + 1 - pending)))
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


_STRING_STOP = re.compile(r'["\\]')  # what ends a run of plain string characters
_VALUE_STOP = re.compile(r'["\[\]{},]')  # what matters outside strings


def _skip_value(buf: _Buffer, discard: bool = False) -> int:
    """The end of the array element at ``buf.pos``, found without decoding it (for elements the decoder
    refuses: they become error rows and reading goes on after them). ``discard``: drop the text as it is scanned
    (an element past the record limit), so memory stays at one chunk. Runs of plain characters are skipped by
    regular expressions (C speed)."""
    depth, in_string, escaped, pos = 0, False, False, buf.pos
    while True:
        text = buf.text
        while pos < len(text):
            if escaped:  # the character after a backslash
                escaped, pos = False, pos + 1
                continue
            found = (_STRING_STOP if in_string else _VALUE_STOP).search(text, pos)
            if found is None:
                pos = len(text)
                break
            pos, c = found.start(), found.group()
            if in_string:
                escaped, in_string = c == "\\", c != '"'
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
            elif depth == 0:  # a comma between elements
                return pos
            pos += 1
        if buf.eof:
            return pos
        if discard:
            buf.pos = pos  # all scanned: nothing is pending
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
    limit = record_limit()
    with open_input(path) as f:
        buf = _Buffer(f, limit)
        try:
            yield from _json_values(path, buf, groups)
        except RecordTooLarge:  # a key or the text between records: no record to reject
            raise InputError(f"{path}: line {buf.line_at(buf.pos)}: a JSON value {_limit_note(limit, 'characters')}") from None


def _json_values(path: str, buf: _Buffer, groups: bool) -> Iterator[Row]:
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
    number, too deep, a lone surrogate) or one past the record limit becomes an error row; a syntax error ends the
    file's reading."""
    try:
        return _decode_within(path, buf, index, line)
    except RecordTooLarge:  # buf.pos is still at the element's start
        head = buf.text[buf.pos:buf.pos + PREVIEW]
        buf.pos = _skip_value(buf, discard=True)
        return Row(path, index, line, head, reason="record_too_large",
                   error=f"line {line}: record {index} is {_limit_note(buf.limit, 'characters')}")


def _decode_within(path: str, buf: _Buffer, index: int, line: int) -> Row:
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
        start, buf.pos = buf.pos, end
        if end - start > buf.limit:  # whole in the buffer, past the limit all the same
            return Row(path, index, line, buf.text[start:start + PREVIEW], reason="record_too_large",
                       error=f"line {line}: record {index} has {end - start:,} characters, "
                             f"{_limit_note(buf.limit, 'characters')}")
        if _SURROGATE_ESCAPE.search(buf.text, start, end) and (bad := invalid_unicode(obj)):
            return Row(path, index, line, buf.text[start:min(end, start + 10000)], error=str(bad), reason=bad.reason,
                       field=bad.field)
        return Row(path, index, line, obj)


class _Lines:
    """The lines of a text file for ``csv.reader``, keeping those of the record being read so that the
    lines an unclosed quote swallowed can be read again."""

    def __init__(self, f: IO[str], limit: int) -> None:
        self.f = f
        self.limit = limit  # characters of one line; a longer one raises RecordTooLarge(line, size), read past
        self.pending: list[tuple[int, str]] = []  # (line number, text) to hand out again
        self.line = 0  # the number of the last line handed out
        self.held: list[tuple[int, str]] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.pending:
            self.line, text = self.pending.pop(0)
        else:
            text = self.f.readline(self.limit + 2)  # room for "\r\n"
            if not text:
                raise StopIteration
            self.line += 1
            if len(text.rstrip("\r\n")) > self.limit:
                head, size = text[:PREVIEW], len(text)
                while not text.endswith("\n") and (text := self.f.readline(CHUNK)):
                    size += len(text)
                raise RecordTooLarge(self.line, size, head)
        self.held.append((self.line, text))
        return text


def _csv_rows(path: str, delimiter: str) -> Iterator[Row]:
    limit = record_limit()
    with io.TextIOWrapper(open_input(path), encoding="utf-8-sig", newline="") as f:
        lines = _Lines(f, limit)
        reader = csv.reader(lines, delimiter=delimiter, strict=True)
        try:
            header = next(reader, None)
        except RecordTooLarge as long:
            raise InputError(f"{path}: line {long.args[0]}: the header line is {_limit_note(limit, 'characters')}") from None
        if header is None:
            return
        index = 0
        while True:
            lines.held = []
            try:
                cells = next(reader)
            except StopIteration:
                return
            except RecordTooLarge as long:
                line, size, head = long.args
                yield Row(path, index, line, head, reason="record_too_large",
                          error=f"line {line}: the record has {size:,} characters, {_limit_note(limit, 'characters')}")
                index += 1
                reader = csv.reader(lines, delimiter=delimiter, strict=True)
                continue
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
    check_regular(path)
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


SAMPLE_BYTES = 16 << 20  # text a sample of first rows holds (format detection, hints): at least one row


def first_rows(rows: Iterator[Row], n: int, max_bytes: int = SAMPLE_BYTES) -> list[Row]:
    """Up to ``n`` rows taken from ``rows``, fewer once they hold ``max_bytes`` of text (one at least): a sample of
    huge records (20 MB ``data:`` URL images) holds one, so memory does not grow with their number."""
    head: list[Row] = []
    size = 0
    for row in rows:
        head.append(row)
        size += text_size(row.data, max_bytes)
        if len(head) >= n or size >= max_bytes:
            break
    return head


def text_size(value: Any, cap: int) -> int:
    """The characters of the strings (and bytes) in a JSON-like value, counted up to about ``cap``."""
    if isinstance(value, (str, bytes)):
        return len(value)
    total = 0
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for item in items:
        total += text_size(item, cap - total)
        if total >= cap:
            break
    return total
