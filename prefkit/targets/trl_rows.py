"""TRL's row layouts: which columns are messages ("conversational" rows), and the prompt TRL takes from a row that
has none (its ``extract_prompt``), as each TRL version decides it."""

from __future__ import annotations

from typing import Any


def is_messages(value: Any) -> bool:
    """A list of messages (each with a role), as prefkit reads a conversational column."""
    return isinstance(value, list) and bool(value) and all(isinstance(m, dict) and "role" in m for m in value)


def is_kto(entry: dict[str, Any]) -> bool:
    """An entry of unpaired (KTO) rows."""
    return entry.get("layout") == "trl-kto"


def kind(value: Any) -> str:
    """A value's kind, in a message."""
    return "null" if value is None else "a list of messages" if is_messages(value) else type(value).__name__


def _common_start(chosen: Any, rejected: Any) -> int:
    """TRL's ``extract_prompt``: the index where chosen and rejected first differ (a space before it stays with
    the answers)."""
    idx = 0
    for idx in range(min(len(chosen), len(rejected))):
        if chosen[idx] != rejected[idx]:
            if chosen[idx - 1] == " ":
                idx -= 1
            break
    return idx


def conversational(value: Any) -> bool:
    """TRL's ``is_conversational`` of one column: a list whose first message has a role and a content."""
    return isinstance(value, list) and bool(value) and isinstance(value[0], dict) and \
        "role" in value[0] and "content" in value[0]


def extract_prompt(data: dict[str, Any]) -> dict[str, Any]:
    """TRL's ``extract_prompt``: the common start of chosen and rejected becomes the prompt."""
    chosen, rejected = data["chosen"], data["rejected"]
    idx = _common_start(chosen, rejected)
    return {**data, "prompt": chosen[:idx], "chosen": chosen[idx:], "rejected": rejected[idx:]}


def explicit(data: dict[str, Any], version: str = "1") -> dict[str, Any]:
    """The row with an explicit prompt: TRL 1.x extracts one when there is none; 0.24 (``maybe_extract_prompt``)
    also when the prompt's and chosen's kinds differ (a chosen of tool calls without content is not "conversational")."""
    if data.get("prompt") is None:
        return extract_prompt(data)
    if version == "0.24" and conversational(data["prompt"]) != conversational(data["chosen"]):
        return extract_prompt(data)
    return data
