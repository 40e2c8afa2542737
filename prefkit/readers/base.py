"""What every reader shares: options, field look-up with ``--map``, and turning problems into rejects.

A reader is a function ``(rows, options) -> Iterator[PreferencePair | KtoExample | Reject | Note]``.
It must account for every row: each yields at least one record (with ``provenance.index`` = the row's
index) or exactly one Reject for it. ``prefkit.pipeline.convert`` checks this and fails loudly otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError

from ..errors import unexpected
from ..io.sources import Row
from ..records import (RECORD_CHECKS, RECORD_TYPES, KtoExample, Message, Note, PreferencePair, Provenance, Reject,
                       RowProblem, UnlabeledPair)
from .image_parts import IMAGE_TYPES, image_paths  # noqa: F401  (readers take image_paths from here)
from .mapping import resolve

if TYPE_CHECKING:
    from ..hygiene import Decontaminator

T = TypeVar("T")
Item = PreferencePair | KtoExample | UnlabeledPair | Reject | Note
Reader = Callable[[Iterable[Row], "ReadOptions"], Iterator[Item]]


@dataclass
class ReadOptions:
    # the --to name: readers with a KTO signal use it when its writer writes KTO examples (kto, trl-kto, axolotl-kto
    # ...); pairwise yields pairs to label (a verdict, if any, as a suggestion) when "unlabeled".
    target: str = "sharegpt"
    pairing: str = "best-vs-worst"
    min_margin: float = 0.0
    # FIELD=COLUMN overrides from --map: which input key holds each logical field (and sharegpt tags).
    mapping: dict[str, str] = field(default_factory=dict)
    # pairwise verdict values: {"a": [...], "b": [...], "tie": [...], "failed": [...]}
    verdicts: dict[str, list[str]] | None = None
    # pairwise continuous preference: (LOW, HIGH); |value - midpoint| <= tie_band is a tie
    scale: tuple[float, float] | None = None
    tie_band: float = 0.0
    # which split and config of a datasets input (a save_to_disk folder, a Hub-shaped folder, hf://...)
    split: str = "train"
    subset: str | None = None
    format: str = ""
    # judge layouts (fastchat-judge, arena-hard): question.jsonl and the model_answer folder, when not found
    # beside the judgment file
    questions: str | None = None
    answers: str | None = None
    # --decontaminate: a record that holds a benchmark item is rejected (contaminated) in the per-row map
    decontaminate: Decontaminator | None = None

    @property
    def kto(self) -> bool:
        """The writer writes KTO examples (its record_type), so readers with a KTO signal use it."""
        from ..writers import writes_kto

        return writes_kto(self.target)

    @property
    def unlabeled(self) -> bool:
        return self.target == "unlabeled"


def reject(row: Row, reason: str, message: str, detail: str = "") -> Reject:
    return Reject(source=row.source, index=row.index, line=row.line, reason=reason,
                  message=message, record=row.data, detail=detail)


def provenance(row: Row, fmt: str, merged: list[int] | None = None) -> Provenance:
    return Provenance(source=row.source, index=row.index, line=row.line, format=fmt, merged=merged or [])


def per_row(fmt: str, convert: Callable[[Row, ReadOptions], Iterable[Item]]) -> Reader:
    """Build a reader from a per-row function. Parse errors, RowProblems and invalid records become
    rejects; a row that yields no record at all becomes a ``no_pairs`` reject."""

    def read(rows: Iterable[Row], options: ReadOptions) -> Iterator[Item]:
        for row in rows:
            items = attempt(row, _listed, convert, row, options)
            if isinstance(items, Reject):
                yield items
                continue
            if not any(isinstance(i, RECORD_TYPES) for i in items):
                # Readers raise RowProblem with a precise reason; this is the fallback.
                what = "KTO example" if options.kto else "preference pair"
                yield reject(row, "no_pairs", f"record yields no {what}")
                continue
            yield from items

    read.__name__ = f"read_{fmt.replace('-', '_')}"
    return read


def _listed(convert: Callable[[Row, ReadOptions], Iterable[Item]], row: Row, options: ReadOptions) -> list[Item]:
    return list(convert(row, options))


def attempt(row: Row, work: Callable[..., T], *args: Any) -> T | Reject:
    """``work(*args)`` for one row, or the row's reject: when it could not be parsed or is no JSON object, or
    when the work raises (a RowProblem, an invalid record, or any exception: an odd value no check
    foresaw stops this record only, named by the field the reader looked up last)."""
    if row.error is not None:
        return reject(row, row.reason, row.error)
    if not isinstance(row.data, dict):
        return reject(row, "not_an_object", f"expected a JSON object, got {type(row.data).__name__}")
    try:
        return work(*args)
    except RowProblem as problem:
        return reject(row, problem.reason, problem.message, problem.detail)
    except ValidationError as err:
        return reject(row, *describe_validation(err))
    except Exception as err:
        return reject(row, *unexpected(err, row.field))


def describe_validation(err: ValidationError) -> tuple[str, str]:
    """(reason code, message) for the first problem; prefkit's own checks carry their code as the type."""
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
    reason = first["type"] if first["type"] in RECORD_CHECKS else "invalid_record"
    return reason, f"{where}: {first['msg']}{more}" if where else f"{first['msg']}{more}"


# While a dict is set here (convert --preview, the detection hints), every look-up records FIELD -> COLUMN, so a
# converted record can be shown with the column each value came from.
SOURCES: dict[str, str] | None = None


def seen(name: str, key: str) -> None:
    """Record that field ``name`` was read from column ``key`` (see SOURCES)."""
    if SOURCES is not None:
        SOURCES.setdefault(name, key)


def claimed(options: ReadOptions, key: str, name: str) -> bool:
    """Whether ``--map`` gave column ``key`` to a field other than ``name``: a column feeds one field only, so a
    reader's default look-up skips it (``--map prompt=input`` keeps ``input`` from also being the query)."""
    return any(field != name and key in column.split(",") for field, column in options.mapping.items())


def get(row: Row, options: ReadOptions, name: str, *defaults: str, required: bool = True) -> Any:
    """The value of logical field ``name``: the ``--map``-ed column, else the first default key present that no
    other field was mapped to."""
    data = row.data
    row.field = name
    if name in options.mapping:
        key = options.mapping[name]
        found, value = resolve(data, key)  # as written, a dotted path, or the one column equal ignoring case
        if found:
            seen(name, key)
            return value
        if required:
            raise RowProblem("missing_field", f"field {key!r} (mapped to {name}) is missing")
        return None
    for key in defaults or (name,):
        if key in data and not claimed(options, key, name):
            seen(name, key)
            return data[key]
    if required:
        raise RowProblem("missing_field", f"field {' / '.join(repr(k) for k in defaults or (name,))} is missing")
    return None


def text(value: Any, where: str) -> str:
    """A response or prompt text: strings only (numbers or booleans in a text field are data errors)."""
    if isinstance(value, str):
        return value
    if value is None:
        raise RowProblem("missing_field", f"{where} is missing")
    raise RowProblem("bad_type", f"{where}: expected a string, got {type(value).__name__} {value!r:.40}")


def number(value: Any, where: str) -> float:
    """A score, rank or count as a finite float (booleans, NaN, infinities and huge numbers refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RowProblem("bad_type", f"{where}: expected a number, got {type(value).__name__} {value!r:.40}")
    try:
        result = float(value)
    except OverflowError:
        raise RowProblem("number_out_of_range", f"{where}: a number out of a double's range") from None
    if not math.isfinite(result):
        raise RowProblem("non_finite_number", f"{where}: {result} is not a usable number")
    return result


def assistant(content: str) -> Message:
    return Message(role="assistant", content=content)


def user(content: str) -> Message:
    return Message(role="user", content=content)


def content_text(value: Any, where: str) -> str:
    """Message content: a string, or a list of typed parts of which only text parts are allowed
    (``[{"type": "text", "text"|"value": ...}]``, as OpenAI and LLaMA-Factory v1 files store it)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = []
        for i, part in enumerate(value):
            if not isinstance(part, dict) or part.get("type", "text") != "text":
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                if kind in IMAGE_TYPES:
                    raise RowProblem("image_not_in_user_turn", f"{where}[{i}]: an image outside a user turn; "
                                                               "LLaMA-Factory takes images in user turns only")
                raise RowProblem("unsupported_content", f"{where}[{i}]: only text parts are supported, got {kind!r}")
            piece = part.get("text", part.get("value"))
            parts.append(text(piece, f"{where}[{i}].text"))
        return "".join(parts)
    raise RowProblem("bad_type", f"{where}: expected a string, got {type(value).__name__} {value!r:.40}")
