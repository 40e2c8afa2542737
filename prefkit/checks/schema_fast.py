"""A fast yes/no check for the JSON Schema subset prefkit's schemas use, compiled into closures.

jsonschema reports every violation with its path but costs about 0.6 ms a row; this answers "valid?"
in a few microseconds. validate runs jsonschema only on rows this rejects, so the reported errors are
still jsonschema's own. Keywords: type, enum, required, properties, additionalProperties, items,
prefixItems, minItems, maxItems, minLength, minimum, anyOf, $ref (local). tests/checks prove that its
answer equals ``jsonschema``'s on generated rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]
_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool) or isinstance(v, float) and v.is_integer(),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "null": lambda v: v is None,
}
SUPPORTED = {"type", "enum", "required", "properties", "additionalProperties", "items", "prefixItems", "minItems",
             "maxItems", "minLength", "minimum", "anyOf", "$ref", "$schema", "$id", "$defs", "title", "description"}


def compile_schema(schema: dict[str, Any], root: dict[str, Any] | None = None) -> Check:
    root = root or schema
    unknown = set(schema) - SUPPORTED
    if unknown:
        raise ValueError(f"schema_fast cannot compile keywords {sorted(unknown)}")
    checks: list[Check] = []
    if "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"schema_fast follows local references only, not {ref!r}")
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        cache: list[Check] = []

        def ref_check(v: Any, target: dict[str, Any] = target) -> bool:
            if not cache:
                cache.append(compile_schema(target, root))
            return cache[0](v)

        checks.append(ref_check)
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        tests = [_TYPES[k] for k in kinds]
        checks.append(tests[0] if len(tests) == 1 else lambda v: any(t(v) for t in tests))
    if "enum" in schema:
        allowed = schema["enum"]
        if all(type(a) is str for a in allowed):  # the usual case (roles): a set lookup
            names = frozenset(allowed)
            checks.append(lambda v: type(v) is str and v in names)
        else:
            checks.append(lambda v: any(v == a and type(v) is type(a) for a in allowed))
    if "required" in schema:
        required = frozenset(schema["required"])
        checks.append(lambda v: not isinstance(v, dict) or v.keys() >= required)
    if "properties" in schema or "additionalProperties" in schema:
        props = {k: compile_schema(s, root) for k, s in schema.get("properties", {}).items()}
        extra = schema.get("additionalProperties", True)
        extra_check: Check | None = compile_schema(extra, root) if isinstance(extra, dict) else None

        def object_check(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            for key, value in v.items():
                check = props.get(key)
                if check is not None:
                    if not check(value):
                        return False
                elif extra is False:
                    return False
                elif extra_check is not None and not extra_check(value):
                    return False
            return True

        checks.append(object_check)
    if "items" in schema or "prefixItems" in schema:
        prefix = [compile_schema(s, root) for s in schema.get("prefixItems", [])]
        items = compile_schema(schema["items"], root) if isinstance(schema.get("items"), dict) else None

        def array_check(v: Any) -> bool:
            if not isinstance(v, list):
                return True
            for i, value in enumerate(v):
                check = prefix[i] if i < len(prefix) else items
                if check is not None and not check(value):
                    return False
            return True

        checks.append(array_check)
    for key, test in (("minItems", lambda v, n: not isinstance(v, list) or len(v) >= n),
                      ("maxItems", lambda v, n: not isinstance(v, list) or len(v) <= n),
                      ("minLength", lambda v, n: not isinstance(v, str) or len(v) >= n),
                      ("minimum", lambda v, n: not _TYPES["number"](v) or v >= n)):
        if key in schema:
            checks.append(lambda v, n=schema[key], test=test: test(v, n))
    if "anyOf" in schema:
        options = [compile_schema(s, root) for s in schema["anyOf"]]
        checks.append(lambda v: any(o(v) for o in options))
    return _all(checks)


def _all(checks: list[Check]) -> Check:
    """One check that passes when every one of ``checks`` does (in order, stopping at the first failure)."""
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda v: first(v) and second(v)

    def every(v: Any) -> bool:
        for check in checks:
            if not check(v):
                return False
        return True

    return every
