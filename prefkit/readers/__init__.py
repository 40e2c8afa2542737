"""Readers: one module per raw source format, each ending with its ``SPEC`` (prefkit.readers.spec). ``READERS`` maps
each ``--from`` name to its reader.

Add your own with :func:`register_reader` (see examples/custom_reader.py), or with a ``SPEC`` and an entry point
``prefkit.readers`` (docs/contributing.md).
"""

from __future__ import annotations

from .base import Item, Reader, ReadOptions, RowProblem, reject
from .detect import detect
from .spec import ReaderSpec
from .table import (FORMATS, MAP_FIELDS, NEEDS, READERS, SNIFF_RECORDS, SNIFFERS, after_run, check_mapping, extra_inputs,
                    get_reader, register_reader, spec_of)

__all__ = ["READERS", "FORMATS", "MAP_FIELDS", "NEEDS", "SNIFFERS", "SNIFF_RECORDS", "Item", "ReaderSpec", "after_run",
           "check_mapping", "extra_inputs", "Reader", "ReadOptions", "RowProblem", "detect", "get_reader",
           "register_reader", "reject", "spec_of"]
