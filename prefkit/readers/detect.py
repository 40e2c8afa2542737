"""``--from auto``: which reader fits a file, and when none does, what is missing and which ``--from``/``--map``
line would read it (tried on the sampled records before it is suggested)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from itertools import islice
from typing import Any

from ..errors import InputError
from ..io.sources import Row, encoding_hint
from ..records import RECORD_TYPES, Reject
from .base import ReadOptions
from .table import NEEDS, READERS, SNIFF_RECORDS, SNIFFERS

# The column names a hint may propose for a field (compared lower-case, "-" read as "_"): known aliases only, never
# a name that merely contains a word, so a judge's critique or prompt is never taken for an answer or a prompt.
ALIASES = {
    "prompt": ("prompt", "question", "instruction", "query", "input", "context", "user_input",
               "user_query", "problem"),
    "messages": ("conversation", "conversations", "dialog", "dialogue", "messages", "chat", "turns"),
    "chosen": ("chosen", "preferred", "better", "accepted", "chosen_response", "winner_response", "good_response"),
    "rejected": ("rejected", "dispreferred", "worse", "rejected_response", "loser_response", "bad_response"),
    "verdict": ("verdict", "winner", "preference", "pref", "label", "choice", "vote"),
    "responses": ("responses", "answers", "outputs", "completions", "candidates", "generations"),
    "scores": ("scores", "ratings", "rewards"),
}
# Two answers side by side: one of these names with a side that says which is which (1/2, a/b).
_ANSWERS = r"(output|response|answer|completion|generation|reply|model_output)s?"
_SIDE = re.compile(rf"^{_ANSWERS}_?(1|2|a|b)$")
_OTHER_SIDE = re.compile(rf"^{_ANSWERS}_?([a-z0-9])$")  # response_j / response_k: no side meaning: ask
# Columns named like a judge's output, or a judge game's fields (FastChat's g1_/g2_): never proposed.
_JUDGE = re.compile(r"judg(e)?ment|critique|feedback|explanation|rationale|reasoning|review|^g\d+_|^game\d*_")
_ANNOTATOR = re.compile(r"annotator_?\d+$")


def _name(key: str) -> str:
    return key.lower().replace("-", "_")


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
    if tried:
        advice = f"try: {tried}"
    else:
        advice = _ask(keys) or "no --from/--map line reads the sample; see the README's input formats"
    return f"keys seen: {shown}; closest: {'; '.join(said)}; {advice}"


def _ask(keys: list[str]) -> str:
    """The question to put when two columns hold answers whose names do not say which is preferred."""
    others = [k for k in keys if _OTHER_SIDE.match(_name(k)) and not _SIDE.match(_name(k))]
    if len(others) != 2:
        return ""
    prompt = next((k for k in keys if _name(k) in ALIASES["prompt"]), "PROMPT_COLUMN")
    return (f"{others[0]} and {others[1]} hold two answers, but their names do not say which one is preferred: if "
            f"one always is, map it (e.g. --from alpaca --map prompt={prompt} chosen={others[0]} rejected={others[1]}, "
            "after checking a few records with --preview); if a verdict column says which, use --from pairwise "
            f"--map response_a={others[0]} response_b={others[1]} verdict=COLUMN")


def _missing(fmt: str, keys: list[str]) -> list[str]:
    return [field if names == (field,) else f"{field} ({' / '.join(names)})"
            for field, names in NEEDS[fmt] if not _present(names, keys)]


def _present(names: tuple[str, ...], keys: list[str]) -> bool:
    return any(n in keys for n in names) or ("annotator<N>" in names and any(_ANNOTATOR.match(k) for k in keys))


def _working_line(fmt: str, keys: list[str], sample: list[Row]) -> str | None:
    """``--from fmt [--map ...]`` if the reader with that mapping turns at least half the sample into records; a
    verdict column of numbers is named with its values (they need --verdict: prefkit never guesses them), and
    the first record is shown with the column each field came from."""
    mapping = _guess_mapping(fmt, keys)
    if mapping is None:
        return None
    records, numbers = _read_share(fmt, mapping, sample)
    if records * 2 < len(sample):
        return None
    line = " ".join([f"--from {fmt}", *(["--map"] if mapping else []), *(f"{k}={v}" for k, v in mapping.items())])
    if numbers:
        column, values = numbers
        counted = ", ".join(f"{v} ({n})" for v, n in values.most_common())
        line += (f" --verdict a=VALUE b=VALUE [tie=VALUE]: {column} holds numbers ({counted} in the first records) "
                 "and prefkit does not guess what they mean: say which value means A is better")
    first = _first_record(fmt, mapping, sample)
    return f"{line}\n{first}" if first else line


def _guess_mapping(fmt: str, keys: list[str]) -> dict[str, str] | None:
    used = {k for _, names in NEEDS[fmt] for k in names if k in keys}
    free = [k for k in keys if k not in used and not _JUDGE.search(_name(k))]
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
        match = next((k for k in free if k not in mapping.values() and _name(k) in ALIASES.get(field, (field,))),
                     None)
        if match is None:
            return None
        mapping[field] = match
    return mapping


def _side_by_side(keys: list[str]) -> tuple[str, str] | None:
    """Two answer columns that differ only by a side that says which is which (output_1/output_2,
    answer_a/answer_b): never columns whose names merely end in a letter or a digit."""
    sides: dict[str, dict[str, str]] = {}
    for key in keys:
        match = _SIDE.match(_name(key))
        if match:
            side = {"1": "a", "2": "b"}.get(match.group(2), match.group(2))
            sides.setdefault(match.group(1), {})[side] = key
    return next(((s["a"], s["b"]) for s in sides.values() if len(s) == 2), None)


def _read_share(fmt: str, mapping: dict[str, str], sample: list[Row]) -> tuple[int, tuple[str, Counter] | None]:
    """How many sampled records the reader turns into at least one record (pairwise: as pairs to label, since the
    verdict may need --verdict), and the verdict column with its values when those are numbers."""
    options = ReadOptions(mapping=mapping, target="unlabeled" if fmt == "pairwise" else "sharegpt", format=fmt)
    try:
        items = list(READERS[fmt](iter(sample), options))
        numbers = _numeric_verdicts(mapping, sample) if fmt == "pairwise" else None
    except Exception:  # a reader that cannot take the sample does not fit
        return 0, None
    return len({i.provenance.index for i in items if isinstance(i, RECORD_TYPES)}), numbers


def _numeric_verdicts(mapping: dict[str, str], sample: list[Row]) -> tuple[str, Counter] | None:
    """The verdict column and its values, when the pairwise reader meets numbers there."""
    options = ReadOptions(mapping=mapping, format="pairwise")
    values: Counter = Counter()
    column = ""
    for item in READERS["pairwise"](iter(sample), options):
        if isinstance(item, Reject) and item.reason == "numeric_verdict":
            values[item.detail] += 1
            column = column or item.message.split(":", 1)[0]
    return (column, values) if values else None


def _first_record(fmt: str, mapping: dict[str, str], sample: list[Row]) -> str:
    """The first sampled record converted with the suggested line, field by field with its source column."""
    from ..writers import get_writer
    from .trace import render, show_rows

    options = ReadOptions(mapping=mapping, target="unlabeled" if fmt == "pairwise" else "sharegpt", format=fmt)
    try:
        shown = show_rows(iter(sample), READERS[fmt], get_writer(options.target), options, 1)
    except Exception:  # the hint stands without its example
        return ""
    return "\n".join("  " + line for line in render(shown[0]).splitlines()) if shown else ""


def _safe(sniff: Callable[[dict[str, Any]], bool], record: dict[str, Any]) -> bool:
    try:
        return bool(sniff(record))
    except Exception:  # a sniffer meeting an odd record just does not fit
        return False
