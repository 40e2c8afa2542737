"""``--from trl``: TRL's preference datasets, standard and conversational, explicit or implicit prompt.

- standard, explicit prompt: ``{"prompt": "...", "chosen": "...", "rejected": "..."}``;
- conversational, explicit prompt: ``prompt`` a list of role/content messages, ``chosen`` and
  ``rejected`` lists holding the assistant answer;
- implicit prompt: no ``prompt``; ``chosen`` and ``rejected`` are whole conversations sharing their
  beginning, which becomes the prompt. LLaMA-Factory v1's ``chosen_messages`` / ``rejected_messages``
  (content as typed parts) are read the same way.

An answer of more than one message is rejected (``multi_message_answer``): LLaMA-Factory's ranking
formats hold one answer message. Implicit conversations that differ before their final answer are
rejected as ``divergent_history``.

Vision rows (TRL's vision DPO format): an ``images`` (or ``image``) column of paths (relative to the input file's
folder), ``data:`` URLs or datasets Image values, and user content as typed parts where ``{"type": "image"}`` marks
where each image goes, in order; each becomes LLaMA-Factory's ``<image>`` placeholder. Rows with images and no image
part at all get their placeholders before the first user text, as TRL's ``prepare_multimodal_messages`` puts them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..images.checks import IMAGE_PLACEHOLDER
from ..io.sources import Row
from ..records import Message, PreferencePair
from .base import Item, ReadOptions, RowProblem, assistant, get, image_paths, per_row, provenance, user
from .image_parts import merged
from .sharegpt import OPENAI_TAGS, read_messages, to_message, user_images


def _messages(value: Any, field: str) -> tuple[str | None, list[Message], list[str]]:
    """(system, messages, the images their parts name)."""
    value, inline = user_images(value, OPENAI_TAGS, field)
    return (*read_messages(value, OPENAI_TAGS, field), inline)


def _placed(messages: list[Message], images: list[str]) -> list[Message]:
    """Images with no placeholder anywhere go before the first user text, as TRL puts them."""
    if not images or any(IMAGE_PLACEHOLDER in m.content for m in messages):
        return messages
    first = next(i for i, m in enumerate(messages) if m.role == "user")
    head = Message(role="user", content=IMAGE_PLACEHOLDER * len(images) + messages[first].content)
    return [*messages[:first], head, *messages[first + 1:]]


def _one_answer(value: Any, field: str) -> Message:
    if isinstance(value, str):
        return assistant(value)
    if not isinstance(value, list):
        raise RowProblem("bad_type", f"{field}: expected a string or a list of messages")
    if len(value) != 1:
        raise RowProblem("multi_message_answer", f"{field}: expected one assistant message, got {len(value)}")
    tag, message = to_message(value[0], OPENAI_TAGS, f"{field}[0]")
    if message is None or message.role not in ("assistant", "function"):
        raise RowProblem("bad_role", f"{field}[0]: role {tag!r} is not an assistant turn")
    return message


def _convert(row: Row, options: ReadOptions) -> Iterator[Item]:
    chosen = get(row, options, "chosen", "chosen", "chosen_messages")
    rejected = get(row, options, "rejected", "rejected", "rejected_messages")
    prompt = get(row, options, "prompt", "prompt", required=False)
    system: str | None = None
    inline: list[str] = []
    if prompt is not None:
        if isinstance(prompt, str):
            messages = [user(prompt)]
        else:
            system, messages, inline = _messages(prompt, "prompt")
        good, bad = _one_answer(chosen, "chosen"), _one_answer(rejected, "rejected")
    else:
        if isinstance(chosen, str) or isinstance(rejected, str):
            raise RowProblem("missing_field", "field 'prompt' is missing (strings need an explicit prompt)")
        system, full_chosen, inline = _messages(chosen, "chosen")
        system_r, full_rejected, inline_r = _messages(rejected, "rejected")
        if full_chosen[:-1] != full_rejected[:-1] or system != system_r or inline != inline_r:
            raise RowProblem("divergent_history", "chosen and rejected differ before their final answers")
        if len(full_chosen) < 2 or full_chosen[-1].role != "assistant":
            raise RowProblem("no_final_answer", "chosen must end with an assistant answer")
        messages, good, bad = full_chosen[:-1], full_chosen[-1], full_rejected[-1]
    images = merged(image_paths(get(row, options, "images", "images", "image", required=False), "images"), inline)
    yield PreferencePair(system=system or "", prompt=_placed(messages, images), chosen=good, rejected=bad,
                         images=images, provenance=provenance(row, "trl"))


read = per_row("trl", _convert)


def sniff(record: dict[str, Any]) -> bool:
    if "chosen_messages" in record and "rejected_messages" in record:
        return True
    if "chosen" not in record or "rejected" not in record or "conversations" in record or "messages" in record:
        return False
    chosen = record["chosen"]
    if isinstance(chosen, str):
        return isinstance(record.get("prompt"), (str, list)) and "\n\nAssistant:" not in chosen
    return isinstance(chosen, list)
