"""``--from hh-rlhf``: Anthropic HH transcripts, ``{"chosen": "\\n\\nHuman: ...\\n\\nAssistant: ...", "rejected": ...}``.

Each transcript is split at the ``\\n\\nHuman:`` / ``\\n\\nAssistant:`` markers. The prompt is the shared
conversation before the final assistant turn; earlier turns become messages. Rules for the records real
files contain:

- consecutive turns from the same speaker are merged into one turn (joined by a blank line), counted
  as ``merged_consecutive_turns`` in the report;
- chosen and rejected transcripts that differ before their final assistant turn: rejected,
  ``divergent_history`` (the two answers do not answer the same conversation). The histories are compared
  with whitespace runs collapsed and with turns written inline (``prefkit.speakers``: "...all I know.
  Human: and then what?", no blank line before the marker) counted as turns, so a merge cannot hide a
  difference;
- a final answer that holds a speaker marker at a turn boundary (the inline turns above, or a fake
  ``Human:`` turn the model wrote): rejected, ``malformed_transcript``;
- a transcript that does not end with an assistant turn: rejected, ``no_final_answer``;
- an empty final answer: rejected, ``empty_response``; identical answers: ``identical_responses``;
- text before the first marker, or no marker at all: rejected, ``malformed_transcript``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..io.sources import Row
from ..records import Message, Note, PreferencePair
from .base import Item, ReadOptions, RowProblem, get, per_row, provenance, text
from .spec import ReaderSpec
from ..speakers import ROLES, speaker_marker, split_inline

_MARKER = re.compile(r"\n\n(Human|Assistant):[ ]?")
Turns = list[tuple[str, str]]  # [(role, text)]


def _raw_turns(transcript: str, field: str) -> Turns:
    """The turns between ``\\n\\nHuman:`` / ``\\n\\nAssistant:`` markers, stripped, not merged."""
    if not transcript.startswith("\n\n"):
        transcript = "\n\n" + transcript.lstrip("\n")  # some dumps drop the leading blank line
    parts = _MARKER.split(transcript)
    if parts[0].strip() or len(parts) < 3:
        raise RowProblem("malformed_transcript", f"{field}: expected turns starting with '\\n\\nHuman:'")
    return [(ROLES[speaker], body.strip()) for speaker, body in zip(parts[1::2], parts[2::2])]


def _merged(turns: Turns) -> tuple[Turns, int]:
    """Same-speaker runs joined by a blank line, and the number of joins."""
    out: Turns = []
    for role, body in turns:
        if out and out[-1][0] == role:
            out[-1] = (role, out[-1][1] + "\n\n" + body)
        else:
            out.append((role, body))
    return out, len(turns) - len(out)


def split_turns(transcript: str, field: str) -> tuple[Turns, int]:
    """[(role, text)] with same-speaker runs merged, and the number of merges."""
    return _merged(_raw_turns(transcript, field))


def _history(raw: Turns) -> Turns:
    """What the two sides must share: every turn before the last assistant turn, with inline markers
    counted as turns (cut before merging, so a merge cannot hide one) and whitespace runs collapsed."""
    turns, _ = _merged([part for role, body in raw for part in split_inline(role, body)])
    last = max((i for i, (role, _) in enumerate(turns) if role == "assistant"), default=len(turns))
    return [(role, " ".join(body.split())) for role, body in turns[:last]]


def _convert(row: Row, options: ReadOptions) -> Iterator[Item]:
    chosen_raw = _raw_turns(text(get(row, options, "chosen"), "chosen"), "chosen")
    rejected_raw = _raw_turns(text(get(row, options, "rejected"), "rejected"), "rejected")
    (chosen_turns, m1), (rejected_turns, m2) = _merged(chosen_raw), _merged(rejected_raw)
    for name, turns in (("chosen", chosen_turns), ("rejected", rejected_turns)):
        if turns[-1][0] != "assistant":
            raise RowProblem("no_final_answer", f"{name}: the transcript ends with a Human turn")
        if turns[0][0] != "user":
            raise RowProblem("malformed_transcript", f"{name}: the transcript starts with an Assistant turn")
    chosen_history, rejected_history = _history(chosen_raw), _history(rejected_raw)
    if chosen_history != rejected_history:
        turn = next((i for i, (a, b) in enumerate(zip(chosen_history, rejected_history)) if a != b),
                    min(len(chosen_history), len(rejected_history)))
        raise RowProblem("divergent_history", f"chosen and rejected differ at turn {turn}, before their final answers")
    for name, turns in (("chosen", chosen_turns), ("rejected", rejected_turns)):
        marker = speaker_marker(turns[-1][1])
        if marker:
            raise RowProblem("malformed_transcript", f"{name}: the final answer holds a {marker.group()!r} turn marker "
                             f"at character {marker.start()} (a turn written inline, without the blank line before it)")
    prompt = [Message(role=role, content=body) for role, body in chosen_turns[:-1]]
    if m1 or m2:
        yield Note("merged_consecutive_turns")  # records with same-speaker turns merged
    yield PreferencePair(prompt=prompt, chosen=Message(role="assistant", content=chosen_turns[-1][1]),
                         rejected=Message(role="assistant", content=rejected_turns[-1][1]),
                         provenance=provenance(row, "hh-rlhf"))


read = per_row("hh-rlhf", _convert)


def sniff(record: dict[str, Any]) -> bool:
    chosen = record.get("chosen")
    return isinstance(chosen, str) and isinstance(record.get("rejected"), str) and "\n\nAssistant:" in chosen


SPEC = ReaderSpec("hh-rlhf", read, sniff, fields=("chosen", "rejected"))
