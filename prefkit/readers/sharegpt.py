"""``--from sharegpt``: LLaMA-Factory's sharegpt format (ranking and KTO), with its column and tag mapping.

Rows are read exactly as LLaMA-Factory's ``SharegptDatasetConverter`` reads them: a leading system
message becomes the system prompt, turns must alternate user/observation and assistant/function, a
ranking row's prompt ends with a user turn and its ``chosen``/``rejected`` are single messages; a KTO
row ends with the answer and has a boolean ``kto_tag``. Rows LLaMA-Factory would skip are rejected
here with the same reason (``bad_role_order``, ``bad_message_count``), instead of vanishing in training.

Columns and tags default to LLaMA-Factory's (``conversations``, ``from``/``value``, ``human``/``gpt``) and
can be changed with ``--map`` exactly as in dataset_info.json (``--map messages=messages role_tag=role``).
Messages with ``role``/``content`` keys get OpenAI-style tags automatically.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..io.sources import Row
from ..records import KtoExample, Message, PreferencePair
from ..vocab import OPENAI_TAGS, ROLE_OF_TAG, SHAREGPT_TAGS
from .base import Item, ReadOptions, RowProblem, content_text, get, image_paths, per_row, provenance
from .image_parts import inline_images, merged
from .spec import ReaderSpec


def tags_for(messages: Any, options: ReadOptions, defaults: dict[str, str] = SHAREGPT_TAGS) -> dict[str, str]:
    """The tag set: --map overrides, else OpenAI-style when messages use role/content keys."""
    base = defaults
    if "role_tag" not in options.mapping and isinstance(messages, list) and messages:
        first = messages[0]
        if isinstance(first, dict) and "role" in first and "from" not in first:
            base = OPENAI_TAGS
    return {key: options.mapping.get(key, value) for key, value in base.items()}


def to_message(raw: Any, tags: dict[str, str], where: str) -> tuple[str, Message | None]:
    """Returns (tag, message); message is None for a system turn."""
    if isinstance(raw, str):  # a bare string answer, as many exports store chosen/rejected
        return tags["assistant_tag"], Message(role="assistant", content=raw)
    if not isinstance(raw, dict):
        raise RowProblem("bad_type", f"{where}: expected a message object, got {type(raw).__name__}")
    if tags["role_tag"] not in raw:
        raise RowProblem("missing_field", f"{where}: message has no {tags['role_tag']!r} key")
    if tags["content_tag"] not in raw:
        raise RowProblem("missing_field", f"{where}: message has no {tags['content_tag']!r} key")
    tag = raw[tags["role_tag"]]
    content = content_text(raw[tags["content_tag"]], f"{where}.{tags['content_tag']}")
    if tag == tags["system_tag"]:
        return tag, None
    for key, role in ROLE_OF_TAG.items():
        if tag == tags[key]:
            return tag, Message.model_construct(role=role, content=content)  # role and content checked here
    known = ", ".join(repr(tags[k]) for k in (*ROLE_OF_TAG, "system_tag"))
    raise RowProblem("bad_role", f"{where}: unknown role {tag!r} (expected {known}; see --map *_tag=...)")


def read_messages(raw_messages: Any, tags: dict[str, str], field: str) -> tuple[str | None, list[Message]]:
    """The leading system prompt (or None) and the aligned messages, with LLaMA-Factory's role-order rule."""
    if not isinstance(raw_messages, list):
        raise RowProblem("bad_type", f"{field}: expected a list of messages, got {type(raw_messages).__name__}")
    system = None
    messages: list[Message] = []
    for i, raw in enumerate(raw_messages):
        tag, message = to_message(raw, tags, f"{field}[{i}]")
        if message is None:
            if i != 0:
                raise RowProblem("bad_role_order", f"{field}[{i}]: a system message is only allowed first")
            system = content_text(raw[tags["content_tag"]], f"{field}[{i}].{tags['content_tag']}")
            continue
        expected = ("user", "observation") if len(messages) % 2 == 0 else ("assistant", "function")
        if message.role not in expected:
            raise RowProblem("bad_role_order",
                             f"{field}[{i}]: role {tag!r} out of order (turns must alternate user and assistant)")
        messages.append(message)
    return system, messages


def answer(raw: Any, tags: dict[str, str], field: str) -> Message:
    if isinstance(raw, list):  # some exports wrap the single answer in a list
        if len(raw) != 1:
            raise RowProblem("bad_type", f"{field}: expected one message, got a list of {len(raw)}")
        raw = raw[0]
    tag, message = to_message(raw, tags, field)
    if message is None or message.role not in ("assistant", "function"):
        raise RowProblem("bad_role", f"{field}: role {tag!r} is not an assistant turn")
    return message


def signals(row: Row, options: ReadOptions) -> tuple[Any, Any, Any]:
    """The raw chosen, rejected and kto_tag values (None where absent)."""
    return (get(row, options, "chosen", required=False), get(row, options, "rejected", required=False),
            get(row, options, "kto_tag", "kto_tag", "label", required=False))


def pair_or_kto(row: Row, options: ReadOptions, fmt: str, system: str | None, messages: list[Message],
                tags: dict[str, str], tools: Any, chosen: Any, rejected: Any, label: Any,
                inline: list[str] | None = None) -> Iterator[Item]:
    """Shared by sharegpt and openai once the conversation is aligned; ``inline``: the images its parts named."""
    system_column = get(row, options, "system", required=False)
    system_text = system if system is not None else (system_column or "")
    if not isinstance(system_text, str):
        raise RowProblem("bad_type", "system: expected a string")
    tools_text = tools if isinstance(tools, str) else _json(tools)
    images = merged(image_paths(get(row, options, "images", "images", "image", required=False), "images"), inline or [])
    if chosen is not None or rejected is not None:
        if chosen is None or rejected is None:
            raise RowProblem("missing_field", f"field {'chosen' if chosen is None else 'rejected'!r} is missing")
        if len(messages) % 2 == 0:
            raise RowProblem("bad_message_count",
                             "the prompt must end with a user turn (LLaMA-Factory skips ranking rows with an even message count)")
        yield PreferencePair(system=system_text, tools=tools_text, prompt=messages,
                             chosen=answer(chosen, tags, "chosen"), rejected=answer(rejected, tags, "rejected"),
                             provenance=provenance(row, fmt), images=images)
    elif label is not None:
        if not isinstance(label, bool):
            raise RowProblem("bad_type", f"kto_tag: expected true or false, got {label!r:.40}")
        if len(messages) < 2 or len(messages) % 2 == 1:
            raise RowProblem("bad_message_count", "a KTO row must end with the assistant answer it labels")
        yield KtoExample(system=system_text, tools=tools_text, prompt=messages[:-1], completion=messages[-1],
                         label=label, provenance=provenance(row, fmt), images=images)
    else:
        raise RowProblem("no_preference", "no chosen/rejected and no kto_tag: not a preference record")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if value else ""


def user_images(raw: Any, tags: dict[str, str], field: str) -> tuple[Any, list[str]]:
    """The messages with their user turns' image parts as ``<image>`` placeholders, and the images they name."""
    return inline_images(raw, field, tags["role_tag"], tags["content_tag"], (tags["user_tag"],))


def _convert(row: Row, options: ReadOptions) -> Iterator[Item]:
    raw = get(row, options, "messages", "conversations", "messages")
    tags = tags_for(raw, options)
    field = options.mapping.get("messages", "conversations")
    raw, inline = user_images(raw, tags, field)
    system, messages = read_messages(raw, tags, field)
    yield from pair_or_kto(row, options, "sharegpt", system, messages, tags,
                           get(row, options, "tools", required=False) or "", *signals(row, options), inline)


read = per_row("sharegpt", _convert)


def sniff(record: dict[str, Any]) -> bool:
    msgs = record.get("conversations", record.get("messages"))
    has_signal = ("chosen" in record and "rejected" in record) or isinstance(record.get("kto_tag", record.get("label")), bool)
    return isinstance(msgs, list) and has_signal and all(isinstance(m, dict) for m in msgs)


SPEC = ReaderSpec(
    "sharegpt", read, sniff,
    fields=("messages", "chosen", "rejected", "system", "tools", "kto_tag", "images", *OPENAI_TAGS),
    needs=(("messages", ("conversations", "messages")), ("chosen", ("chosen",)), ("rejected", ("rejected",))),
    kto_needs=(("messages", ("conversations", "messages")), ("kto_tag", ("kto_tag", "label"))),
)
