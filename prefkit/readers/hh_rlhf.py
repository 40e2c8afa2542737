"""``--from hh-rlhf``: Anthropic HH transcripts, ``{"chosen": "\\n\\nHuman: ...\\n\\nAssistant: ...", "rejected": ...}``.

Each transcript is split at the ``\\n\\nHuman:`` / ``\\n\\nAssistant:`` markers. The prompt is the shared
conversation before the final assistant turn; earlier turns become messages. Rules for the records real
files contain:

- consecutive turns from the same speaker are merged into one turn (joined by a blank line), counted
  as ``merged_consecutive_turns`` in the report;
- chosen and rejected transcripts that differ before their final assistant turn: rejected,
  ``divergent_history`` (the two answers do not answer the same conversation);
- a transcript that does not end with an assistant turn: rejected, ``no_final_answer``;
- an empty final answer: rejected, ``empty_response``; identical answers: ``identical_responses``;
- text before the first marker, or no marker at all: rejected, ``malformed_transcript``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..records import Message, Note, PreferencePair
from ..sources import Row
from .base import Item, ReadOptions, RowProblem, get, per_row, provenance, text

_MARKER = re.compile(r"\n\n(Human|Assistant):[ ]?")
_ROLE = {"Human": "user", "Assistant": "assistant"}


def split_turns(transcript: str, field: str) -> tuple[list[tuple[str, str]], int]:
    """[(role, text)] with same-speaker runs merged, and the number of merges."""
    if not transcript.startswith("\n\n"):
        transcript = "\n\n" + transcript.lstrip("\n")  # some dumps drop the leading blank line
    parts = _MARKER.split(transcript)
    if parts[0].strip() or len(parts) < 3:
        raise RowProblem("malformed_transcript", f"{field}: expected turns starting with '\\n\\nHuman:'")
    turns: list[tuple[str, str]] = []
    merges = 0
    for speaker, body in zip(parts[1::2], parts[2::2]):
        role, body = _ROLE[speaker], body.strip()
        if turns and turns[-1][0] == role:
            turns[-1] = (role, turns[-1][1] + "\n\n" + body)
            merges += 1
        else:
            turns.append((role, body))
    return turns, merges


def _convert(row: Row, options: ReadOptions) -> Iterator[Item]:
    chosen_turns, m1 = split_turns(text(get(row, options, "chosen"), "chosen"), "chosen")
    rejected_turns, m2 = split_turns(text(get(row, options, "rejected"), "rejected"), "rejected")
    for name, turns in (("chosen", chosen_turns), ("rejected", rejected_turns)):
        if turns[-1][0] != "assistant":
            raise RowProblem("no_final_answer", f"{name}: the transcript ends with a Human turn")
        if turns[0][0] != "user":
            raise RowProblem("malformed_transcript", f"{name}: the transcript starts with an Assistant turn")
    if chosen_turns[:-1] != rejected_turns[:-1]:
        turn = next((i for i, (a, b) in enumerate(zip(chosen_turns, rejected_turns)) if a != b),
                    min(len(chosen_turns), len(rejected_turns)) - 1)
        raise RowProblem("divergent_history", f"chosen and rejected differ at turn {turn}, before their final answers")
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
