"""``--from openai-logs``: logged calls of the OpenAI chat API with feedback on their answers.

One JSON line per call, as people store them::

    {"request":  {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "..."}], "n": 2},
     "response": {"id": "...", "choices": [{"index": 0, "message": {"role": "assistant", "content": "..."}}, ...]},
     "feedback": {"scores": [8, 3]}}

``response`` is what ``ChatCompletion.model_dump()`` returns. ``feedback`` holds one of:

- ``scores``: a score per choice (``null`` for unscored), or ``score`` for a single-choice call;
- ``thumbs``: ``"up"``/``"down"`` (or ``true``/``false``, ``1``/``-1``) per choice, or ``thumb``;
- ``preferred``: the index of the preferred choice (the others are worse).

An ``image_url`` part of a request's user message is an ``<image>`` placeholder there and one of the records'
images (a path relative to the log's folder, or a ``data:`` URL, written as a file beside the output).

Calls with the same conversation (system + messages + images) are grouped, so answers from separate calls can be
compared. Scored answers of a group are paired with ``--pairing``; thumbs up answers are paired with
thumbs down answers; a preferred choice is paired with each other choice of its call. ``--to kto``:
thumbs give KTO examples, a preferred choice is desirable and its siblings undesirable.

A call whose answers end up in no pair (say a single scored answer) is rejected as ``unpaired``.
Grouping holds the scored calls in memory until the end of the input. Keys can be renamed with
``--map request=... response=... feedback=... scores=... thumbs=... preferred=...``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ..io import files as io
from ..io.sources import Row
from ..records import KtoExample, Message, PreferencePair, Reject
from . import pairing
from .base import Item, ReadOptions, RowProblem, assistant, attempt, number, provenance, reject, text
from .openai import normalize
from .sharegpt import OPENAI_TAGS, read_messages, user_images
from .spec import ReaderSpec

_THUMB = {"up": True, "down": False, "+1": True, "-1": False, "1": True, "true": True, "false": False,
          "good": True, "bad": False, "0": False}


@dataclass
class _Conversation:
    system: str
    prompt: list[Message]
    images: list[str]
    rows: dict[int, Row] = field(default_factory=dict)
    scored: list[tuple[str, float, int]] = field(default_factory=list)  # (answer, score, row index)
    thumbs: list[tuple[str, bool, int]] = field(default_factory=list)
    produced: set[int] = field(default_factory=set)  # calls that already gave pairs (preferred choice)


def _key(options: ReadOptions, name: str) -> str:
    return options.mapping.get(name, name)


def _thumb(value: Any, where: str) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    label = _THUMB.get(str(value).strip().lower())
    if label is None:
        raise RowProblem("unknown_feedback", f"{where}: expected up/down, got {value!r:.40}")
    return label


def _parse(row: Row, options: ReadOptions) -> tuple[str, list[Message], list[str], list[str], dict[str, Any]]:
    """(system, prompt, its images, the answers, feedback) of one logged call."""
    data = row.data
    request, response = data.get(_key(options, "request")), data.get(_key(options, "response"))
    feedback = data.get(_key(options, "feedback"))
    for name, value in (("request", request), ("response", response), ("feedback", feedback)):
        if not isinstance(value, dict):
            raise RowProblem("missing_field", f"field {_key(options, name)!r} is missing or not an object")
    raw, images = user_images(request.get(_key(options, "messages")), OPENAI_TAGS, "request.messages")
    system, prompt = read_messages(normalize(raw, OPENAI_TAGS, "request.messages"), OPENAI_TAGS, "request.messages")
    choices = response.get(_key(options, "choices"))
    if not isinstance(choices, list) or not choices:
        raise RowProblem("missing_field", "response.choices is missing or empty")
    answers = []
    for i, choice in enumerate(choices):
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            raise RowProblem("missing_field", f"response.choices[{i}].message is missing")
        answers.append(text(message.get("content"), f"response.choices[{i}].message.content"))
    return system or "", prompt, images, answers, feedback


def _signals(feedback: dict[str, Any], n: int, options: ReadOptions) -> tuple[list[float | None], list[bool | None], int | None]:
    def per_choice(plural: str, singular: str) -> list[Any] | None:
        if _key(options, plural) in feedback:
            values = feedback[_key(options, plural)]
            if not isinstance(values, list) or len(values) != n:
                raise RowProblem("bad_type", f"feedback.{_key(options, plural)}: expected a list of {n} (one per choice)")
            return values
        if singular in feedback:
            if n != 1:
                raise RowProblem("bad_type", f"feedback.{singular}: the call has {n} choices; use {plural}")
            return [feedback[singular]]
        return None

    raw_scores = per_choice("scores", "score")
    scores: list[float | None] = [None] * n
    for i, s in enumerate(raw_scores or []):
        scores[i] = None if s is None else number(s, f"feedback.scores[{i}]")
    thumbs = [_thumb(t, f"feedback.thumbs[{i}]") for i, t in enumerate(per_choice("thumbs", "thumb") or [None] * n)]
    preferred = feedback.get(_key(options, "preferred"))
    if preferred is not None and (isinstance(preferred, bool) or not isinstance(preferred, int) or not 0 <= preferred < n):
        raise RowProblem("bad_type", f"feedback.preferred: expected a choice index 0..{n - 1}, got {preferred!r:.40}")
    if raw_scores is None and all(t is None for t in thumbs) and preferred is None:
        raise RowProblem("no_feedback", "feedback has no scores, thumbs or preferred choice")
    return scores, thumbs, preferred


def _call(row: Row, options: ReadOptions) -> tuple[_Conversation, list[str], list, list, list[Item]]:
    """One logged call: (its conversation, answers, scores, thumbs, records from a preferred choice)."""
    system, prompt, images, answers, feedback = _parse(row, options)
    scores, thumbs, preferred = _signals(feedback, len(answers), options)
    talk = _Conversation(system, prompt, images)
    made = list(_preferred(row, options, talk, answers, preferred)) if preferred is not None else []
    return talk, answers, scores, thumbs, made


def read(rows: Iterable[Row], options: ReadOptions) -> Iterator[Item]:
    groups: dict[bytes, _Conversation] = {}
    for row in rows:
        parsed = attempt(row, _call, row, options)
        if isinstance(parsed, Reject):
            yield parsed
            continue
        talk, answers, scores, thumbs, made = parsed
        yield from made
        key = io.dumps([talk.system, [m.model_dump() for m in talk.prompt], talk.images])
        group = groups.setdefault(key, talk)
        used = False
        for answer, score, thumb in zip(answers, scores, thumbs):
            if score is not None:
                group.scored.append((answer, score, row.index))
                used = True
            if thumb is not None:
                group.thumbs.append((answer, thumb, row.index))
                used = True
        if used:
            group.rows[row.index] = row
            if made:
                group.produced.add(row.index)
        elif not made:
            yield reject(row, "unpaired", "no choice of this call has feedback")
    for group in groups.values():
        yield from _finish(group, options)


def _preferred(row: Row, options: ReadOptions, talk: _Conversation, answers: list[str], preferred: int) -> Iterator[Item]:
    best = answers[preferred]
    others = [a for i, a in enumerate(answers) if i != preferred]
    if options.kto:
        for answer, label in [(best, True)] + [(a, False) for a in others]:
            yield KtoExample(**_common(talk), completion=assistant(answer), label=label,
                             provenance=provenance(row, "openai-logs"))
        return
    pairs = pairing.pairs([(best, 1.0)] + [(a, 0.0) for a in others], "best-vs-each-lower")
    if not pairs:
        raise RowProblem("identical_responses", "the preferred choice is identical to every other choice")
    for good, bad, _ in pairs:
        yield PreferencePair(**_common(talk), chosen=assistant(good), rejected=assistant(bad),
                             provenance=provenance(row, "openai-logs"))


def _common(talk: _Conversation) -> dict[str, Any]:
    return {"system": talk.system, "prompt": talk.prompt, "images": talk.images}


def _finish(group: _Conversation, options: ReadOptions) -> Iterator[Item]:
    """The group's records, then a reject for each call that ended up in none."""
    covered: set[int] = set(group.produced)
    for record, indices in _group_records(group, options):
        covered.update(indices)
        yield record
    for index, row in group.rows.items():
        if index in covered:
            continue
        if options.kto:
            yield reject(row, "no_kto_signal", "no thumbs up/down or preferred choice to make a KTO example")
        else:
            yield reject(row, "unpaired", "no other answer to the same conversation to pair with")


def _group_records(group: _Conversation, options: ReadOptions) -> Iterator[tuple[PreferencePair | KtoExample, list[int]]]:
    """(record, indices of the calls it came from). A combination that makes no valid record (an empty
    answer, say) is skipped: its calls may still be covered by another one, else they are rejected."""
    common = _common(group)
    if options.kto:
        for answer, label, index in group.thumbs:
            try:
                yield KtoExample(**common, completion=assistant(answer), label=label,
                                 provenance=provenance(group.rows[index], "openai-logs")), [index]
            except ValidationError:
                continue
        return
    for candidates in (group.scored, [(a, 1.0 if up else 0.0, i) for a, up, i in group.thumbs]):
        index_of = {answer: index for answer, _, index in candidates}
        scored = [(answer, score) for answer, score, _ in candidates]
        for good, bad, _ in pairing.pairs(scored, options.pairing, options.min_margin):
            good_index, bad_index = index_of[good], index_of[bad]
            merged = [bad_index] if bad_index != good_index else []
            try:
                yield PreferencePair(**common, chosen=assistant(good), rejected=assistant(bad),
                                     provenance=provenance(group.rows[good_index], "openai-logs", merged)), [good_index, *merged]
            except ValidationError:
                continue


read.groups_rows = True  # type: ignore[attr-defined]  # calls of one conversation pair across the file


def sniff(record: dict[str, Any]) -> bool:
    return isinstance(record.get("request"), dict) and isinstance(record.get("response"), dict)


SPEC = ReaderSpec("openai-logs", read, sniff,
                  fields=("request", "response", "messages", "choices", "feedback", "preferred", "scores", "thumbs"))
