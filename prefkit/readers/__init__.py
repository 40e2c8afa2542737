"""Readers: one module per raw source format. ``READERS`` maps each ``--from`` name to its reader.

Add your own with :func:`register_reader` (see examples/custom_reader.py).
"""

from __future__ import annotations

from .base import Item, Reader, ReadOptions, RowProblem, reject
from .detect import detect
from .table import FORMATS, MAP_FIELDS, NEEDS, READERS, SNIFF_RECORDS, SNIFFERS, check_mapping, get_reader, register_reader

__all__ = ["READERS", "FORMATS", "MAP_FIELDS", "NEEDS", "SNIFFERS", "SNIFF_RECORDS", "Item", "check_mapping", "Reader",
           "ReadOptions", "RowProblem", "detect", "get_reader", "register_reader", "reject"]
