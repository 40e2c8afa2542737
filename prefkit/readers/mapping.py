"""The rule of ``--map``: after a reader's defaults and the user's mapping are combined, a source column feeds at
most one field. Two explicit fields on one column is a usage error; a reader's default column that the user gave
to another field is not read by default any more (``base.claimed``), and the user is told so in one line.

>>> column_notes({"prompt": "input"}, "pairwise")
["--map prompt=input: 'input' is also where --from pairwise looks for query by default; it is read as prompt only"]
"""

from __future__ import annotations

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
