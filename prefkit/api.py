"""The Python API on rows in memory: ``convert`` and ``validate`` take a path, a list of dicts or a
``datasets.Dataset``, and ``convert`` without an output path gives the converted rows back as a ``datasets.Dataset``.

Rows in memory go through the same pipeline as files: they are written to a JSON Lines file in a private temporary
folder, and the converted rows are read back from there. Relative image paths in rows given in memory are kept as
they are; those of files converted without an output path come back absolute.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

from .errors import UsageError

ROWS_FILE = "rows.jsonl"  # the temporary file of rows given in memory; the report and rejects call it "rows"


@dataclass
class ConvertResult:
    """What ``convert`` gives back without an output path: the converted rows, the rejects and the report."""

    dataset: Any  # datasets.Dataset
    rejects: list[dict[str, Any]] = field(default_factory=list)
    report: Any = None  # prefkit.pipeline.convert.ConvertReport


def _is_rows(source: Any) -> bool:
    if isinstance(source, (str, os.PathLike)):
        return False
    if type(source).__name__ in ("Dataset", "IterableDataset") and hasattr(source, "features"):
        return True
    return isinstance(source, Sequence) and all(isinstance(row, Mapping) for row in source) and len(source) > 0


def _write_rows(rows: Any, path: str) -> None:
    with open(path, "wb") as out:
        for index, row in enumerate(rows):
            try:
                out.write(orjson.dumps(dict(row)) + b"\n")
            except TypeError as error:  # e.g. a PIL image in a datasets Image column
                raise UsageError(f"row {index}: cannot be written as JSON ({error}); give image paths, not "
                                 "decoded images (datasets: cast_column(name, Image(decode=False)))") from None


@contextmanager
def _files(source: Any) -> Iterator[tuple[list[str] | str, str | None]]:
    """The source as file paths, and the temporary folder that holds rows in memory (None for paths)."""
    if not _is_rows(source):
        if isinstance(source, Sequence) and not isinstance(source, (str, os.PathLike)) and not source:
            raise UsageError("no rows: give a path, a non-empty list of dicts or a datasets.Dataset")
        yield ([os.fspath(p) for p in source] if isinstance(source, Sequence) and not isinstance(source, str)
               else os.fspath(source)), None
        return
    with tempfile.TemporaryDirectory(prefix="prefkit-") as folder:
        path = os.path.join(folder, ROWS_FILE)
        _write_rows(source, path)
        yield path, folder


def _read_jsonl(path: str) -> list[dict[str, Any]]:
    """The rows convert wrote (none when it wrote no file: no rejects)."""
    from .io.sources import iter_rows

    return [row.data for row in iter_rows(path)] if os.path.exists(path) else []


def convert(source: Any, output: str | None = None, fmt: str = "auto", to: str = "sharegpt", **options: Any) -> Any:
    """Convert raw preference rows (a path or paths, a list of dicts or a ``datasets.Dataset``).

    With ``output`` this is :func:`prefkit.pipeline.convert.convert` and returns its report; without it the converted rows
    come back in memory as a :class:`ConvertResult` (``.dataset``, ``.rejects``, ``.report``). ``options`` are
    convert's (``rejects``, ``pairing_strategy``, ``mapping``, ``dedup``, ``near_dedup``, ...).

    >>> import prefkit
    >>> rows = [{"prompt": "2+2?", "response_a": "4", "response_b": "5", "winner": "model_a"},
    ...         {"prompt": "Capital of France?", "response_a": "Lyon", "response_b": "Paris", "winner": "model_b"},
    ...         {"prompt": "Hi", "response_a": "Hello", "response_b": "Hey", "winner": "tie"}]
    >>> result = prefkit.convert(rows, fmt="pairwise", to="sharegpt")
    >>> result.dataset.num_rows, result.report.rejected
    (2, 1)
    >>> result.dataset[1]["chosen"]["value"], result.rejects[0]["reason"]
    ('Paris', 'tie')
    """
    from .pipeline.convert import convert as convert_files

    with _files(source) as (inputs, folder):
        if output is not None:
            return convert_files(inputs, output, fmt, to, **options)
        if options.get("register") or options.get("save_to_disk"):
            raise UsageError("register and save_to_disk write files: give an output path as well")
        with tempfile.TemporaryDirectory(prefix="prefkit-") as own:
            where = folder or own  # beside the rows, so that relative image paths stay as they are
            out, rejects = os.path.join(where, "converted.jsonl"), os.path.join(where, "rejects.jsonl")
            report = convert_files(inputs, out, fmt, to, rejects=rejects, **options)
            report.output = report.rejects_file = None
            rows, rejected = _read_jsonl(out), _read_jsonl(rejects)
            if folder is None:  # files converted into a temporary folder: their image paths made absolute
                _absolute_images(rows, own)
            else:  # rows given in memory: no file to name once the temporary one is gone
                for item in [*rejected, *(vars(source) for source in report.sources)]:
                    for key in ("source", "path"):
                        if item.get(key) == inputs:
                            item[key] = "rows"
            return ConvertResult(_dataset(rows), rejected, report)


def _absolute_images(rows: list[dict[str, Any]], base: str) -> None:
    """Relative paths in the rows' ``images`` column (written relative to ``base``) made absolute."""
    for row in rows:
        images = row.get("images")
        if isinstance(images, list):
            row["images"] = [os.path.normpath(os.path.join(base, p)) if isinstance(p, str) and not os.path.isabs(p)
                             and "://" not in p else p for p in images]


def _dataset(rows: list[dict[str, Any]]) -> Any:
    try:
        from datasets import Dataset
    except ImportError:
        raise UsageError("the converted rows come back as a datasets.Dataset: pip install 'prefkit[hf]' "
                         "(or give an output path)") from None
    return Dataset.from_list(rows)


def validate(source: Any, dataset_dir: str | None = None, **options: Any) -> Any:
    """Check a dataset the way its trainer will read it: a path, a registered NAME (with ``dataset_dir``), a list of
    dicts or a ``datasets.Dataset``. Returns the :class:`prefkit.pipeline.validate.ValidationReport` (its
    ``findings``, ``would_drop`` and ``to_json()``); ``options`` are validate's (``model``, ``cutoff_len``, ``target``, ...).

    >>> import prefkit
    >>> rows = [{"conversations": [{"from": "human", "value": "2+2?"}],
    ...          "chosen": {"from": "gpt", "value": "4"}, "rejected": {"from": "gpt", "value": "4"}}]
    >>> report = prefkit.validate(rows)
    >>> [(f.code, f.index) for f in report.findings.by_level("error")]
    [('identical_answers', 0)]
    """
    from .pipeline.validate import validate as validate_dataset

    with _files(source) as (path, _):
        if isinstance(path, list):
            raise UsageError("validate checks one dataset: give one path or NAME")
        return validate_dataset(path, dataset_dir, **options)
