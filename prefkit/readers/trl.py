"""``--from trl``: TRL's preference datasets, standard and conversational, explicit or implicit prompt, and TRL's
unpaired (KTO) rows.

- standard, explicit prompt: ``{"prompt": "...", "chosen": "...", "rejected": "..."}``;
- conversational, explicit prompt: ``prompt`` a list of role/content messages, ``chosen`` and
  ``rejected`` lists holding the assistant answer;
- implicit prompt: no ``prompt``; ``chosen`` and ``rejected`` are whole conversations sharing their
  beginning, which becomes the prompt. LLaMA-Factory v1's ``chosen_messages`` / ``rejected_messages``
  (content as typed parts) are read the same way;
- unpaired: ``{"prompt": ..., "completion": ..., "label": true}`` (strings, or a message list and a list holding
  the answer), as TRL's ``KTOTrainer`` reads them: a KTO example (``--to kto`` / ``trl-kto``).

``tools`` (a list of tool definitions, or JSON text) is kept; an assistant message with ``tool_calls`` is a tool call
and a ``tool`` message its result, folded as LLaMA-Factory's openai converter folds them (what ``--to trl`` writes).
An answer of more than one message is rejected (``multi_message_answer``): LLaMA-Factory's ranking
formats hold one answer message. Implicit conversations that differ before their final answer are
rejected as ``divergent_history``.

Vision rows (TRL's vision DPO format): an ``images`` (or ``image``) column of paths (relative to the input file's
folder), ``data:`` URLs or datasets Image values, and user content as typed parts where ``{"type": "image"}`` marks
where each image goes, in order; each becomes LLaMA-Factory's ``<image>`` placeholder. Rows with images and no image
part at all get their placeholders before the first user text, as TRL's ``prepare_multimodal_messages`` puts them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..images.checks import IMAGE_PLACEHOLDER
from ..io.sources import Row
from ..records import KtoExample, Message, PreferencePair
from .base import Item, ReadOptions, RowProblem, assistant, get, image_paths, per_row, provenance, user
from .image_parts import merged
from .openai import normalize
from .sharegpt import OPENAI_TAGS, read_messages, to_message, user_images
from .spec import ReaderSpec


def conversation(value: Any, field: str, tags: dict[str, str] = OPENAI_TAGS) -> tuple[str | None, list[Message], list[str]]:
    """(system, messages, the images their parts name) of a message list, tool calls folded."""
    value, inline = user_images(value, tags, field)
    return (*read_messages(normalize(value, tags, field), tags, field), inline)


def placed(messages: list[Message], images: list[str]) -> list[Message]:
    """Images with no placeholder anywhere go before the first user text, as TRL puts them."""
    if not images or any(IMAGE_PLACEHOLDER in m.content for m in messages):
        return messages
    first = next(i for i, m in enumerate(messages) if m.role == "user")
    head = Message(role="user", content=IMAGE_PLACEHOLDER * len(images) + messages[first].content)
    return [*messages[:first], head, *messages[first + 1:]]


def one_answer(value: Any, field: str, tags: dict[str, str] = OPENAI_TAGS) -> Message:
    """A string, one message, or a list holding one assistant message (a tool call folded)."""
    if isinstance(value, str):
        return assistant(value)
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise RowProblem("bad_type", f"{field}: expected a string or a list of messages")
    if len(value) != 1:
        raise RowProblem("multi_message_answer", f"{field}: expected one assistant message, got {len(value)}")
    tag, message = to_message(normalize(value, tags, field)[0], tags, f"{field}[0]")
    if message is None or message.role not in ("assistant", "function"):
        raise RowProblem("bad_role", f"{field}[0]: role {tag!r} is not an assistant turn")
    return message


def tools_text(value: Any, field: str = "tools") -> str:
    """Tool definitions as LLaMA-Factory's ``tools`` column holds them: JSON text of the list."""
    if value is None or value == "" or value == []:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    raise RowProblem("bad_type", f"{field}: expected a list of tool definitions, got {type(value).__name__}")


ANSWER_KEYS = {"chosen": ("chosen", "chosen_messages"), "rejected": ("rejected", "rejected_messages")}


def _convert(row: Row, options: ReadOptions) -> Iterator[Item]:
    chosen, rejected = (get(row, options, side, *ANSWER_KEYS[side], required=False) for side in ANSWER_KEYS)
    if chosen is None and rejected is None and not set(ANSWER_KEYS) & set(options.mapping):
        yield from _unpaired(row, options)
        return
    for side, value in (("chosen", chosen), ("rejected", rejected)):
        if value is None:
            get(row, options, side, *ANSWER_KEYS[side])  # raises missing_field, naming a mapped column as such
    # optional, but a column --map names must be there: an absent one is said so, never read as an implicit prompt
    prompt = get(row, options, "prompt", required="prompt" in options.mapping)
    system: str | None = None
    inline: list[str] = []
    if prompt is not None:
        system, messages, inline = _prompt(prompt)
        good, bad = one_answer(chosen, "chosen"), one_answer(rejected, "rejected")
    else:
        if isinstance(chosen, str) or isinstance(rejected, str):
            raise RowProblem("missing_field", "field 'prompt' is missing (strings need an explicit prompt)")
        system, full_chosen, inline = conversation(chosen, "chosen")
        system_r, full_rejected, inline_r = conversation(rejected, "rejected")
        if full_chosen[:-1] != full_rejected[:-1] or system != system_r or inline != inline_r:
            raise RowProblem("divergent_history", "chosen and rejected differ before their final answers")
        if len(full_chosen) < 2 or full_chosen[-1].role not in ("assistant", "function"):
            raise RowProblem("no_final_answer", "chosen must end with an assistant answer")
        messages, good, bad = full_chosen[:-1], full_chosen[-1], full_rejected[-1]
    images = merged(image_paths(get(row, options, "images", "images", "image", required=False), "images"), inline)
    yield PreferencePair(system=system or "", tools=tools_text(get(row, options, "tools", required=False)),
                         prompt=placed(messages, images), chosen=good, rejected=bad, images=images,
                         provenance=provenance(row, "trl"))


def _prompt(prompt: Any, field: str = "prompt",
            tags: dict[str, str] = OPENAI_TAGS) -> tuple[str | None, list[Message], list[str]]:
    """(system, messages, images) of a prompt: a string is one user turn."""
    if isinstance(prompt, str):
        return None, [user(prompt)], []
    return conversation(prompt, field, tags)


def _unpaired(row: Row, options: ReadOptions) -> Iterator[Item]:
    """TRL's unpaired row: prompt + completion + label."""
    answer = get(row, options, "completion", required=False)
    if answer is None:
        raise RowProblem("missing_field", "field 'chosen' / 'rejected' (a preference row) or 'completion' + 'label' "
                                          "(an unpaired row) is missing")
    prompt = get(row, options, "prompt")
    yield example(row, options, "trl", prompt, answer, get(row, options, "label"),
                  {"prompt": column(options, "prompt"), "completion": column(options, "completion"),
                   "label": column(options, "label")})


def column(options: ReadOptions, name: str, default: str | None = None) -> str:
    """The column a field was read from, for messages: the mapped one, else ``default`` (the field's name)."""
    return options.mapping.get(name, default or name)


def example(row: Row, options: ReadOptions, fmt: str, prompt: Any, answer: Any, label: Any, where: dict[str, str],
            tags: dict[str, str] = OPENAI_TAGS, system: str = "") -> KtoExample:
    """One KTO example from a prompt (a string or messages), one answer and a boolean label; ``where`` names the
    column of each (prompt, completion, label) in messages. kto-rows builds its examples here too."""
    if not isinstance(label, bool):
        raise RowProblem("bad_type", f"{where['label']}: expected true or false, got {label!r:.40}")
    found, messages, inline = _prompt(prompt, where["prompt"], tags)
    images = merged(image_paths(get(row, options, "images", "images", "image", required=False), "images"), inline)
    return KtoExample(system=found if found is not None else system,
                      tools=tools_text(get(row, options, "tools", required=False)),
                      prompt=placed(messages, images), completion=one_answer(answer, where["completion"], tags),
                      label=label, images=images, provenance=provenance(row, fmt))


read = per_row("trl", _convert)


def sniff(record: dict[str, Any]) -> bool:
    if "chosen_messages" in record and "rejected_messages" in record:
        return True
    if "conversations" in record or "messages" in record:
        return False
    if "chosen" not in record and "rejected" not in record:  # unpaired: prompt + completion + label
        return isinstance(record.get("label"), bool) and isinstance(record.get("completion"), (str, list)) \
            and isinstance(record.get("prompt"), (str, list))
    if "chosen" not in record or "rejected" not in record:
        return False
    chosen = record["chosen"]
    if isinstance(chosen, str):
        return isinstance(record.get("prompt"), (str, list)) and "\n\nAssistant:" not in chosen
    return isinstance(chosen, list)


SPEC = ReaderSpec(
    "trl", read, sniff, fields=("prompt", "chosen", "rejected", "completion", "label", "tools", "images"),
    needs=(("prompt", ("prompt",)), ("chosen", ("chosen", "chosen_messages")),
           ("rejected", ("rejected", "rejected_messages"))),
)
