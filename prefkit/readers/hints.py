"""What prefkit proposes when it cannot read a file as it is, and what it says about columns a run leaves unread.

A hint is a command that was run on the sample, verdict included, before it is printed: every ``--from``/``--map``/
``--verdict`` line below is read through the whole reader and the writer of the run's ``--to`` and shown only when
it turns at least half of the sampled records into records. Values it proposes come from the file (``--verdict
a=0 b=1`` for a ``better_response_id`` of 0/1 beside ``response_0``/``response_1``); a line that needs the user's
meaning (numbers in a ``label`` column) says so and shows the exact form to fill in (``a=VALUE``), having been run
with the values seen. Two verdict columns (two axes: ``better_response_id``, ``safer_response_id``) are never
chosen between: both lines are shown and the user is asked which one.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..io.sources import Row
from ..records import RECORD_TYPES, Note, PreferencePair, Reject
from . import base
from .base import ReadOptions
from .mapping import head_column, resolve
from .pairwise import VERDICT_KEYS, parse_verdicts, verdict_key
from .spec import Needs
from .table import MAP_FIELDS, NEEDS, READERS, SPECS

FILL = "VALUE"  # the placeholder of a value only the user can give
# Role names that stand for a LLaMA-Factory tag (turbo-alignment's "bot", Gemini's "model", OASST's "prompter").
ROLE_ALIASES = {"assistant_tag": ("bot", "model", "gpt", "chatbot", "ai", "assistant"),
                "user_tag": ("human", "prompter", "user")}
WIN = {"w", "win", "winner", "won", "preferred", "good", "better"}
LOSE = {"l", "lose", "loser", "lost", "dispreferred", "bad", "worse"}
ANSWER_WORDS = {"answer", "response", "output", "completion", "generation", "reply", "chosen", "rejected"}
# Columns that say which of two answers is better by an id (PKU-SafeRLHF: better_response_id, safer_response_id).
_VERDICT_ID = re.compile(r"(better|safer|preferred|chosen|winner|best|choice|pref|label)\w*_id$")
_SCORE = re.compile(r"^(?:(?:score|rating|reward)s?_?(?P<a>chosen|rejected)|(?P<b>chosen|rejected)_?(?:score|rating|reward)s?)$")
_SIDE = re.compile(r"^(output|response|answer|completion|generation|reply|model_output)s?_?(0|1|2|a|b)$")
# The formats most files are meant for: named first among formats that lack as many fields (then detection order).
COMMON = ("sharegpt", "alpaca", "pairwise", "ratings", "trl")


def _name(key: str) -> str:
    return key.lower().replace("-", "_")


@dataclass
class Line:
    """One suggested command line; ``trial`` is the --verdict it was run with when the printed one needs values."""

    fmt: str
    mapping: dict[str, str] = field(default_factory=dict)
    verdict: list[str] = field(default_factory=list)
    trial: list[str] | None = None
    why: str = ""  # what the user must fill in, and why

    def text(self) -> str:
        words = ["--from", self.fmt]
        words += ["--map", *(f"{k}={v}" for k, v in self.mapping.items())] if self.mapping else []
        words += ["--verdict", *self.verdict] if self.verdict else []
        return " ".join(words) + (f": {self.why}" if self.why else "")


@dataclass
class Outcome:
    records: int = 0
    sampled: int = 0
    chosen: dict[int, str] = field(default_factory=dict)  # index -> the chosen answer (to compare two axes)
    numbers: Counter = field(default_factory=Counter)  # numeric verdicts met (they need --verdict)

    @property
    def works(self) -> bool:
        return self.records > 0 and 2 * self.records >= self.sampled


def run(line: Line, sample: list[Row], target: str) -> Outcome:
    """The line read through its reader and the target's writer, on the sample."""
    from ..writers import get_writer
    from ..writers.base import adapt

    spec = line.trial if line.trial is not None else line.verdict
    outcome = Outcome(sampled=len(sample))
    good: set[int] = set()
    try:
        options = ReadOptions(mapping=dict(line.mapping), verdicts=parse_verdicts(spec) if spec else None,
                              target=target, format=line.fmt)
        writer = get_writer(target)
        for item in READERS[line.fmt](iter(sample), options):
            if isinstance(item, Reject):
                if item.reason == "numeric_verdict":
                    outcome.numbers[item.detail] += 1
                continue
            if isinstance(item, Note) or isinstance(adapt(item, writer), Reject):
                continue
            good.add(item.provenance.index)
            if isinstance(item, PreferencePair):
                outcome.chosen.setdefault(item.provenance.index, item.chosen.content)
    except Exception:  # a reader that cannot take the sample (or a line it refuses) does not fit
        return Outcome(sampled=len(sample))
    outcome.records = len(good)
    return outcome


def first_record(line: Line, sample: list[Row], target: str) -> str:
    """The first sampled record converted with the line, field by field with its source column."""
    from ..writers import get_writer
    from .trace import render, show_rows

    if line.trial is not None:  # the values are the user's to give: the record as a pair to label, no side taken
        target, spec = "unlabeled", []
    else:
        spec = line.verdict
    options = ReadOptions(mapping=dict(line.mapping), verdicts=parse_verdicts(spec) if spec else None, target=target,
                          format=line.fmt)
    try:
        shown = [p for p in show_rows(iter(sample), READERS[line.fmt], get_writer(target), options, len(sample))
                 if not p.rejected]
    except Exception:  # the hint stands without its example
        return ""
    return "\n".join("  " + line for line in render(shown[0]).splitlines()) if shown else ""


# --- what to propose -------------------------------------------------------------------------------------------

def _values(sample: list[Row], key: str) -> list[Any]:
    return [value for r in sample for found, value in [resolve(r.data, key)] if found and value is not None]


def _sides(keys: list[str]) -> tuple[str, str, str, str] | None:
    """Two answer columns whose names say the side: (a column, b column, a's id, b's id); 1/2, 0/1 or a/b."""
    stems: dict[str, dict[str, str]] = {}
    for key in keys:
        match = _SIDE.match(_name(key))
        if match:
            stems.setdefault(match.group(1), {})[match.group(2)] = key
    for sides in stems.values():
        for a, b in (("1", "2"), ("0", "1"), ("a", "b")):
            if a in sides and b in sides:
                return sides[a], sides[b], a, b
    return None


def _winner_loser(keys: list[str]) -> list[tuple[str, str]]:
    """(chosen, rejected) columns whose names say which won: answer_w / answer_l, winner / loser."""
    found: dict[str, dict[str, str]] = {}
    for key in keys:
        parts = _name(key).split("_")
        for i in dict.fromkeys((len(parts) - 1, 0)):
            token = parts[i]
            if (token in WIN or token in LOSE) and not (len(token) == 1 and len(parts) == 1):
                stem = "_".join(parts[:i] + parts[i + 1:])
                found.setdefault(stem, {})["chosen" if token in WIN else "rejected"] = key
                break
    return [(s["chosen"], s["rejected"]) for s in found.values() if len(s) == 2]


def _role_tags(sample: list[Row], columns: tuple[str, ...]) -> dict[str, str]:
    """``assistant_tag=bot`` and the like: the roles of the messages in ``columns`` that are not OpenAI's."""
    roles: Counter = Counter()
    for column in columns:
        for value in _values(sample, column):
            for message in value if isinstance(value, list) else [value]:
                if isinstance(message, dict) and isinstance(message.get("role"), str):
                    roles[message["role"]] += 1
    tags = {}
    for tag, aliases in ROLE_ALIASES.items():
        seen = [r for r in roles if r.lower() in aliases and r != tag.removesuffix("_tag")]
        if len(seen) == 1 and tag.removesuffix("_tag") not in roles:
            tags[tag] = seen[0]
    return tags


def _prompt_column(keys: list[str], free: list[str]) -> str | None:
    from .columns import ALIASES

    return next((k for k in free if _name(k) in ALIASES["prompt"] + ALIASES["messages"]), None)


def _named_lines(keys: list[str], free: list[str], sample: list[Row]) -> list[list[Line]]:
    """Readers of chosen/rejected for columns named winner/loser (the winner chosen)."""
    groups = []
    prompt = _prompt_column(keys, free)
    for chosen, rejected in _winner_loser(free):
        if prompt is None:
            continue
        listed = any(isinstance(v, list) for v in _values(sample, prompt))
        lines = []
        if listed:
            tags = _role_tags(sample, (prompt, chosen, rejected))
            lines.append(Line("sharegpt", {"messages": prompt, "chosen": chosen, "rejected": rejected, **tags}))
        lines += [Line("trl", {"prompt": prompt, "chosen": chosen, "rejected": rejected}),
                  Line("alpaca", {"prompt": prompt, "chosen": chosen, "rejected": rejected})]
        groups += [[line] for line in lines]
    return groups


def _verdict_columns(keys: list[str], free: list[str], sample: list[Row], ids: tuple[str, str]) -> list[str]:
    """Columns that may hold the verdict: the reader's defaults ("" reads them), an alias, an id column whose values
    are the answers' side ids."""
    from .columns import ALIASES, present

    columns = [""] if present(dict(NEEDS["pairwise"])["verdict"], keys) else []
    columns += [k for k in free if _name(k) in ALIASES["verdict"] and not columns]
    for key in free:
        if _VERDICT_ID.search(_name(key)):
            values = {verdict_key(v) for v in _values(sample, key)}
            if values and values <= set(ids) and key not in columns:
                columns.append(key)
    return columns


def _pairwise_lines(keys: list[str], free: list[str], sample: list[Row], target: str) -> list[Line]:
    """Pairwise lines, one per verdict column; several that work are two axes of preference: the user chooses."""
    from .columns import ALIASES, present

    needs = dict(NEEDS["pairwise"])
    mapping: dict[str, str] = {}
    if not present(needs["prompt"], keys):
        prompt = next((k for k in free if _name(k) in ALIASES["prompt"]), None)
        if prompt is None:
            return []
        mapping["prompt"] = prompt
    ids = ("a", "b")
    if not present(needs["response_a"], keys):
        sides = _sides(free)
        if sides is None:
            return []
        mapping["response_a"], mapping["response_b"], *ids = sides  # type: ignore[assignment]
    lines = []
    for column in _verdict_columns(keys, free, sample, tuple(ids)):
        line = Line("pairwise", {**mapping, **({"verdict": column} if column else {})})
        numbers = run(line, sample, target).numbers
        if numbers and column and _VERDICT_ID.search(_name(column)):  # the ids name the sides: 0 is response_0
            line.verdict = [f"a={ids[0]}", f"b={ids[1]}"]
        elif numbers:  # only the user knows what 1 or 2 means: the form to fill in, run with the values seen
            seen = sorted(numbers, key=lambda v: (numbers[v] == 0, v))
            line.trial = [f"a={seen[0]}", *([f"b={seen[1]}"] if len(seen) > 1 else []),
                          *([f"tie={','.join(seen[2:])}"] if len(seen) > 2 else [])]
            line.verdict = [f"a={FILL}", f"b={FILL}", f"[tie={FILL}]"]
            counted = ", ".join(f"{v} ({n})" for v, n in numbers.most_common())
            named = column or next((k for k in VERDICT_KEYS if k in keys), "the verdict column")
            line.why = (f"{named} holds numbers ({counted} in the first records) and prefkit "
                        "does not guess what they mean: say which value means A is better")
        lines.append(line)
    return lines


def _guessed(fmt: str, keys: list[str]) -> Line | None:
    from .columns import guess_mapping

    mapping = guess_mapping(fmt, keys)
    return None if mapping is None else Line(fmt, mapping)


def _formats(target: str) -> dict[str, Needs]:
    """The formats the hints list as closest: for --to kto those that read unpaired KTO rows (spec.kto_needs)."""
    if target not in ("kto", "trl-kto"):
        needs = dict(NEEDS)
    else:
        needs = {name: spec.kto_needs for name, spec in SPECS.items() if spec.kto_needs}
    return {name: needs[name] for name in sorted(needs, key=lambda n: COMMON.index(n) if n in COMMON else len(COMMON))}


def missing(needs: Needs, keys: list[str]) -> list[str]:
    from .columns import present

    return [f if names == (f,) else f"{f} ({' / '.join(names)})" for f, names in needs if not present(names, keys)]


def advise(sample: list[Row], target: str = "sharegpt") -> str:
    """``keys seen: ...; closest: ...; try: LINE`` (with its first record), or the question to put to the user."""
    from .columns import JUDGE

    keys = sorted({k for r in sample for k in r.data})
    free = [k for k in keys if not JUDGE.search(_name(k))]
    formats = _formats(target)
    order = sorted(formats, key=lambda fmt: len(missing(formats[fmt], keys)))
    groups = _named_lines(keys, free, sample)
    for fmt in order:
        if fmt == "pairwise":
            groups.append(_pairwise_lines(keys, free, sample, target))
        elif fmt in NEEDS and (line := _guessed(fmt, keys)) is not None:
            groups.append([line])
    advice, chosen_fmt = "", None
    for group in groups:
        works = [(line, outcome) for line in group if (outcome := run(line, sample, target)).works]
        if len(works) == 1:
            line = works[0][0]
            first = first_record(line, sample, target)
            advice, chosen_fmt = f"try: {line.text()}" + (f"\n{first}" if first else ""), line.fmt
            break
        if len(works) > 1:
            advice, chosen_fmt = _axes(works), works[0][0].fmt
            break
    if not advice:
        advice = _ask(keys, free, sample, target) or ("no --from/--map line reads the sample; see docs/formats.md "
                                                      "(input formats, --map with dotted paths)")
    closest = ([chosen_fmt] if chosen_fmt in formats else []) + [f for f in order if f != chosen_fmt]
    said = [f"{fmt} lacks {', '.join(missing(formats[fmt], keys)) or 'nothing (but its values do not fit)'}"
            for fmt in closest[:2]]
    shown = ", ".join(keys[:12]) + (f" (+{len(keys) - 12} more)" if len(keys) > 12 else "")
    return f"keys seen: {shown}; closest: {'; '.join(said)}; {advice}"


def _axes(works: list[tuple[Line, Outcome]]) -> str:
    """Two verdict columns that both read the file: name them, say where they disagree, ask which one."""
    columns = [line.mapping.get("verdict", "the verdict") for line, _ in works]
    first = works[0][1].chosen
    differ = sum(1 for i, chosen in first.items() if any(o.chosen.get(i, chosen) != chosen for _, o in works[1:]))
    said = (f"they disagree on {differ} of {len(first)} sampled records" if differ
            else "they agree on the sampled records")
    options = "\n".join(f"  {'try' if i == 0 else 'or'}: {line.text()}" for i, (line, _) in enumerate(works))
    return (f"{' and '.join(columns)} both say which answer is preferred ({said}): two axes of preference, and "
            f"prefkit does not choose between them; say which one:\n{options}")


def _ask(keys: list[str], free: list[str], sample: list[Row], target: str) -> str:
    """The question to put when two columns hold answers whose names do not say which is preferred."""
    from .columns import OTHER_SIDE

    others = [k for k in free if OTHER_SIDE.match(_name(k)) and not _SIDE.match(_name(k))]
    if len(others) != 2:
        return ""
    prompt = _prompt_column(keys, free)
    example = ""
    if prompt is not None:
        line = Line("alpaca", {"prompt": prompt, "chosen": others[0], "rejected": others[1]})
        if run(line, sample, target).works:
            example = f" (e.g. {line.text()}, after checking a few records with --preview)"
    return (f"{others[0]} and {others[1]} hold two answers, but their names do not say which one is preferred: if "
            f"one always is, map it as chosen{example}; if a verdict column says which, fill in its name: "
            f"--from pairwise --map response_a={others[0]} response_b={others[1]} verdict=COLUMN")


# --- what a run leaves unread ----------------------------------------------------------------------------------

class _Reads(dict):
    """base.SOURCES that keeps every column read (base keeps the first per field)."""

    def __init__(self) -> None:
        super().__init__()
        self.columns: set[str] = set()

    def setdefault(self, name: str, key: str) -> str:  # type: ignore[override]
        self.columns.update(key.split(","))
        return super().setdefault(name, key)


def _looks_like_answer(key: str) -> bool:
    name = _name(key)
    if _SCORE.match(name) or "score" in name:
        return False
    from .columns import ALIASES

    words = set(name.split("_"))
    return bool(name.rstrip("s") in ANSWER_WORDS or _SIDE.match(name) or name in ALIASES["chosen"] + ALIASES["rejected"]
                or (words & ANSWER_WORDS and words & (WIN | LOSE)))


def _score_paths(sample: list[Row]) -> dict[str, str]:
    """chosen/rejected -> the (possibly nested, dotted) column of its score."""
    found: dict[str, str] = {}
    for row in sample:
        for key, value in row.data.items():
            inner = value.items() if isinstance(value, dict) else ()
            for path, name in [(key, key), *((f"{key}.{k}", k) for k, _ in inner)]:
                match = _SCORE.match(_name(name)) if isinstance(name, str) else None
                if match:
                    found.setdefault(match.group("a") or match.group("b"), path)
    return found if len(found) == 2 else {}


def unread(sample: list[Row], fmt: str, options: ReadOptions) -> list[str]:
    """Notes for the columns the reader did not read in the sample: a ``--map`` column, a column that looks like an
    answer, the answers' scores (equal scores would be ties: the pairwise line that rejects them, run first)."""
    reads = _Reads()
    records, saved = 0, base.SOURCES
    base.SOURCES = reads
    try:
        for item in READERS[fmt](iter(sample), options):
            records += isinstance(item, RECORD_TYPES)
    except Exception:  # no note is better than a wrong one
        return []
    finally:
        base.SOURCES = saved
    if not reads.columns:
        return []  # a reader that does not say what it reads
    read = reads.columns | {head_column(c) for c in reads.columns}
    notes = []
    for name, column in options.mapping.items():
        if name.endswith("_tag") and name != "kto_tag":
            continue
        for one in column.split(","):
            if one not in read:
                there = any(resolve(r.data, one)[0] for r in sample)
                notes.append(f"--map {name}={one}: --from {fmt} never read it in the first {len(sample)} records"
                             + ("" if there else " (no such column there)"))
    keys = list(dict.fromkeys(k for r in sample for k in r.data if isinstance(k, str)))
    mapped = {head_column(c) for column in options.mapping.values() for c in column.split(",")}
    for key in keys:
        if key not in read and key not in mapped and _looks_like_answer(key):
            fields = ", ".join(f for f in MAP_FIELDS.get(fmt, ()) if not f.endswith("_tag"))
            notes.append(f"column {key!r} looks like an answer, but --from {fmt} does not read it: it is not in the "
                         f"output; if it holds one, map it (--map FIELD={key}; fields: {fields}) or use another --from")
    scores = _score_paths(sample) if records and fmt != "pairwise" else {}
    if scores and not {head_column(p) for p in scores.values()} & read:
        notes.append(_score_note(sample, fmt, options, reads, scores))
    return [n for n in notes if n]


def _score_note(sample: list[Row], fmt: str, options: ReadOptions, reads: _Reads, scores: dict[str, str]) -> str:
    pairs = [(resolve(r.data, scores["chosen"])[1], resolve(r.data, scores["rejected"])[1]) for r in sample]
    ties = sum(1 for a, b in pairs if a is not None and a == b)
    said = (f"{scores['chosen']} and {scores['rejected']} look like the answers' scores, but --from {fmt} does not "
            f"read them ({ties} of the first {len(sample)} records score both answers equally and are kept as pairs)")
    mapping = {"response_a": reads.get("chosen", "chosen"), "response_b": reads.get("rejected", "rejected"),
               "score_a": scores["chosen"], "score_b": scores["rejected"]}
    prompt = reads.get("prompt") or reads.get("messages")
    if prompt and prompt not in ("prompt", "instruction", "question"):
        mapping = {"prompt": prompt, **mapping}
    line = Line("pairwise", mapping)
    if run(line, sample, options.target).works:
        return f"{said}: to pair by score and reject equal scores as ties, try: {line.text()}"
    return said
