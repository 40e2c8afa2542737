"""The Arrow schema of a writer's rows, for ``-o FILE.parquet`` (one type per column: optional columns are nullable,
and Parquet holds TRL's tool definitions and tool-call arguments as JSON text). Each writer names its columns
(``Writer.arrow_fields``) from ``ArrowTypes``; one that names none writes JSON only."""

from __future__ import annotations

from typing import Any

from .. import kinds
from ..errors import UsageError
from .base import ArrowTypes, Writer


def schema(writer: str | type[Writer] | Writer) -> Any:
    """The schema of a writer's rows (a --to name, a Writer class or one); a UsageError for a writer of JSON only."""
    found = kinds.find("writers", writer).load() if isinstance(writer, str) else writer
    types = ArrowTypes.make()
    fields = found.arrow_fields(types)
    if fields is None:
        raise UsageError(f"--to {found.name} writes JSON only (.json or .jsonl), not Parquet")
    return types.pa.schema(fields + [("images", types.pa.list_(types.text))])  # image paths, on the rows with images
