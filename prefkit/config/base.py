"""What every parsed trainer config holds: the file, the values counted with, the file's own keys, what flags
overrode and what prefkit does not model (the report's ``config``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ConfigFile:
    path: str
    values: dict[str, Any]
    given: dict[str, Any]  # the file's own keys and values
    overridden: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # key -> (the file's value, the flag's)
    not_modelled: list[tuple[str, Any, str]] = field(default_factory=list)  # (key, value, what it changes)
    not_about_data: list[str] = field(default_factory=list)  # training/model keys that do not touch the rows
    engine: str = ""

    def used(self) -> dict[str, Any]:
        return dict(self.values)

    def to_json(self) -> dict[str, Any]:
        return {"file": self.path, "engine": self.engine, "values": self.used(), "given": sorted(self.given),
                "overridden": {k: {"file": f, "flag": v} for k, (f, v) in self.overridden.items()},
                "not_modelled": [{"key": k, "value": v, "changes": why} for k, v, why in self.not_modelled],
                "not_about_data": self.not_about_data}
