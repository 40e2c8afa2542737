"""The JSON Schemas (2020-12) in ``schemas/``: found in the installed package (``prefkit/schemas/``, put
there by the wheel build) or, in a source checkout, at the repository's top level."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

NAMES = ("sharegpt_ranking", "alpaca_ranking", "openai_ranking", "kto", "dataset_info")


def schema_dir() -> Path:
    here = Path(__file__).resolve().parents[1]  # prefkit/
    for candidate in (here / "schemas", here.parent / "schemas"):
        if (candidate / "dataset_info.schema.json").is_file():
            return candidate
    raise FileNotFoundError("prefkit's schemas/ folder is missing from this installation")


@cache
def load_schema(name: str) -> dict[str, Any]:
    with open(schema_dir() / f"{name}.schema.json", encoding="utf-8") as f:
        return json.load(f)


@cache
def validator(name: str) -> Draft202012Validator:
    """A validator for one schema, with the others resolvable by their file names."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    registry: Registry = Registry()
    for other in NAMES:
        schema = load_schema(other)
        resource = Resource.from_contents(schema)
        registry = registry.with_resources([(schema["$id"], resource), (f"{other}.schema.json", resource)])
    return Draft202012Validator(load_schema(name), registry=registry)


def errors(name: str, instance: Any) -> list[tuple[str, str]]:
    """Every violation as (path, message); the path is like ``conversations[0].from``."""
    out = []
    for error in sorted(validator(name).iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
        out.append((path or "(record)", cut(error.message)))
    return out


def cut(message: str, limit: int = 200) -> str:
    """A jsonschema message quotes the whole offending value: keep reports readable."""
    return message if len(message) <= limit else f"{message[:limit]}... ({len(message):,} characters)"
