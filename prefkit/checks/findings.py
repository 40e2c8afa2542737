"""A finding: one problem in one record (or the dataset), with a stable code and a level."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..names import LEVELS


@dataclass(slots=True)
class Finding:
    code: str
    level: str  # error | warning | info
    index: int | None  # record index (0-based), None for a dataset-level finding
    path: str  # field path inside the record, "" for the whole record
    message: str
    records: int | None = None  # a dataset-level finding about many records (truncated): how many it stands for

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "level": self.level, "index": self.index, "path": self.path, "message": self.message}


@dataclass
class Findings:
    """All findings of a run, kept in order, with counts by code and level."""

    items: list[Finding] = field(default_factory=list)

    def add(self, code: str, level: str, index: int | None, path: str, message: str,
            records: int | None = None) -> None:
        self.items.append(Finding(code, level, index, path, message, records))

    def by_level(self, level: str) -> list[Finding]:
        return [f for f in self.items if f.level == level]

    def counts(self) -> dict[str, dict[str, int]]:
        """{level: {code: records affected}} (a dataset-level finding counts once, or as the records it names)."""
        seen: set[tuple[str, str, int]] = set()
        out: dict[str, Counter] = {level: Counter() for level in LEVELS}
        for f in self.items:
            if f.index is None or (f.level, f.code, f.index) not in seen:
                out[f.level][f.code] += f.records if f.index is None and f.records is not None else 1
                if f.index is not None:
                    seen.add((f.level, f.code, f.index))
        return {level: dict(c.most_common()) for level, c in out.items()}

    def worst_at_least(self, level: str) -> bool:
        """True when any finding is at ``level`` or more severe."""
        rank = LEVELS.index(level)
        return any(LEVELS.index(f.level) <= rank for f in self.items)
