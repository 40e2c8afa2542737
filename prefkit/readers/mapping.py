"""The rules of ``--map``. A column is found as written; else, when it holds dots, as a path into nested objects
(``metadata.score_chosen``; a number indexes a list: ``turns.0``); else as the one column equal to it ignoring case
(``response_a`` finds ``response_A``; two columns that differ only by case must be named exactly). A key that
holds a literal dot is read as written first, so ``--map prompt=a.b`` reads a column ``a.b`` when there is one.

After a reader's defaults and the user's mapping are combined, a source column feeds at
most one field. Two explicit fields on one column is a usage error; a reader's default column that the user gave
to another field is not read by default any more (``base.claimed``), and the user is told so in one line.

>>> column_notes({"prompt": "input"}, "pairwise")
["--map prompt=input: 'input' is also where --from pairwise looks for query by default; it is read as prompt only"]
"""

from __future__ import annotations

from typing import Any

from ..errors import UsageError

# The columns readers look in by default, per field (for the notes only: the readers' own look-ups decide).
DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "prompt": ("prompt", "instruction", "question"), "query": ("input",), "system": ("system",),
    "history": ("history",), "response": ("output",), "messages": ("conversations", "messages"),
    "chosen": ("chosen", "response_chosen", "chosen_messages"),
    "rejected": ("rejected", "response_rejected", "rejected_messages"),
    "response_a": ("response_a", "response1", "answer_a"), "response_b": ("response_b", "response2", "answer_b"),
    "verdict": ("verdict", "winner", "preference", "label"), "votes": ("votes",), "kto_tag": ("kto_tag", "label"),
    "responses": ("responses", "answers"), "scores": ("scores", "ratings"), "completions": ("completions",),
}


def resolve(data: Any, key: str) -> tuple[bool, Any]:
    """(found, value) of column ``key`` in ``data`` by the rules above.

    >>> resolve({"metadata": {"score.v1": 3}, "Response_A": "x"}, "metadata.score.v1"), resolve({"Response_A": "x"}, "response_a")
    ((True, 3), (True, 'x'))
    """
    if isinstance(data, list):
        return (True, data[int(key)]) if key.isdigit() and int(key) < len(data) else (False, None)
    if not isinstance(data, dict):
        return False, None
    if key in data:
        return True, data[key]
    same = [k for k in data if isinstance(k, str) and k.lower() == key.lower()]
    if len(same) == 1:
        return True, data[same[0]]
    start = 0
    while (dot := key.find(".", start)) > 0:  # the longest literal head is not needed: each split is tried in turn
        found, inner = resolve(data, key[:dot])
        if found:
            found, value = resolve(inner, key[dot + 1:])
            if found:
                return True, value
        start = dot + 1
    return False, None


def head_column(key: str) -> str:
    """The top-level column a dotted path starts in (``metadata.score_chosen`` -> ``metadata``)."""
    return key.split(".", 1)[0]


def columns_of(mapping: dict[str, str]) -> dict[str, str]:
    """column -> the field it was mapped to (``votes=a,b`` maps two columns); tag names are no columns."""
    found: dict[str, str] = {}
    for field, column in mapping.items():
        if field.endswith("_tag") and field != "kto_tag":
            continue
        for one in column.split(","):
            if one in found:
                raise UsageError(f"--map {found[one]}={one} and {field}={one}: a column feeds one field; map "
                                 f"{one!r} to one of them")
            found[one] = field
    return found


def column_notes(mapping: dict[str, str], fmt: str, fields: tuple[str, ...] = ()) -> list[str]:
    """One line for each default column of the reader that ``mapping`` gives to another field."""
    notes = []
    for column, field in columns_of(mapping).items():
        for other in fields or DEFAULT_COLUMNS:
            if other != field and other not in mapping and column in DEFAULT_COLUMNS.get(other, ()):
                notes.append(f"--map {field}={column}: {column!r} is also where --from {fmt} looks for {other} by "
                             f"default; it is read as {field} only")
    return notes
