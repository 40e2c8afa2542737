"""Writers: records -> the rows of one output format (``--to``), with the registry entry that reads them back.
``WRITERS`` maps each name to its Writer class: the built-ins and those that installed packages add (prefkit.kinds);
images referenced by data: URLs are written out here too."""

from __future__ import annotations

from functools import cache
from typing import Any

from .. import kinds
from ..errors import UsageError
from ..records import KtoExample
from .base import Writer

WRITERS: kinds.Table[type[Writer]] = kinds.Table("writers")  # name -> Writer class, loaded on first use


def get_writer(name: str, parquet: bool = False, **options: Any) -> Writer:
    """The writer ``name`` for rows going to Parquet or not, with its options (None: not given).

    >>> get_writer("lf-v1", weight=2.0).entry("d.jsonl")["weight"]
    2.0
    >>> get_writer("sharegpt", weight=2.0)
    Traceback (most recent call last):
    prefkit.errors.UsageError: --weight is a key of LLaMA-Factory v1's dataset YAML: use it with --to lf-v1, not --to sharegpt
    """
    if name not in WRITERS:
        raise UsageError(f"unknown output format {name!r} for --to; choose one of {', '.join(WRITERS)}")
    writer = WRITERS[name]
    given = {key: value for key, value in options.items() if value is not None}
    for key in sorted(given.keys() - writer.options.keys()):
        flag, takers = f"--{key.replace('_', '-')}", [w for w in WRITERS.values() if key in w.options]
        if not takers:
            raise UsageError(f"{flag}: no --to takes it")
        raise UsageError(f"{flag} is {takers[0].options[key]}: use it with --to {' or '.join(w.name for w in takers)}, "
                         f"not --to {name}")
    return writer(parquet=parquet, **given)


@cache
def writes_kto(name: str) -> bool:
    """Whether ``--to name`` writes KTO examples (counted as examples, never pairs); False for a name of no writer."""
    return name in WRITERS and WRITERS[name].record_type is KtoExample


__all__ = ["WRITERS", "Writer", "get_writer", "writes_kto"]
