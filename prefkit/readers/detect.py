"""``--from auto``: which reader fits a file, and when none does, what is missing and which ``--from``/``--map``
line would read it (tried on the sampled records before it is suggested)."""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import islice
from typing import Any

from ..errors import InputError
from ..records import RECORD_TYPES
from ..sources import Row, encoding_hint
from . import NEEDS, READERS, SNIFF_RECORDS, SNIFFERS
from .base import ReadOptions

# Words in a column name that say which field it holds (a column matches when one is part of its name).
SYNONYMS = {
    "prompt": ("prompt", "question", "instruction", "query", "input", "context", "user"),
    "messages": ("conversation", "dialog", "turns", "messages", "chat"),
    "chosen": ("chosen", "preferred", "good", "better", "accepted", "win", "positive"),
    "rejected": ("rejected", "dispreferred", "bad", "worse", "loss", "lose", "negative"),
    "verdict": ("verdict", "winner", "preference", "pref", "label", "choice", "judgement", "judgment", "vote"),
    "responses": ("responses", "answers", "outputs", "completions", "candidates", "generations"),
    "scores": ("scores", "ratings", "rewards"),
}
_ANNOTATOR = re.compile(r"annotator_?\d+$")
_SIDE = re.compile(r"^(.*?)[_-]?(1|2|a|b)([_-].*)?$", re.IGNORECASE)


def detect(rows: list[Row], path: str) -> str:
    """The format whose sniffer accepts the most of the first records (at least half of them); on a tie
    the more specific format (earlier in SNIFFERS) wins. Otherwise an InputError with the keys seen, the
    two closest formats and what each is missing, and a ``--from``/``--map`` line that reads the sample."""
    head = list(islice(rows, SNIFF_RECORDS))
    sample = [r for r in head if r.error is None and isinstance(r.data, dict)]
    records = [r.data for r in sample]
    if not records:
        hint = encoding_hint(path) if head and all(r.reason == "invalid_json" for r in head) else ""
        raise InputError(f"{path}: no JSON object among the first records to detect the format from{hint}; "
                         "pass --from")
    fits = {name: sum(_safe(sniff, r) for r in records) for name, sniff in SNIFFERS.items()}
    best = max(fits, key=lambda name: fits[name])  # max keeps the first of equal counts
    if 2 * fits[best] >= len(records):
        return best
    raise InputError(f"{path}: cannot detect the format; {hints(sample)}")


def hints(sample: list[Row]) -> str:
    keys = sorted({k for r in sample for k in r.data})
    lines = {fmt: _working_line(fmt, keys, sample) for fmt in NEEDS}
    closest = sorted(NEEDS, key=lambda fmt: (lines[fmt] is None, len(_missing(fmt, keys))))[:2]
    said = [f"{fmt} lacks {', '.join(_missing(fmt, keys)) or 'nothing (but its values do not fit)'}"
            for fmt in closest]
    tried = lines[closest[0]]
    shown = ", ".join(keys[:12]) + (f" (+{len(keys) - 12} more)" if len(keys) > 12 else "")
    advice = f"try: {tried}" if tried else "no --from/--map line reads the sample; see the README's input formats"
    return f"keys seen: {shown}; closest: {'; '.join(said)}; {advice}"


def _missing(fmt: str, keys: list[str]) -> list[str]:
    return [field if names == (field,) else f"{field} ({' / '.join(names)})"
            for field, names in NEEDS[fmt] if not _present(names, keys)]


def _present(names: tuple[str, ...], keys: list[str]) -> bool:
    return any(n in keys for n in names) or ("annotator<N>" in names and any(_ANNOTATOR.match(k) for k in keys))


def _working_line(fmt: str, keys: list[str], sample: list[Row]) -> str | None:
    """``--from fmt [--map ...]`` if the reader with that mapping turns at least half the sample into records."""
    mapping = _guess_mapping(fmt, keys)
    if mapping is None or _read_share(fmt, mapping, sample) * 2 < len(sample):
        return None
    return " ".join([f"--from {fmt}", *(["--map"] if mapping else []), *(f"{k}={v}" for k, v in mapping.items())])


def _guess_mapping(fmt: str, keys: list[str]) -> dict[str, str] | None:
    used = {k for _, names in NEEDS[fmt] for k in names if k in keys}
    free = [k for k in keys if k not in used and not k.lower().endswith("id")]
    mapping: dict[str, str] = {}
    for field, names in NEEDS[fmt]:
        if _present(names, keys) or field in mapping:
            continue
        if field in ("response_a", "response_b"):
            pair = _side_by_side(free)
            if pair is None:
                return None
            mapping["response_a"], mapping["response_b"] = pair
            continue
        match = next((k for k in free if k not in mapping.values()
                      and any(word in k.lower() for word in SYNONYMS.get(field, (field,)))), None)
        if match is None:
            return None
        mapping[field] = match
    return mapping


def _side_by_side(keys: list[str]) -> tuple[str, str] | None:
    """Two columns that differ only by 1/2 or a/b (output_1/output_2, answerA/answerB)."""
    sides: dict[tuple[str, str], dict[str, str]] = {}
    for key in keys:
        match = _SIDE.match(key)
        if match:
            side = {"1": "a", "2": "b"}.get(match.group(2).lower(), match.group(2).lower())
            sides.setdefault((match.group(1).lower(), (match.group(3) or "").lower()), {})[side] = key
    return next(((s["a"], s["b"]) for s in sides.values() if len(s) == 2), None)


def _read_share(fmt: str, mapping: dict[str, str], sample: list[Row]) -> int:
    """How many sampled records the reader turns into at least one record (not a reject)."""
    options = ReadOptions(mapping=mapping, target="unlabeled" if fmt == "pairwise" else "sharegpt", format=fmt)
    try:
        items = list(READERS[fmt](iter(sample), options))
    except Exception:  # a reader that cannot take the sample does not fit
        return 0
    return len({i.provenance.index for i in items if isinstance(i, RECORD_TYPES)})


def _safe(sniff: Callable[[dict[str, Any]], bool], record: dict[str, Any]) -> bool:
    try:
        return bool(sniff(record))
    except Exception:  # a sniffer meeting an odd record just does not fit
        return False
