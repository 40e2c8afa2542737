"""The Python API on rows in memory: ``convert`` and ``validate`` take a path, a list of dicts (or a generator of
them), a ``datasets.Dataset`` or a ``pandas.DataFrame`` (prefkit.api_sources says what else, and how values are
converted), and ``convert`` without an output path gives the converted rows back as a ``datasets.Dataset``.

Rows in memory go through the same pipeline as files: they are written to a JSON Lines file in a private temporary
folder, and the converted rows are read back from there. Relative image paths in rows given in memory are kept as
they are; those of files converted without an output path come back absolute. Images that rows carry inside
themselves (``data:`` URLs, image bytes) are written to a folder of their own that outlives the call
(``ConvertResult.images_dir``), and the rows name them by absolute path.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .api_sources import paths_or_rows, text_arg, write_rows
from .api_options import cli_options, names_rows
from .errors import UsageError

ROWS_FILE = "rows.jsonl"  # the temporary file of rows given in memory; the report and rejects call it "rows"


@dataclass
class ConvertResult:
    """What ``convert`` gives back without an output path: the converted rows, the rejects and the report."""

    dataset: Any  # datasets.Dataset
    rejects: list[dict[str, Any]] = field(default_factory=list)
    report: Any = None  # prefkit.pipeline.convert.ConvertReport
    # the folder that holds the images rows carried inside themselves (data: URLs, bytes); None when there were none.
    # It is kept after the call, as the rows name its files: remove it when done (or give an output path instead).
    images_dir: str | None = None


@contextmanager
def _files(source: Any, image_files: bool = False) -> Iterator[tuple[list[str] | str, str | None]]:
    """The source as file paths, and the temporary folder that holds rows in memory (None for paths). Images that
    rows carry as bytes become ``data:`` URLs (convert writes their files), or with ``image_files`` files in that
    folder (validate opens them as the trainer opens a row's image bytes)."""
    given = paths_or_rows(source)
    if isinstance(given, (str, list)):
        yield given, None
        return
    with tempfile.TemporaryDirectory(prefix="prefkit-") as folder:
        path = os.path.join(folder, ROWS_FILE)
        write_rows(given, path, folder if image_files else None)
        yield path, folder


def _read_jsonl(path: str) -> list[dict[str, Any]]:
    """The rows convert wrote (none when it wrote no file: no rejects)."""
    from .io.sources import iter_rows

    return [row.data for row in iter_rows(path)] if os.path.exists(path) else []


@names_rows
def convert(source: Any, output: str | None = None, fmt: str = "auto", to: str = "sharegpt", **options: Any) -> Any:
    """Convert raw preference rows (a path or paths, a list of dicts or a ``datasets.Dataset``).

    With ``output`` this is :func:`prefkit.pipeline.convert.convert` and returns its report; without it the converted rows
    come back in memory as a :class:`ConvertResult` (``.dataset``, ``.rejects``, ``.report``, ``.images_dir``: where
    images that rows carried as ``data:`` URLs or bytes were written, a new temporary folder that is kept). ``options``
    are convert's (``rejects``, ``pairing_strategy``, ``mapping``, ``verdicts``, ``preference_scale``, ``dedup``,
    ``near_dedup``, ...), also under the CLI's names (``map``, ``verdict``, ``pairing``) and with Python values
    (``verdicts={"a": [0], "b": [1]}``, ``mapping={"votes": ["r1", "r2"]}``): prefkit.api_options. Errors about rows
    given in memory name them "rows".

    ``source`` is a path, a list of paths, a list or generator of dicts, a ``datasets.Dataset`` (an ``Image`` column
    is read as its bytes, never decoded) or a ``pandas.DataFrame``; anything else is a ``TypeError`` saying so, and a
    row that is not a dict, or holds a value JSON cannot (a set, bytes that are no image), one naming its row and
    field. numpy numbers and arrays, tuples and datetimes are converted (numbers, lists, ISO text); NaN becomes null.

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
    from .pipeline.convert_options import ConvertOptions
    from .writers.image_files import images_folder

    settings = ConvertOptions(fmt=fmt, to=to).updated(**cli_options(options))

    output = text_arg("convert", "output", output, optional=True)
    with _files(source) as (inputs, folder):
        if output is not None:
            return convert_files(inputs, output, settings)
        if settings.register or settings.save_to_disk:
            raise UsageError("register and save_to_disk write files: give an output path as well")
        with tempfile.TemporaryDirectory(prefix="prefkit-") as own:
            where = folder or own  # beside the rows, so that relative image paths stay as they are
            out, rejects = os.path.join(where, "converted.jsonl"), os.path.join(where, "rejects.jsonl")
            report = convert_files(inputs, out, settings, rejects=rejects)
            report.output = report.rejects_file = None
            rows, rejected = _read_jsonl(out), _read_jsonl(rejects)
            images_dir = _keep_images(rows, where, images_folder(out))
            if folder is None:  # files converted into a temporary folder: their image paths made absolute
                _absolute_images(rows, own)
            else:  # rows given in memory: no file to name once the temporary one is gone
                for item in [*rejected, *(vars(source) for source in report.sources)]:
                    for key in ("source", "path"):
                        if item.get(key) == inputs:
                            item[key] = "rows"
            return ConvertResult(_dataset(rows), rejected, report, images_dir)


def _keep_images(rows: list[dict[str, Any]], where: str, folder: str) -> str | None:
    """The images convert wrote into ``folder`` (inside the temporary folder ``where``) moved to a new folder that
    outlives the call, and the rows' paths to them made absolute; None when convert wrote none."""
    if not os.path.isdir(folder):
        return None
    kept = tempfile.mkdtemp(prefix="prefkit-images-")
    for name in os.listdir(folder):
        shutil.move(os.path.join(folder, name), os.path.join(kept, name))
    for row in rows:
        images = row.get("images")
        if isinstance(images, list):
            row["images"] = [os.path.join(kept, os.path.basename(p)) if isinstance(p, str) and "://" not in p
                             and os.path.dirname(os.path.normpath(os.path.join(where, p))) == folder else p
                             for p in images]
    return kept


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


def validate(source: Any = None, dataset_dir: str | None = None, config: str | None = None, **options: Any) -> Any:
    """Check a dataset the way its trainer will read it: a path, a registered NAME (with ``dataset_dir``), a list of
    dicts (or a generator of them), a ``datasets.Dataset`` or a ``pandas.DataFrame``, taken as :func:`convert` takes
    them (anything else is a ``TypeError`` saying what is taken). Returns the
    :class:`prefkit.pipeline.validate.ValidationReport` (its ``findings``, ``would_drop`` and ``to_json()``);
    ``options`` are validate's (``model``, ``cutoff_len``, ``target``, ...). ``config`` (a training YAML: LLaMA-Factory
    v0 or v1, or TRL's) validates the dataset(s) it names as its trainer reads them; ``source`` then overrides its
    dataset, and ``flags={"cutoff_len": 512, ...}`` its values.

    >>> import prefkit
    >>> rows = [{"conversations": [{"from": "human", "value": "2+2?"}],
    ...          "chosen": {"from": "gpt", "value": "4"}, "rejected": {"from": "gpt", "value": "4"}}]
    >>> report = prefkit.validate(rows)
    >>> [(f.code, f.index) for f in report.findings.by_level("error")]
    [('identical_answers', 0)]
    """
    from .pipeline.validate import validate as validate_dataset

    dataset_dir = text_arg("validate", "dataset_dir", dataset_dir, optional=True)
    if config is not None:
        if dataset_dir is not None:
            options.setdefault("flags", {})["dataset_dir"] = dataset_dir
        from .pipeline.validate_config import FLAG_KEYS, validate_config

        # validate's own options (model=, cutoff_len=, ...) beside a config override it, as flags= does
        flags = {**options.pop("flags", {}), **{k: options.pop(k) for k in list(options)
                                                if any(k in keys for keys in FLAG_KEYS.values())}}
        return validate_config(os.fspath(config), None if source is None else os.fspath(source), flags, **options)
    with _files(source, image_files=True) as (path, _):
        if isinstance(path, list):
            raise UsageError("validate checks one dataset: give one path or NAME")
        return validate_dataset(path, dataset_dir, **options)
