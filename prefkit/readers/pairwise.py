"""``--from pairwise``: two responses and a verdict, from human votes or an LLM judge.

Fields (change with ``--map``): the prompt is ``prompt`` / ``instruction`` / ``question`` (joined with a
non-empty ``input`` by a newline, as LLaMA-Factory joins alpaca columns) or a list of role/content
messages; the responses are ``response_a``/``response_b`` (also ``response1``/``response2``,
``answer_a``/``answer_b``); the verdict is ``verdict`` / ``winner`` / ``preference`` / ``label``, or several
annotators' votes: a ``votes`` list, or every ``annotator<N>`` column (``--map votes=col1,col2``).

Verdict values (case-insensitive, spaces ignored; ``--verdict a=1,left b=2,right tie=0 failed=error`` replaces a
group; ``1``, ``1.0`` and ``"1"`` are one value, ``true``/``false`` match booleans):
``a``: a, model_a, response_a, response1; ``b``: b, model_b, response_b, response2;
``tie``: tie, draw, equal, both_bad, tie (bothbad); ``failed``: failed, error, invalid, empty; and the judge
notations of arena-hard (one table, prefkit.readers.arena_hard.SCORES): ``A>B``, ``A>>B``, ``B<A`` prefer A,
``B>A``, ``B>>A``, ``A<B`` prefer B, ``A=B`` / ``B=A`` are ties.
Numbers are never guessed (public files use 0/1/2 with several meanings): a numeric verdict needs
``--verdict`` or ``--preference-scale LOW:HIGH`` (nearer LOW prefers A, nearer HIGH prefers B, within
``--tie-band`` of the midpoint is a tie); without either, convert stops and lists the values it saw.
A null verdict (or vote) is no verdict. Several votes are aggregated by strict majority of the
non-failed votes; records whose votes differ are counted (``disagreement``). Outcomes: a majority for a
or b gives a pair (``--to kto``: the winner desirable, the loser undesirable); otherwise the record is
rejected as ``tie``, ``split_vote``, ``failed_verdict``, ``no_verdict``, ``unknown_verdict`` or
``numeric_verdict``.

With ``--unlabeled`` (pairs to label in Argilla) the verdict is optional: every record with a prompt and
two answers becomes a pair to label, and a clear verdict (a, b or tie) is kept as the suggestion.
``score_a``/``score_b`` (judge scores; ``--map score_a=metadata.score_chosen`` reaches a nested one) are kept
too, and decide a row that has no verdict: the higher score's answer is chosen, equal scores are rejected as
``tie``. A response may be a string, a role/content message or a list of one assistant message (TRL's
conversational answers). An ``images`` / ``image`` column (paths relative to the input
file's folder) gives the prompt's images, as do ``image_url`` parts of prompt messages.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from ..errors import UsageError
from ..io.sources import Row
from ..records import Note, PreferencePair, UnlabeledPair
from .arena_hard import SCORES
from .base import Item, ReadOptions, RowProblem, assistant, claimed, get, per_row, provenance, seen, text
from .mapping import resolve
from .ratings import prompt_messages
from .sharegpt import OPENAI_TAGS, answer
from .spec import Detailed, ReaderSpec


def _notation(side: str) -> list[str]:
    """The judge notations (A>B, B>>A, A=B ...) that prefer ``side``: the arena-hard reader's table."""
    return [label.lower() for label, (won, _) in SCORES.items() if won == side]


DEFAULT_VERDICTS = {  # no numbers: 0/1/2 mean different things in different files
    "a": ["a", "model_a", "response_a", "response1", "response_1", *_notation("A")],
    "b": ["b", "model_b", "response_b", "response2", "response_2", *_notation("B")],
    "tie": ["tie", "draw", "equal", "both_bad", "tie (bothbad)", *_notation("tie")],
    "failed": ["failed", "error", "invalid", ""],
}
RESPONSE_KEYS = (("response_a", "response_b"), ("response1", "response2"), ("answer_a", "answer_b"))
VERDICT_KEYS = ("verdict", "winner", "preference", "label")
_ANNOTATOR = re.compile(r"annotator_?\d+$")


def verdict_key(value: Any) -> str:
    """How a verdict value is compared: lower case without spaces; ``1``, ``1.0`` and ``"1"`` alike; booleans as
    ``true`` / ``false``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    number = numeric(value)
    if number is not None and number.is_integer():
        return str(int(number))
    return "".join(str(value).split()).lower()


def parse_verdicts(specs: list[str]) -> dict[str, list[str]]:
    """``["a=1,left", "tie=0"]`` -> the default table with those groups replaced. A value the user maps leaves
    every default group (``--verdict tie=tie,error`` makes ``error`` a tie, not a failure); one value in two of
    the user's own groups is a usage error.

    >>> table = parse_verdicts(["tie=tie,error"])
    >>> table["tie"], "error" in table["failed"]
    (['tie', 'error'], False)
    """
    given: dict[str, list[str]] = {}
    for spec in specs:
        label, sep, values = spec.partition("=")
        if not sep or label not in DEFAULT_VERDICTS:
            raise UsageError(f"--verdict {spec!r}: expected LABEL=VALUE[,VALUE...] with LABEL one of a, b, tie, failed")
        given[label] = values.split(",")
    return verdict_table(given)


def verdict_table(given: dict[str, Any], option: str = "--verdict") -> dict[str, list[str]]:
    """The default table with the groups in ``given`` replaced; values as a Python user writes them (a value or a
    list of them: ``{"a": [0], "b": 1, "tie": ["tie", None]}``), compared by :func:`verdict_key`.

    >>> verdict_table({"a": [0], "b": 1})["a"], verdict_table({"a": [True]})["a"]
    (['0'], ['true'])
    """
    table = {k: [verdict_key(v) for v in values] for k, values in DEFAULT_VERDICTS.items()}
    mine: dict[str, str] = {}  # value -> the user's group
    for label, values in given.items():
        if label not in table:
            raise UsageError(f"{option} {label}=...: LABEL is one of a, b, tie, failed")
        values = values if isinstance(values, (list, tuple, set)) else [values]
        table[label] = [verdict_key(v) for v in values]
        for value in table[label]:
            if mine.get(value, label) != label:
                raise UsageError(f"{option}: {value!r} is in both {mine[value]}= and {label}=; give it one meaning")
            mine[value] = label
    for label, values in table.items():  # the user's meaning wins over every default group
        table[label] = [v for v in values if mine.get(v, label) == label]
    return table


def parse_scale(spec: str | None) -> tuple[float, float] | None:
    """``"1:2"`` -> (1.0, 2.0): the range of a continuous preference (LOW prefers A, HIGH prefers B)."""
    if spec is None:
        return None
    low, sep, high = spec.partition(":")
    try:
        scale = (float(low), float(high))
    except ValueError:
        scale = None
    if not sep or scale is None or not all(map(math.isfinite, scale)) or scale[0] == scale[1]:
        raise UsageError(f"--preference-scale {spec!r}: expected LOW:HIGH, two different numbers (e.g. 1:2)")
    return scale


def numeric(value: Any) -> float | None:
    """A vote that is a number (or a string holding one), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        result = float(value)
    except (ValueError, OverflowError):
        return None
    return result if math.isfinite(result) else None


def refuse_numeric(seen: dict[str, int], where: str) -> None:
    """Stop the run when verdicts were numbers and nobody said what the numbers mean."""
    if seen:
        ranked = sorted(seen.items(), key=lambda kv: -kv[1])
        values = ", ".join(f"{v!s} ({n:,})" for v, n in ranked)
        which = " or ".join(sorted(v for v, _ in ranked))
        raise UsageError(f"{where}: numeric verdicts {values} have no default meaning; say what they mean with "
                         f"--verdict a=VALUE b=VALUE [tie=VALUE] [failed=VALUE], each VALUE {which} (the values "
                         "seen; prefkit does not guess which means A is better) or, for a continuous preference, "
                         "--preference-scale LOW:HIGH [--tie-band X]")


def _lookup(verdicts: dict[str, Any]) -> dict[str, str]:
    lookup: dict[str, str] = {}
    for label, values in verdicts.items():
        for value in values if isinstance(values, (list, tuple, set)) else [values]:
            lookup[verdict_key(value)] = label
    return lookup


def votes_of(row: Row, options: ReadOptions) -> tuple[list[Any], str]:
    """The raw votes and the field(s) they came from."""
    data = row.data
    if "votes" in options.mapping:
        columns = options.mapping["votes"].split(",")
        found = [resolve(data, c) for c in columns]
        missing = [c for c, (ok, _) in zip(columns, found) if not ok]
        if missing:
            raise RowProblem("missing_field", f"vote field {missing[0]!r} (mapped to votes) is missing")
        seen("votes", options.mapping["votes"])
        return [value for _, value in found], options.mapping["votes"]
    if "verdict" in options.mapping:
        return [get(row, options, "verdict")], options.mapping["verdict"]
    if isinstance(data.get("votes"), list) and not claimed(options, "votes", "votes"):
        seen("votes", "votes")
        return list(data["votes"]), "votes"
    annotators = [k for k in data if _ANNOTATOR.match(k) and not claimed(options, k, "votes")]
    if annotators:
        seen("votes", ",".join(annotators))
        return [data[k] for k in annotators], ",".join(annotators)
    for key in VERDICT_KEYS:
        if key in data and not claimed(options, key, "verdict"):
            seen("verdict", key)
            return [data[key]], key
    raise RowProblem("no_verdict", f"no verdict field ({', '.join(VERDICT_KEYS)}, votes or annotator<N>); "
                     "pairs to label in Argilla: convert --unlabeled, or prefkit label push")


def decide(votes: list[Any], field: str, lookup: dict[str, str], options: ReadOptions) -> tuple[str, Counter]:
    counts: Counter = Counter()
    votes = [v for v in votes if v is not None and str(v).strip().lower() not in ("null", "none")]
    if not votes:
        raise RowProblem("no_verdict", f"{field}: the verdict is null")
    for vote in votes:
        counts[_label(vote, field, lookup, options)] += 1
    counts.pop("failed", None)
    if not counts:
        raise RowProblem("failed_verdict", f"{field}: every verdict is a failure value")
    (top, n), *rest = counts.most_common()
    if rest and rest[0][1] == n:
        raise RowProblem("split_vote", f"{field}: votes are split ({dict(counts)})")
    if top == "tie":
        raise RowProblem("tie", f"{field}: the verdict is a tie")
    return top, counts


def _label(vote: Any, field: str, lookup: dict[str, str], options: ReadOptions) -> str:
    key = verdict_key(vote)
    if key in lookup:
        return lookup[key]
    value = numeric(vote)
    if value is not None and options.scale is not None:
        low, high = min(options.scale), max(options.scale)
        if not low <= value <= high:
            raise RowProblem("unknown_verdict", f"{field}: {vote!r} is outside --preference-scale")
        mid = (low + high) / 2
        if abs(value - mid) <= options.tie_band:
            return "tie"
        return "a" if (value < mid) == (options.scale[0] < options.scale[1]) else "b"
    if value is not None and options.verdicts is None:
        raise RowProblem("numeric_verdict", f"{field}: numeric verdict {vote!r} needs --verdict or "
                         "--preference-scale", detail=str(vote).strip())
    raise RowProblem("unknown_verdict", f"{field}: unknown verdict value {vote!r} (see --verdict)")


def _responses(row: Row, options: ReadOptions) -> tuple[str, str]:
    if "response_a" in options.mapping or "response_b" in options.mapping:
        keys = (options.mapping.get("response_a", "response_a"), options.mapping.get("response_b", "response_b"))
    else:
        keys = next((k for k in RESPONSE_KEYS if k[0] in row.data and not claimed(options, k[0], "response_a")
                     and not claimed(options, k[1], "response_b")), RESPONSE_KEYS[0])
    values = []
    for name, key in zip(("response_a", "response_b"), keys):
        found, value = resolve(row.data, key)
        if not found or value is None:
            mapped = f" (mapped to {name})" if name in options.mapping else ""
            raise RowProblem("missing_field", f"field {key!r}{mapped} is missing")
        seen(name, key)
        values.append(value if isinstance(value, str) else answer(value, OPENAI_TAGS, key).content)
    return values[0], values[1]


def _scores(row: Row, options: ReadOptions) -> tuple[float | None, float | None]:
    """``score_a`` / ``score_b`` as numbers (None where absent or no number)."""
    scores = [get(row, options, key, required=False) for key in ("score_a", "score_b")]
    return tuple(numeric(s) if not isinstance(s, str) else None for s in scores)  # type: ignore[return-value]


def _by_score(scores: tuple[float | None, float | None], options: ReadOptions) -> str:
    """The winner by score, for a row with no verdict; equal scores are a tie."""
    a, b = scores
    if a is None or b is None:
        raise RowProblem("no_verdict", f"no verdict field ({', '.join(VERDICT_KEYS)}, votes or annotator<N>) and no "
                         "score_a/score_b to decide by; pairs to label in Argilla: convert --unlabeled")
    if a == b:
        names = "/".join(options.mapping.get(k, k) for k in ("score_a", "score_b"))
        raise RowProblem("tie", f"{names}: equal scores ({a:g}) are a tie")
    return "a" if a > b else "b"


def _convert(row: Row, options: ReadOptions) -> Iterator[Item]:
    lookup = _lookup(options.verdicts or DEFAULT_VERDICTS)
    raw_prompt = get(row, options, "prompt", "prompt", "instruction", "question")
    query = get(row, options, "query", "input", required=False)
    if query and isinstance(raw_prompt, str):
        raw_prompt = "\n".join(p for p in (raw_prompt, text(query, "input")) if p)
    system, prompt, images = prompt_messages(raw_prompt, "prompt", row, options)
    response_a, response_b = _responses(row, options)
    if options.unlabeled:
        yield _unlabeled(row, options, lookup, system, prompt, images, response_a, response_b)
        return
    scores = _scores(row, options)
    try:
        votes, field = votes_of(row, options)
    except RowProblem as problem:
        if problem.reason != "no_verdict":
            raise
        winner, counts, votes = _by_score(scores, options), Counter(), []
    else:
        winner, counts = decide(votes, field, lookup, options)
    if len(counts) > 1 or sum(counts.values()) < len(votes):
        yield Note("disagreement")
    good, bad = (response_a, response_b) if winner == "a" else (response_b, response_a)
    good_score, bad_score = scores if winner == "a" else scores[::-1]
    meta = {"votes": dict(counts), "winner": winner}
    if isinstance(row.data.get("group"), str):  # the key of a file that is an object of record lists
        meta["group"] = row.data["group"]
    yield PreferencePair(system=system, prompt=prompt, chosen=assistant(good), rejected=assistant(bad), images=images,
                         chosen_score=good_score, rejected_score=bad_score, metadata=meta,
                         provenance=provenance(row, "pairwise"))


def _unlabeled(row: Row, options: ReadOptions, lookup: dict[str, str], system: str, prompt: list, images: list[str],
               response_a: str, response_b: str) -> UnlabeledPair:
    suggestion = row.data.get("suggestion")  # as convert --unlabeled writes it
    if suggestion not in ("a", "b", "tie"):
        scores = _scores(row, options)
        try:
            try:
                suggestion, _ = decide(*votes_of(row, options), lookup, options)
            except RowProblem as problem:
                if problem.reason != "no_verdict":
                    raise
                suggestion = _by_score(scores, options)
        except RowProblem as problem:  # no verdict, or one that decides nothing: nothing to suggest
            suggestion = "tie" if problem.reason == "tie" else None
    scores = _scores(row, options)
    tools = row.data.get("tools")
    return UnlabeledPair(system=system, prompt=prompt, tools=tools if isinstance(tools, str) else "", images=images,
                         response_a=assistant(response_a),
                         response_b=assistant(response_b), suggestion=suggestion, score_a=scores[0], score_b=scores[1],
                         metadata={**(row.data.get("metadata") if isinstance(row.data.get("metadata"), dict) else {}),
                                   **({"group": row.data["group"]} if isinstance(row.data.get("group"), str) else {})},
                         provenance=provenance(row, "pairwise"))


read = per_row("pairwise", _convert)


def sniff(record: dict[str, Any]) -> bool:
    """Two responses side by side; the verdict may be absent (pairs to label)."""
    return any(a in record and b in record for a, b in RESPONSE_KEYS)


def after(detailed: Detailed, where: str) -> None:
    """Once the run is read: numeric verdicts nobody gave a meaning stop it (refuse_numeric)."""
    refuse_numeric(detailed("numeric_verdict"), where)


SPEC = ReaderSpec(
    "pairwise", read, sniff,
    fields=("prompt", "system", "query", "response_a", "response_b", "verdict", "votes", "score_a", "score_b", "images"),
    needs=(("prompt", ("prompt", "instruction", "question")), ("response_a", ("response_a", "response1", "answer_a")),
           ("response_b", ("response_b", "response2", "answer_b")),
           ("verdict", ("verdict", "winner", "preference", "label", "votes", "annotator<N>"))),
    after=after,
)
