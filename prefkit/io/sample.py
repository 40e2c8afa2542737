"""A file's first records, and which of several candidates they are: the one sampler and the one detector behind
``--from auto`` (prefkit.readers.detect), a file's target (prefkit.targets.target_of_file) and the dataset_info
entry of a file (prefkit.registry.info.detect_entry).

>>> rows = [{"chosen": "a", "rejected": "b"}, {"prompt": "p"}, {"chosen": "c", "rejected": "d"}]
>>> detect([("pairs", lambda r: "chosen" in r), ("prompts", lambda r: "prompt" in r)], rows)
'pairs'
>>> detect([("prompts", lambda r: "prompt" in r)], rows) is None  # fits one of three: less than half
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from .sources import Row, first_rows, iter_rows

SAMPLE_RECORDS = 20  # rows read to recognise a file's format or layout (fewer when they are huge: first_rows)

T = TypeVar("T")
Predicate = Callable[[dict[str, Any]], Any]


def sample_rows(source: str | Iterable[Row]) -> list[Row]:
    """The first SAMPLE_RECORDS rows of a file (a path) or of rows, readable or not; fewer when they hold
    ``SAMPLE_BYTES`` of text (a sample never holds 20 records of 20 MB)."""
    rows = iter_rows(source) if isinstance(source, str) else iter(source)
    try:
        return first_rows(rows, SAMPLE_RECORDS)
    finally:
        if isinstance(source, str):
            rows.close()  # type: ignore[attr-defined]  # iter_rows' generator: its file closes now


def readable(rows: Iterable[Row]) -> list[Row]:
    """The rows that parsed into a JSON object."""
    return [r for r in rows if r.error is None and isinstance(r.data, dict)]


def sample(source: str | Iterable[Row]) -> list[dict[str, Any]]:
    """The readable records (JSON objects) among the first rows of a file or of rows (:func:`sample_rows`)."""
    return [r.data for r in readable(sample_rows(source))]


def fits(predicate: Predicate, record: dict[str, Any]) -> bool:
    """Whether a record fits; a predicate that raises on an odd record just does not fit."""
    try:
        return bool(predicate(record))
    except Exception:
        return False


def detect(candidates: Iterable[tuple[T, Predicate]], records: Sequence[dict[str, Any]]) -> T | None:
    """The candidate whose predicate fits the most records, the first of equal counts, when it fits at least half of
    them (and one); None otherwise."""
    best, most = None, 0
    for candidate, predicate in candidates:
        count = sum(fits(predicate, r) for r in records)
        if count > most:
            best, most = candidate, count
    return best if most and 2 * most >= len(records) else None
