"""``--from openai-preference``: OpenAI's preference (DPO) fine-tuning JSONL, one pair a line::

    {"input": {"messages": [{"role": "system", "content": "..."}, {"role": "user", "content": "..."}],
               "tools": [{"type": "function", "function": {...}}], "parallel_tool_calls": true},
     "preferred_output": [{"role": "assistant", "content": "..."}],
     "non_preferred_output": [{"role": "assistant", "content": "..."}]}

``input.messages`` is read as ``--from openai`` reads messages: a leading ``system`` (or ``developer``) message is the
system prompt, earlier turns are the history, an assistant message's ``tool_calls`` is a function turn and ``tool``
results an observation, as LLaMA-Factory's openai converter folds them; ``input.tools`` becomes the ``tools`` column.
Each output is a list of assistant messages (one in OpenAI's own files; a tool call is a function-call answer). Outputs
of several messages that share all but their last (a tool call and its result, then the answer) end the prompt with
the shared messages (noted ``shared_output_prefix``); any other output of several messages is rejected as
``multi_message_output``: LLaMA-Factory's ranking formats hold one answer message. ``parallel_tool_calls`` has no
LLaMA-Factory counterpart: it is kept in the pair's metadata only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..io.sources import Row
from ..records import Message, Note, PreferencePair
from ..vocab import OPENAI_TAGS
from .base import Item, ReadOptions, RowProblem, get, per_row, provenance
from .openai import normalize
from .sharegpt import read_messages, to_message, user_images
from .spec import ReaderSpec
from .trl import column, tools_text

TAGS = OPENAI_TAGS


def _developer_as_system(raw: Any) -> Any:
    """OpenAI's ``developer`` role, first, is the system prompt (it replaces ``system`` for newer models)."""
    if isinstance(raw, list) and raw and isinstance(raw[0], dict) and raw[0].get("role") == "developer":
        return [{**raw[0], "role": TAGS["system_tag"]}, *raw[1:]]
    return raw


def _output(value: Any, where: str) -> list[Message]:
    """An output's messages (tool calls and results folded); each an assistant, function or tool turn."""
    if value is None:
        raise RowProblem("missing_field", f"{where} is missing")
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise RowProblem("bad_type", f"{where}: expected a list of assistant messages, got {type(value).__name__}")
    if not value:
        raise RowProblem("empty_response", f"{where}: no message")
    out = []
    for i, raw in enumerate(normalize(value, TAGS, where)):
        tag, message = to_message(raw, TAGS, f"{where}[{i}]")
        if message is None or message.role == "user":
            raise RowProblem("bad_role", f"{where}[{i}]: role {tag!r} in an output (expected assistant messages)")
        out.append(message)
    return out


def _answers(good: list[Message], bad: list[Message], names: tuple[str, str]) -> tuple[list[Message], Message, Message]:
    """(the messages both outputs share, which end the prompt; the chosen answer; the rejected answer)."""
    if len(good) == len(bad) == 1:
        return [], good[0], bad[0]
    shared = good[:-1]
    if len(good) < 2 or shared != bad[:-1] or shared[-1].role != "observation":
        raise RowProblem("multi_message_output",
                         f"{names[0]} has {len(good)} messages and {names[1]} {len(bad)}: LLaMA-Factory's ranking formats "
                         "hold one answer message; outputs of several are read only when they share all but their "
                         "last and the shared part ends with a tool result")
    return shared, good[-1], bad[-1]


def _convert(row: Row, options: ReadOptions) -> Iterator[Item]:
    data = get(row, options, "input", "input")
    where = column(options, "input")
    if not isinstance(data, dict):
        raise RowProblem("bad_type", f"{where}: expected an object with messages, got {type(data).__name__}")
    if "messages" not in data:
        raise RowProblem("missing_field", f"field '{where}.messages' is missing")
    field = f"{where}.messages"
    raw, inline = user_images(_developer_as_system(data["messages"]), TAGS, field)
    system, messages = read_messages(normalize(raw, TAGS, field), TAGS, field)
    if len(messages) % 2 == 0:
        raise RowProblem("bad_message_count", f"{field}: the input must end with a user turn (or a tool result) "
                                              "that the outputs answer")
    names = (column(options, "chosen", "preferred_output"), column(options, "rejected", "non_preferred_output"))
    good = _output(get(row, options, "chosen", "preferred_output"), names[0])
    bad = _output(get(row, options, "rejected", "non_preferred_output"), names[1])
    shared, chosen, rejected = _answers(good, bad, names)
    metadata = {"parallel_tool_calls": data["parallel_tool_calls"]} if "parallel_tool_calls" in data else {}
    yield PreferencePair(system=system or "", tools=tools_text(data.get("tools"), f"{where}.tools"),
                         prompt=messages + shared, chosen=chosen, rejected=rejected, metadata=metadata,
                         images=inline, provenance=provenance(row, "openai-preference"))
    if shared:
        yield Note("shared_output_prefix")


read = per_row("openai-preference", _convert)


def sniff(record: dict[str, Any]) -> bool:
    data = record.get("input")
    return isinstance(data, dict) and "messages" in data and "preferred_output" in record \
        and "non_preferred_output" in record


SPEC = ReaderSpec("openai-preference", read, sniff, fields=("input", "chosen", "rejected"),
                  needs=(("input", ("input",)), ("chosen", ("preferred_output",)),
                         ("rejected", ("non_preferred_output",))))
