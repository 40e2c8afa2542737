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

from ..errors import InputError, first_line

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
            raise InputError(f"{path}: not a readable save_to_disk folder ({first_line(err)})") from None
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
        raise InputError(f"{path}: {first_line(err)}") from None
    except Exception as err:  # offline with nothing cached, no such dataset, a damaged cache ...
        offline = " (offline: HF_DATASETS_OFFLINE is set and nothing is cached)" if _offline() else ""
        raise InputError(f"{path}: cannot load the dataset{offline}: {type(err).__name__}: {first_line(err)}") from None


def rows(path: str, split: str = "train", subset: str | None = None) -> Iterator[dict[str, Any]]:
    """The records of one split as plain dicts, a batch of Arrow rows at a time."""
    dataset = load(path, split, subset).with_format("arrow")
    for batch in dataset.iter(batch_size=BATCH):
        yield from batch.to_pylist()


def not_saved(names: list[str]) -> list[str]:
    """The names in a folder that ``Dataset.save_to_disk`` did not write (all of them where no state.json says it
    is a saved dataset): only a folder without any of these may be replaced by --save-to-disk."""
    if "state.json" not in names:
        return names
    return [n for n in names if n not in ("state.json", "dataset_info.json")
            and not (n.startswith("data-") and n.endswith(".arrow"))]


def save_to_disk(rows_file: str, parquet: bool, folder: str, target: str) -> None:
    """Write ``rows_file`` (a finished prefkit output: JSON rows, or Parquet) as a ``datasets`` folder into the empty
    ``folder`` (the run harness stages it there and renames it over ``target``). The ``datasets`` cache it needs lives in
    a folder beside and is removed, so nothing is left behind."""
    import datasets

    datasets.disable_progress_bars()
    from .files import temp_name

    cache = tempfile.mkdtemp(prefix=temp_name("cache"), suffix=".tmp", dir=os.path.dirname(os.path.abspath(folder)))
    try:
        dataset = datasets.load_dataset("parquet" if parquet else "json", data_files=rows_file, split="train",
                                        cache_dir=cache)
        dataset.save_to_disk(folder)
        del dataset  # its Arrow files live in the cache
    except Exception as err:  # datasets raises many types; the output itself is fine
        raise InputError(f"--save-to-disk {target}: datasets cannot save the output: {first_line(err)}") from None
    finally:
        shutil.rmtree(cache, ignore_errors=True)


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
