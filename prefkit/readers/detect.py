"""``--from auto``: which reader fits a file, and when none does, what is missing and which ``--from``/``--map``
line would read it (run on the sampled records, verdict included, before it is suggested: prefkit.readers.hints)."""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice
from typing import Any

from ..errors import InputError
from ..io.sources import Row, encoding_hint
from .columns import ALIASES, JUDGE, OTHER_SIDE, guess_mapping, present  # noqa: F401  (the hints' naming rules)
from .table import SNIFF_RECORDS, SNIFFERS


def detect(rows: list[Row], path: str, target: str = "sharegpt") -> str:
    """The format whose sniffer accepts the most of the first records (at least half of them); on a tie
    the more specific format (earlier in SNIFFERS) wins. Otherwise an InputError with the keys seen, the
    two closest formats and what each is missing, and a ``--from``/``--map`` line that reads the sample."""
    head = list(islice(rows, SNIFF_RECORDS))
    sample = [r for r in head if r.error is None and isinstance(r.data, dict)]
    records = [r.data for r in sample]
    if not records:
        hint = encoding_hint(path) if head and all(r.reason == "invalid_json" for r in head) else ""
        raise InputError(f"{path}: no JSON object among the first records to detect the format from{hint}; "
                         "pass --from")
    fits = {name: sum(_safe(sniff, r) for r in records) for name, sniff in SNIFFERS.items()}
    best = max(fits, key=lambda name: fits[name])  # max keeps the first of equal counts
    if 2 * fits[best] >= len(records):
        return best
    raise InputError(f"{path}: cannot detect the format; {hints(sample, target)}")


def hints(sample: list[Row], target: str = "sharegpt") -> str:
    """What is missing and the line that reads the sample, each suggestion run first (prefkit.readers.hints)."""
    from .hints import advise

    return advise(sample, target)


def _safe(sniff: Callable[[dict[str, Any]], bool], record: dict[str, Any]) -> bool:
    try:
        return bool(sniff(record))
    except Exception:  # a sniffer meeting an odd record just does not fit
        return False
