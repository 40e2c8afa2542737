"""Which source column each field of a converted record came from (``prompt <- input``, ``chosen <- output_2
(label=2)``): the first records a reader makes, as a writer would write them, every turn of the prompt shown
(``history`` lines, then the last user turn). ``convert --preview`` and the detection hints show them, so a wrong
``--map`` guess is visible at a glance."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..io.sources import Row
from ..records import KtoExample, Note, PreferencePair, Reject, UnlabeledPair
from ..writers.base import Writer, adapt
from . import base
from .base import ReadOptions

SHOWN = 70  # characters of a value shown


@dataclass
class Previewed:
    """One record as it would be written (``row``), or the reason it would be rejected."""

    source: str
    index: int
    fields: list[tuple[str, str, str]] = field(default_factory=list)  # (field, <- columns, value)
    row: dict[str, Any] | None = None
    rejected: str = ""


def show_rows(rows: Iterator[Row], reader: Any, writer: Writer, options: ReadOptions, n: int) -> list[Previewed]:
    """The first ``n`` records that ``reader`` makes of ``rows``, as ``writer`` would write them."""
    shown: list[Previewed] = []
    kept: dict[int, Any] = {}
    for previewed in _records(_keep(rows, kept), reader, writer, options, kept):
        if shown and shown[-1].index == previewed.index and shown[-1].source == previewed.source:
            shown[-1].fields += previewed.fields
            continue
        if len(shown) == n:
            break
        shown.append(previewed)
    return shown


def _keep(rows: Iterator[Row], kept: dict[int, Any]) -> Iterator[Row]:
    for row in rows:
        kept[row.index] = row.data
        yield row


def _records(rows: Iterator[Row], reader: Any, writer: Writer, options: ReadOptions,
             kept: dict[int, Any]) -> Iterator[Previewed]:
    base.SOURCES = sources = {}
    last, columns = -1, {}
    try:
        for item in reader(rows, options):
            if isinstance(item, Note):
                continue
            index = item.index if isinstance(item, Reject) else item.provenance.index
            if index != last:  # the look-ups since the last record are this record's
                last, columns = index, dict(sources)
                sources.clear()
            if isinstance(item, Reject):
                yield Previewed(item.source, index, rejected=f"{item.reason}: {item.message}")
                continue
            adapted = adapt(item, writer)
            if isinstance(adapted, Reject):
                yield Previewed(item.provenance.source, index, rejected=f"{adapted.reason}: {adapted.message}")
                continue
            for record in adapted:
                yield Previewed(item.provenance.source, index, _fields(record, columns, kept.get(index)),
                                writer.row(record))
    finally:
        base.SOURCES = None


def _fields(record: Any, columns: dict[str, str], data: Any) -> list[tuple[str, str, str]]:
    def origin(*names: str) -> str:
        found = [columns[n] for n in names if n in columns]
        return " + ".join(found) or "?"

    prompt = record.prompt[-1].content if record.prompt else ""
    source = origin("prompt", "query") if "prompt" in columns else origin("messages", "input")
    out = [("system", origin("system"), record.system)] if record.system else []
    out += [("history", source, f"{m.role}: {m.content}") for m in record.prompt[:-1]]  # the whole prompt, turn by turn
    out.append(("prompt", source, prompt))
    if isinstance(record, PreferencePair):
        winner = record.metadata.get("winner") if isinstance(record.metadata, dict) else None
        if winner in ("a", "b"):
            said = _verdict(columns, data)
            sides = {"a": origin("response_a"), "b": origin("response_b")}
            loser = "b" if winner == "a" else "a"
            out += [("chosen", f"{sides[winner]}{said}", record.chosen.content),
                    ("rejected", sides[loser], record.rejected.content)]
        else:
            out += [("chosen", origin("chosen", "responses", "completions"), record.chosen.content),
                    ("rejected", origin("rejected", "responses", "completions"), record.rejected.content)]
    elif isinstance(record, KtoExample):
        out.append(("completion" + (" (desirable)" if record.label else " (undesirable)"),
                    origin("completion", "response", "chosen", "rejected", "messages"), record.completion.content))
    elif isinstance(record, UnlabeledPair):
        out += [("response_a", origin("response_a"), record.response_a.content),
                ("response_b", origin("response_b"), record.response_b.content)]
    return out


def _verdict(columns: dict[str, str], data: Any) -> str:
    """`` (label=2)``: the verdict column and its value in the source record."""
    column = columns.get("verdict") or columns.get("votes")
    if not column or not isinstance(data, dict):
        return ""
    values = [str(data.get(c)) for c in column.split(",")]
    return f" ({column}={','.join(values)})"


def render(item: Previewed) -> str:
    """The record, field by field, as the terminal shows it."""
    head = f"record {item.index} of {os.path.basename(item.source)}:"
    if item.rejected:
        return f"{head} rejected ({item.rejected})"
    width = max(len(name) for name, _, _ in item.fields)
    lines = [f"  {name:<{width}} <- {origin}: {_short(value)}" for name, origin, value in item.fields]
    return "\n".join([head, *lines])


def _short(value: str) -> str:
    return repr(value if len(value) <= SHOWN else value[:SHOWN] + "...")
