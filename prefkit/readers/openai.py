"""``--from openai``: LLaMA-Factory's ``openai`` formatting (role/content messages, tool calls).

As in LLaMA-Factory's ``OpenAIDatasetConverter``: an assistant message with ``tool_calls`` becomes a
function-call turn holding the JSON list of the calls' ``function`` objects, and consecutive ``tool``
messages are joined into one observation turn. ``tools`` may be a JSON string or a list of objects.
An ``image_url`` part of a user message is an ``<image>`` placeholder there and one of the record's images (a path
relative to the input file's folder, or a ``data:`` URL, written as a file beside the output; see image_parts).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..io.sources import Row
from .base import Item, ReadOptions, RowProblem, content_text, get, per_row
from .sharegpt import OPENAI_TAGS, pair_or_kto, read_messages, signals, user_images
from .spec import ReaderSpec

_TOOL_JOIN = "\n</tool_response>\n<tool_response>\n"


def normalize(raw_messages: Any, tags: dict[str, str], field: str) -> list[Any]:
    """Fold tool calls and runs of tool results the way LLaMA-Factory does."""
    if not isinstance(raw_messages, list):
        raise RowProblem("bad_type", f"{field}: expected a list of messages, got {type(raw_messages).__name__}")
    out: list[Any] = []
    pending: list[str] = []
    role_key, content_key = tags["role_tag"], tags["content_tag"]
    for i, message in enumerate(raw_messages):
        if not isinstance(message, dict):
            out.append(message)  # read_messages() reports it with its position
            continue
        role = message.get(role_key)
        if role in (tags["assistant_tag"], tags["function_tag"]) and message.get("tool_calls"):
            try:
                calls = [call["function"] for call in message["tool_calls"]]
            except (TypeError, KeyError):
                raise RowProblem("bad_type", f"{field}[{i}].tool_calls: each call needs a 'function' object") from None
            message = {role_key: tags["function_tag"], content_key: json.dumps(calls, ensure_ascii=False)}
        if role == tags["observation_tag"]:
            content = message.get(content_key)
            pending.append(content_text(content, f"{field}[{i}].{content_key}") if content is not None else "")
            continue
        if pending:
            out.append({role_key: tags["observation_tag"], content_key: _TOOL_JOIN.join(pending)})
            pending = []
        if message.get(content_key) is None and role == tags["assistant_tag"]:
            raise RowProblem("bad_type", f"{field}[{i}].{content_key}: assistant message has no content")
        out.append(message)
    if pending:
        out.append({role_key: tags["observation_tag"], content_key: _TOOL_JOIN.join(pending)})
    return out


def _convert(row: Row, options: ReadOptions) -> Iterator[Item]:
    tags = {key: options.mapping.get(key, value) for key, value in OPENAI_TAGS.items()}
    field = options.mapping.get("messages", "messages")
    raw, inline = user_images(get(row, options, "messages", "messages", "conversations"), tags, field)
    system, messages = read_messages(normalize(raw, tags, field), tags, field)
    chosen, rejected, label = signals(row, options)
    chosen, rejected = (normalize([value], tags, name)[0] if isinstance(value, dict) else value
                        for name, value in (("chosen", chosen), ("rejected", rejected)))
    yield from pair_or_kto(row, options, "openai", system, messages, tags,
                           get(row, options, "tools", required=False) or "", chosen, rejected, label, inline)


read = per_row("openai", _convert)


def sniff(record: dict[str, Any]) -> bool:
    msgs = record.get("messages")
    return (isinstance(msgs, list) and bool(msgs) and isinstance(msgs[0], dict) and "role" in msgs[0]
            and ("chosen" in record and "rejected" in record or isinstance(record.get("kto_tag", record.get("label")), bool)))


SPEC = ReaderSpec("openai", read, sniff, fields=("messages", "tools", "images", *OPENAI_TAGS))
