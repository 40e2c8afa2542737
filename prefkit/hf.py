"""Hugging Face ``datasets`` in and out: ``save_to_disk`` folders, Hub-shaped folders and ``hf://`` datasets as
inputs (streamed from their Arrow or Parquet files), and ``--save-to-disk`` for outputs.

An input is a ``datasets`` input when it is ``hf://datasets/ORG/NAME[@REVISION]`` (loaded with
``datasets.load_dataset``: its cache and ``HF_DATASETS_OFFLINE`` apply) or a folder: a ``save_to_disk``
folder (``state.json`` or ``dataset_dict.json``) or a folder laid out like a Hub repository (data files and
a README card), which ``load_dataset`` reads. ``split`` picks the split (default train), ``subset`` the config.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from .errors import InputError, UsageError

SCHEME = "hf://datasets/"
BATCH = 1024


def load(path: str, split: str = "train", subset: str | None = None) -> Any:
    """The ``datasets.Dataset`` of one input's split."""
    try:
        import datasets
    except ImportError:
        raise InputError(f"{path}: reading datasets needs the datasets package: pip install 'prefkit[hf]'") from None
    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    if os.path.isdir(path) and any(os.path.exists(os.path.join(path, f)) for f in ("state.json", "dataset_dict.json")):
        try:
            loaded = datasets.load_from_disk(path)
        except Exception as err:  # datasets raises several types for a damaged folder
            raise InputError(f"{path}: not a readable save_to_disk folder ({_first_line(err)})") from None
        return _split(loaded, path, split)
    if os.path.isdir(path) and not any(os.path.exists(os.path.join(path, f)) for f in ("README.md", "data")):
        raise InputError(f"{path}: is a folder but no datasets folder (one written by save_to_disk, or laid out like "
                         "a Hub repository: a README.md card or a data/ folder); name a file")
    if path.startswith("hf://"):
        if not path.startswith(SCHEME) or len(path[len(SCHEME):].split("@")[0].split("/")) != 2:
            raise InputError(f"{path}: expected hf://datasets/ORG/NAME[@REVISION]")
        name, _, revision = path[len(SCHEME):].partition("@")
    else:
        name, revision = path, ""
    try:
        return datasets.load_dataset(name, subset, split=split, revision=revision or None)
    except ValueError as err:
        raise InputError(f"{path}: {_first_line(err)}") from None
    except Exception as err:  # offline with nothing cached, no such dataset, a damaged cache ...
        offline = " (offline: HF_DATASETS_OFFLINE is set and nothing is cached)" if _offline() else ""
        raise InputError(f"{path}: cannot load the dataset{offline}: {type(err).__name__}: {_first_line(err)}") from None


def rows(path: str, split: str = "train", subset: str | None = None) -> Iterator[dict[str, Any]]:
    """The records of one split as plain dicts, a batch of Arrow rows at a time."""
    dataset = load(path, split, subset).with_format("arrow")
    for batch in dataset.iter(batch_size=BATCH):
        yield from batch.to_pylist()


def check_folder(folder: str, inputs: list[str]) -> None:
    """``--save-to-disk FOLDER``: a folder (new, or one to replace) beside the others, not an input."""
    if os.path.isfile(folder):
        raise UsageError(f"--save-to-disk {folder}: is a file; name a folder")
    parent = os.path.dirname(os.path.abspath(folder))
    if not os.path.isdir(parent):
        raise InputError(f"--save-to-disk {folder}: the folder {parent} does not exist")
    if any(os.path.realpath(folder) == os.path.realpath(p) for p in inputs if not p.startswith("hf://")):
        raise UsageError(f"--save-to-disk {folder}: is also an input; write it to another folder")
    if os.path.isdir(folder) and os.listdir(folder) and not os.path.exists(os.path.join(folder, "state.json")):
        raise UsageError(f"--save-to-disk {folder}: holds files that are not a saved dataset; name a new folder")


def save_to_disk(output: str, folder: str) -> None:
    """Write ``output`` (a prefkit output file) as a ``datasets`` folder as well: saved beside ``folder`` and
    renamed over it, so a failed save leaves a previous one whole."""
    import datasets

    datasets.disable_progress_bars()
    kind = "parquet" if output.lower().endswith(".parquet") else "json"
    dataset = datasets.load_dataset(kind, data_files=output, split="train", cache_dir=None)
    staging = tempfile.mkdtemp(prefix=".prefkit-", dir=os.path.dirname(os.path.abspath(folder)))
    try:
        dataset.save_to_disk(os.path.join(staging, "new"))
        if os.path.isdir(folder):
            os.replace(folder, os.path.join(staging, "old"))
        os.replace(os.path.join(staging, "new"), folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _split(loaded: Any, path: str, split: str) -> Any:
    import datasets

    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise InputError(f"{path}: no split {split!r}; it has {', '.join(loaded)} (choose one with --split)")
        return loaded[split]
    return loaded


def _offline() -> bool:
    return os.environ.get("HF_DATASETS_OFFLINE", "0").lower() in ("1", "true", "yes", "on") or \
        os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:300] if text else type(err).__name__
