"""Schema check: the JSON Schema in schemas/ for the dataset's layout, adapted to its entry's columns and
tags, applied to every row; every violation is reported with its path."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..vocab import OPENAI_TAGS
from .acceptance import TAG_DEFAULTS, Attr
from .schema_fast import compile_schema
from .schema_files import cut, load_schema, validator

if TYPE_CHECKING:  # jsonschema loads only for a row that the compiled check fails (~60 ms of every validate)
    from jsonschema import Draft202012Validator

_SHAREGPT_COLUMNS = {"messages": "conversations", "chosen": "chosen", "rejected": "rejected", "system": "system",
                     "tools": "tools", "kto_tag": "kto_tag"}
_ALPACA_COLUMNS = {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected",
                   "system": "system", "history": "history"}


def schema_name(attr: Attr) -> str | None:
    if attr.formatting == "alpaca":
        return "alpaca_ranking" if attr.ranking else None
    if attr.stage == "kto":
        return "kto" if attr.formatting == "sharegpt" else None
    if attr.ranking:
        return "openai_ranking" if attr.formatting == "openai" else "sharegpt_ranking"
    return None


def _rename_properties(schema: dict[str, Any], renames: dict[str, str | None]) -> None:
    props = schema["properties"]
    new_props, required = {}, []
    for key, value in props.items():
        target = renames.get(key, key)
        if target:
            new_props[target] = value
    for key in schema.get("required", []):
        target = renames.get(key, key)
        if target:
            required.append(target)
    schema["properties"], schema["required"] = new_props, required


def row_validator(attr: Attr) -> Draft202012Validator | None:
    """A validator for one row of this entry's layout (None when prefkit has no schema for it)."""
    found = row_schema(attr)
    return found.full() if found is not None else None


def row_schema(attr: Attr) -> RowSchema | None:
    """The schema of one row of this entry's layout, its validator built when first needed (None when prefkit has
    no schema for it)."""
    name = schema_name(attr)
    if name is None:
        return None
    defaults = _ALPACA_COLUMNS if attr.formatting == "alpaca" else _SHAREGPT_COLUMNS
    if name == "openai_ranking":
        defaults = {**defaults, "messages": "messages"}
    column_renames = {default: attr.column(field) for field, default in defaults.items()}
    default_tags = OPENAI_TAGS if name == "openai_ranking" else TAG_DEFAULTS
    if name != "kto" and all(attr.column(f) in (d, None) for f, d in defaults.items()) and attr.tags == default_tags:
        # the file as shipped (kto's refers to another file: inlined below)
        return RowSchema(load_schema(name), lambda: validator(name))
    schema = copy.deepcopy(load_schema(name))
    if name == "kto":  # its messages are the sharegpt message definition; inline it to rename its keys
        schema["$defs"] = copy.deepcopy(load_schema("sharegpt_ranking")["$defs"])
        schema["properties"]["conversations"]["items"] = {"$ref": "#/$defs/message"}
    _rename_properties(schema, {k: v for k, v in column_renames.items() if v != k})
    if attr.formatting != "alpaca":
        role, content = attr.tags["role_tag"] or "from", attr.tags["content_tag"] or "value"
        all_roles = [attr.tags[t] for t in ("user_tag", "assistant_tag", "observation_tag", "function_tag",
                                            "system_tag") if attr.tags[t]]
        answer_roles = [attr.tags[t] for t in ("assistant_tag", "function_tag") if attr.tags[t]]
        for name_, roles in (("message", all_roles), ("answer", answer_roles)):
            definition = schema["$defs"].get(name_)
            if definition is None:
                continue
            props = definition["properties"]
            old_role, old_content = ("role", "content") if "role" in props else ("from", "value")
            props[role] = {**props.pop(old_role), "enum": roles}
            props[content] = props.pop(old_content)
            definition["required"] = [role, content]

    def full() -> Draft202012Validator:
        from jsonschema import Draft202012Validator

        return Draft202012Validator(schema)

    return RowSchema(schema, full)


class RowSchema:
    """Every schema violation of a row, with its path: a compiled quick check first, jsonschema (``full``, built on
    the first row the quick check fails) for the rest."""

    def __init__(self, schema: dict[str, Any], full: Callable[[], Draft202012Validator]) -> None:
        self.quick = compile_schema(schema)
        self.full = full
        self._validator: Draft202012Validator | None = None

    def errors(self, row: Any) -> list[tuple[str, str]]:
        if self.quick(row):
            return []
        if self._validator is None:
            self._validator = self.full()
        return row_errors(self._validator, row)


def row_errors(check: Draft202012Validator, row: Any) -> list[tuple[str, str]]:
    out = []
    for error in sorted(check.iter_errors(row), key=lambda e: list(map(str, e.absolute_path))):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
        out.append((path, cut(error.message)))
    return out
