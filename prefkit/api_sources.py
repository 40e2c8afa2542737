"""What the Python API takes, checked in one place: a source (paths or rows), the rows' values, text arguments.

A source is a path (``str`` or ``os.PathLike``), a list of paths, or rows: a list, a tuple or any other iterable
(a generator) of dicts, a ``datasets.Dataset`` / ``IterableDataset`` (read as stored: an ``Image`` column's
``{"bytes", "path"}`` values, never decoded images) or a ``pandas.DataFrame`` (its records). Anything else is a
:class:`~prefkit.errors.SourceTypeError` (a ``TypeError``) saying what is taken; a row that is not a dict, one
naming the row's index; rows that hold nothing, a :class:`~prefkit.errors.SourceValueError`.

Rows are written as JSON for the pipeline. What converts without loss is converted: numpy scalars and arrays
(Python numbers and lists), tuples (lists), datetimes (ISO 8601 text), NaN and pandas' missing values (null), an
image's bytes (a datasets ``Image`` value ``{"bytes": ..., "path": ...}`` anywhere, or raw bytes in an ``images`` /
``image`` column) as a ``data:`` URL, which convert writes as a file (validate: a file in its temporary folder, as
the trainer reads the same bytes). Anything else (a set, other bytes, a decoded
PIL image, an object) is a SourceTypeError naming the row, the field and the value's type.

>>> import numpy as np
>>> plain({"n": np.int64(3), "x": (np.float32(0.5), float("nan"))}, 0)
{'n': 3, 'x': [0.5, None]}
>>> plain({"meta": {"tags": {"a"}}}, 2)  # doctest: +ELLIPSIS
Traceback (most recent call last):
prefkit.errors.SourceTypeError: row 2: cannot be written as JSON: field 'meta.tags' holds a set ...; give a list
>>> list(rows_of([{"a": 1}, None]))
Traceback (most recent call last):
prefkit.errors.SourceTypeError: row 1: expected a dict (one row), got None
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import inspect
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import orjson

from .errors import InputError, SourceTypeError, SourceValueError

TAKES = "a path, a list of paths, rows (a list or other iterable of dicts), a datasets.Dataset or a pandas.DataFrame"
NO_ROWS = f"no rows: give {TAKES} that is not empty"
BATCH = 1000  # rows taken at a time from a datasets.Dataset or a pandas.DataFrame
IMAGE_COLUMNS = ("images", "image")  # where raw bytes are an image's
_MAX_INT = 1 << 63


def type_name(value: Any) -> str:
    """``None``, ``dict``, ``numpy.int64``: the name of a value's type as a user wrote it."""
    if value is None:
        return "None"
    kind = type(value)
    module = kind.__module__.split(".")[0]
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def paths_or_rows(source: Any) -> str | list[str] | Iterator[dict[str, Any]]:
    """A path, a list of paths, or the rows (checked as they are read: see :func:`rows_of`)."""
    if isinstance(source, (str, os.PathLike)):
        return os.fsdecode(os.fspath(source))
    if isinstance(source, (bytes, bytearray)):
        raise SourceTypeError(f"expected {TAKES}; got bytes (a path is a str or a pathlib.Path)")
    module = type(source).__module__.split(".")[0]
    if module == "datasets" and isinstance(source, Mapping):
        raise SourceTypeError(f"expected {TAKES}; got a {type(source).__name__} of splits "
                              f"({', '.join(map(str, source))}): give one, e.g. dataset[{next(iter(source), 'train')!r}]")
    if isinstance(source, Mapping):
        raise SourceTypeError(f"expected {TAKES}; got one dict: give a list of rows ([row]), or "
                              "datasets.Dataset.from_dict(columns) for a dict of columns")
    if module == "datasets" and hasattr(source, "features"):
        return _dataset_rows(source)
    if module == "pandas" and hasattr(source, "iloc") and hasattr(source, "columns"):
        return _frame_rows(source)
    if isinstance(source, (list, tuple)):
        if not source:
            raise SourceValueError(NO_ROWS)
        if isinstance(source[0], (str, os.PathLike)):
            return [_path(item, i) for i, item in enumerate(source)]
        if not isinstance(source[0], Mapping):
            raise SourceTypeError(f"item 0 of the list: expected a dict (one row) or a path, got {type_name(source[0])}")
        return rows_of(source)
    if isinstance(source, Iterable) and module not in ("numpy", "pandas"):
        return rows_of(source)
    raise SourceTypeError(f"expected {TAKES}; got {type_name(source)}")


def _path(item: Any, index: int) -> str:
    if not isinstance(item, (str, os.PathLike)):
        raise SourceTypeError(f"item {index} of the list of paths: expected a path, got {type_name(item)}")
    return os.fsdecode(os.fspath(item))


def rows_of(items: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """The rows, each checked to be a dict (a SourceTypeError naming the first that is not)."""
    for index, row in enumerate(items):
        if not isinstance(row, Mapping):
            raise SourceTypeError(f"row {index}: expected a dict (one row), got {type_name(row)}")
        yield dict(row)


def _dataset_rows(dataset: Any) -> Iterator[dict[str, Any]]:
    """A datasets.Dataset's rows as stored (Arrow): images stay ``{"bytes", "path"}``, nothing is decoded."""
    try:
        batches = dataset.with_format("arrow").iter(batch_size=BATCH)
    except (AttributeError, NotImplementedError, TypeError, ValueError):  # an old datasets: its decoded rows
        yield from rows_of(dataset)
        return
    for table in batches:
        yield from table.to_pylist()


def _frame_rows(frame: Any) -> Iterator[dict[str, Any]]:
    for start in range(0, len(frame), BATCH):
        yield from frame.iloc[start:start + BATCH].to_dict("records")


def write_rows(rows: Iterable[dict[str, Any]], path: str, image_dir: str | None = None) -> int:
    """Write the rows as JSON Lines to ``path`` (a temporary file) and count them; none is a SourceValueError.
    An image's bytes become a ``data:`` URL, or with ``image_dir`` a file there named by its bytes (its path)."""
    count = 0
    try:
        with open(path, "wb") as out:
            for index, row in enumerate(rows):
                out.write(json_line(row, index, image_dir))
                count += 1
    except OSError as err:
        raise InputError(f"rows: cannot write their temporary copy {err.filename or path} "
                         f"({(err.strerror or str(err)).lower()})") from None
    if not count:
        raise SourceValueError(NO_ROWS)
    return count


def json_line(row: dict[str, Any], index: int, image_dir: str | None = None) -> bytes:
    """One row as a JSON line; values converted as the module's doc says (the walk only when orjson refuses)."""
    try:
        return orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        pass
    value = plain(row, index, image_dir)
    try:
        return orjson.dumps(value, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:  # text orjson refuses (a lone surrogate): escaped, for the pipeline to judge
        import json

        return json.dumps(value, separators=(",", ":")).encode() + b"\n"


def plain(row: dict[str, Any], index: int, image_dir: str | None = None) -> dict[str, Any]:
    """The row with only JSON's types; a SourceTypeError naming the row, field and type of a value it cannot hold.
    ``image_dir``: as for :func:`write_rows`."""
    return _Walk(index, image_dir).value(row, "")


class _Walk:
    """One row's values converted to JSON's types (``index``: the row's, for messages)."""

    def __init__(self, index: int, image_dir: str | None) -> None:
        self.index, self.image_dir = index, image_dir

    def value(self, value: Any, where: str) -> Any:
        if value is None or isinstance(value, (str, bool)):
            return value
        if isinstance(value, int):
            if not -_MAX_INT <= value < _MAX_INT:
                raise self.refused(where, "an integer past 64 bits, which JSON readers do not keep exactly; give it "
                                          "as text")
            return int(value)
        if isinstance(value, float):
            return float(value) if math.isfinite(value) else None
        if isinstance(value, Mapping):
            return self.image(value, where) if _is_image_value(value) else self.mapping(value, where)
        if isinstance(value, (list, tuple)):
            return [self.value(item, f"{where}[{i}]") for i, item in enumerate(value)]
        if isinstance(value, (bytes, bytearray, memoryview)):
            if where.split("[")[0] in IMAGE_COLUMNS:
                return self.image({"bytes": bytes(value)}, where)
            raise self.refused(where, f"{type_name(value)}; give text (str), or an image's bytes in the images column")
        module = type(value).__module__.split(".")[0]
        if module == "numpy" and hasattr(value, "tolist"):
            return self.value(value.tolist(), where)
        if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
            return value.isoformat()
        if module == "pandas" and type(value).__name__ in ("NAType", "NaTType"):
            return None
        if isinstance(value, (set, frozenset)):
            raise self.refused(where, f"a {type_name(value)} (its order is not defined); give a list")
        if module == "PIL":
            raise self.refused(where, f"a decoded image ({type_name(value)}); give its path, or its file's bytes as "
                                      "{'bytes': ..., 'path': None}")
        raise self.refused(where, f"a {type_name(value)}; give text, numbers, booleans, None, lists or dicts")

    def mapping(self, value: Mapping[Any, Any], where: str) -> dict[str, Any]:
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise self.refused(where, f"a key {key!r} ({type_name(key)}); keys must be text")
            out[key] = self.value(item, f"{where}.{key}" if where else key)
        return out

    def image(self, value: Mapping[str, Any], where: str) -> str | None:
        """An image's bytes as a ``data:`` URL, or as the path of its file in ``image_dir``; its path without bytes."""
        from .records import RowProblem
        from .writers.image_files import EXTENSIONS, HASH_CHARS, bytes_url

        data = value["bytes"]
        if not data:
            return value.get("path")
        data = bytes(data)
        try:
            url = bytes_url(data, f"field {where!r}")
        except RowProblem as problem:
            raise SourceValueError(f"row {self.index}: {problem.message}") from None
        if self.image_dir is None:
            return url
        name = f"{hashlib.sha256(data).hexdigest()[:HASH_CHARS]}.{EXTENSIONS[url[5:url.index(';')]]}"
        path = os.path.join(self.image_dir, name)
        if not os.path.exists(path):
            with open(path, "wb") as out:
                out.write(data)
        return path

    def refused(self, where: str, what: str) -> SourceTypeError:
        field = f"field {where!r} holds" if where else "it is"
        return SourceTypeError(f"row {self.index}: cannot be written as JSON: {field} {what}")


def _is_image_value(value: Mapping[str, Any]) -> bool:
    """A datasets ``Image`` value: ``{"bytes": bytes | None, "path": str | None}``."""
    return "bytes" in value and set(value) <= {"bytes", "path"} and \
        isinstance(value["bytes"], (bytes, bytearray, memoryview, type(None)))


F = TypeVar("F", bound=Callable[..., Any])


def text_arg(function: str, name: str, value: Any, optional: bool = False) -> Any:
    """A text argument (a path or a name): str or os.PathLike (as str); else a SourceTypeError naming both."""
    if value is None and optional:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        return os.fsdecode(os.fspath(value))
    none = " or None" if optional else ""
    raise SourceTypeError(f"{function}({name}=...): expected a path or text (str or os.PathLike){none}, "
                          f"got {type_name(value)}")


def checked(fn: F) -> F:
    """``fn`` with every argument it annotates ``str`` (or ``str | None``) checked by :func:`text_arg`."""
    signature = inspect.signature(fn)
    texts = {name: param.annotation == "str | None" for name, param in signature.parameters.items()
             if param.annotation in ("str", "str | None", str)}

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            return fn(*args, **kwargs)  # Python's own message for a missing or unknown argument
        for name, optional in texts.items():
            if name in bound.arguments:
                bound.arguments[name] = text_arg(fn.__name__, name, bound.arguments[name], optional)
        return fn(*bound.args, **bound.kwargs)

    return call  # type: ignore[return-value]
