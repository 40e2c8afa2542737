"""``prefkit register``: add a file to dataset_info.json once LLaMA-Factory's converter accepts its first records."""

from __future__ import annotations

import os
from typing import Any

from ..errors import DataError, RegistryError
from ..io.run import Run
from ..io.sources import check_regular
from .info import check_name, detect_entry, editing, info_path, sample
from .lint import acceptance


def register(name: str, file: str, dataset_dir: str, force: bool = False, layout: str | None = None,
             entry: dict[str, Any] | None = None) -> dict[str, Any]:
    """Register ``file`` under ``name`` in ``dataset_dir``/dataset_info.json and return the entry.

    ``entry`` is the exact entry when prefkit wrote the file; otherwise it is detected from the file.
    """
    return registration(name, file, dataset_dir, force, layout, entry)[0]


def registration(name: str, file: str, dataset_dir: str, force: bool = False, layout: str | None = None,
                 entry: dict[str, Any] | None = None) -> tuple[dict[str, Any], str]:
    """``register``, returning the entry and what it did: "added", "unchanged" or "replaced"."""
    check_regular(file)  # a FIFO or device: refused as such
    if not os.path.isfile(file):
        raise RegistryError(f"{file}: no such file")
    check_name(name)
    with Run([file]) as run:  # declared: the registry is written by the run, never the dataset file
        run.registry(info_path(dataset_dir))
        entry = entry if entry is not None else detect_entry(file, dataset_dir, layout)
        problems = acceptance(entry, sample(file), file)
        if problems:
            raise DataError(f"{file}: not registered: {problems[0]}")
        with editing(dataset_dir, run=run) as editor:
            status = editor.put(name, entry, force)
    return entry, status
