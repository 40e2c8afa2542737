"""What a reader is, in one value: each reader module ends with ``SPEC = ReaderSpec(...)``, and ``prefkit/kinds.py``
(or an entry point ``prefkit.readers`` of another package) names it; ``prefkit.readers.table`` builds its tables
from these.

>>> from prefkit.readers.pairwise import SPEC
>>> SPEC.name, SPEC.fields[:3], SPEC.after is not None
('pairwise', ('prompt', 'system', 'query'), True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .base import Reader

# (logical field, the keys a record may hold it under) for each field a record must have to fit the reader
Needs = tuple[tuple[str, tuple[str, ...]], ...]
Sniff = Callable[[dict[str, Any]], bool]
Discovers = Callable[[str], list[str]]  # an input -> the other files its records make the reader read
Detailed = Callable[[str], dict[str, int]]  # a reject reason -> {detail: count} over the whole run
After = Callable[[Detailed, str], None]  # (detailed, the inputs as one string) -> None, or a UsageError


@dataclass(frozen=True)
class ReaderSpec:
    name: str  # the --from name
    read: Reader
    sniff: Sniff | None = None  # whether one record fits: --from auto tries it (none: only --from NAME reads it)
    fields: tuple[str, ...] = ()  # the fields --map FIELD=COLUMN may point at (none: --map is not checked)
    needs: Needs = ()  # what a record must hold (the detection hints list what is missing)
    kto_needs: Needs = ()  # the same for unpaired KTO rows (--to kto), where the reader reads them
    discovers: Discovers | None = None  # files besides the input that a run declares as inputs too
    after: After | None = None  # a check once every record of the run is read (it may stop the run)
    help: str = ""  # one line of --help; built-in readers have theirs in prefkit/kinds.py
