"""Readers: one module per raw source format. ``READERS`` maps each ``--from`` name to its reader.

Add your own with :func:`register_reader` (see examples/custom_reader.py).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice
from typing import Any

from ..errors import InputError, UsageError
from ..names import READER_NAMES
from ..sources import Row
from . import alpaca, hh_rlhf, oasst, openai, openai_logs, pairwise, ratings, sharegpt, trl
from .base import Item, Reader, ReadOptions, RowProblem, reject

READERS: dict[str, Reader] = {
    "sharegpt": sharegpt.read,
    "alpaca": alpaca.read,
    "openai": openai.read,
    "hh-rlhf": hh_rlhf.read,
    "oasst": oasst.read,
    "ratings": ratings.read,
    "pairwise": pairwise.read,
    "openai-logs": openai_logs.read,
    "trl": trl.read,
}
# Most specific first: auto-detection takes the first format that fits every sampled record.
SNIFFERS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "openai-logs": openai_logs.sniff,
    "oasst": oasst.sniff,
    "hh-rlhf": hh_rlhf.sniff,
    "openai": openai.sniff,
    "sharegpt": sharegpt.sniff,
    "pairwise": pairwise.sniff,
    "ratings": ratings.sniff,
    "alpaca": alpaca.sniff,
    "trl": trl.sniff,
}
assert tuple(READERS) == READER_NAMES, "prefkit.names.READER_NAMES must list the built-in readers"
FORMATS = (*READERS, "auto")
SNIFF_RECORDS = 20


def register_reader(name: str, reader: Reader, sniff: Callable[[dict[str, Any]], bool] | None = None) -> None:
    """Make ``reader`` available as ``--from name`` (and to auto-detection when ``sniff`` is given)."""
    READERS[name] = reader
    if sniff is not None:
        SNIFFERS[name] = sniff


def get_reader(name: str) -> Reader:
    if name not in READERS:
        raise UsageError(f"unknown format {name!r} for --from; choose one of {', '.join(FORMATS)}")
    return READERS[name]


def detect(rows: list[Row], path: str) -> str:
    """The format whose sniffer accepts the most of the first records (at least half of them);
    on a tie the more specific format (earlier in SNIFFERS) wins."""
    records = [r.data for r in islice(rows, SNIFF_RECORDS) if r.error is None and isinstance(r.data, dict)]
    if not records:
        raise InputError(f"{path}: no JSON object among the first records to detect the format from; pass --from")
    fits = {name: sum(_safe(sniff, r) for r in records) for name, sniff in SNIFFERS.items()}
    best = max(fits, key=lambda name: fits[name])  # max keeps the first of equal counts
    if 2 * fits[best] < len(records):
        partly = [f"{name} ({n}/{len(records)})" for name, n in fits.items() if n]
        hint = f"; closest: {', '.join(partly)}" if partly else ""
        keys = ", ".join(sorted(records[0])[:8])
        raise InputError(f"{path}: cannot detect the format from keys {keys}{hint}; pass --from FORMAT")
    return best


def _safe(sniff: Callable[[dict[str, Any]], bool], record: dict[str, Any]) -> bool:
    try:
        return bool(sniff(record))
    except Exception:  # a sniffer meeting an odd record just does not fit
        return False


__all__ = ["READERS", "FORMATS", "Item", "Reader", "ReadOptions", "RowProblem", "detect", "get_reader",
           "register_reader", "reject"]
