"""``--from kto-rows``: unpaired KTO rows that keep the labelled answer apart from its context, one example a row::

    {"context": [{"role": "user", "content": "2+2?"}, {"role": "bot", "content": "4"},
                 {"role": "user", "content": "and 3+3?"}],
     "answer": {"role": "bot", "content": "6"}, "is_desirable": true}

(turbo-alignment's KTO records). The context is a message list (role/content, or sharegpt's from/value; ``bot`` is the
assistant, a leading ``system`` message the system prompt) or a string, and ends with the user (or tool) turn the
answer replies to; the answer is a message or a string; the label a boolean. Fields and their default columns:
prompt <- ``context`` / ``prompt``, completion <- ``answer`` / ``completion`` / ``response``, label <- ``is_desirable``
/ ``label`` / ``kto_tag`` (``--map prompt=... completion=... label=...`` for other names), and ``system``, ``tools``,
``images``. TRL's own ``{prompt, completion, label}`` rows are ``--from trl``'s, read the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..io.sources import Row
from ..vocab import OPENAI_TAGS
from .base import Item, ReadOptions, RowProblem, get, per_row
from .sharegpt import tags_for
from .spec import ReaderSpec
from .trl import column, example

PROMPT_KEYS = ("context", "prompt")
ANSWER_KEYS = ("answer", "completion", "response")
LABEL_KEYS = ("is_desirable", "label", "kto_tag")
BOT = "bot"  # turbo-alignment's assistant role


def _bot_as_assistant(value: Any, tags: dict[str, str]) -> Any:
    """A message (or list of them) with the role ``bot`` read as the assistant's."""
    if isinstance(value, list):
        return [_bot_as_assistant(m, tags) for m in value]
    if isinstance(value, dict) and value.get(tags["role_tag"]) == BOT:
        return {**value, tags["role_tag"]: tags["assistant_tag"]}
    return value


def _present(row: Row, options: ReadOptions, name: str, keys: tuple[str, ...]) -> str:
    """The column field ``name`` is read from (for messages)."""
    return options.mapping.get(name) or next((k for k in keys if k in row.data), keys[0])


def _convert(row: Row, options: ReadOptions) -> Iterator[Item]:
    prompt = get(row, options, "prompt", *PROMPT_KEYS)
    answer = get(row, options, "completion", *ANSWER_KEYS)
    label = get(row, options, "label", *LABEL_KEYS)
    system = get(row, options, "system", required=False)
    if system is not None and not isinstance(system, str):
        raise RowProblem("bad_type", f"{column(options, 'system')}: expected a string")
    tags = tags_for(prompt if isinstance(prompt, list) else [answer], options)  # role/content or from/value
    where = {name: _present(row, options, name, keys)
             for name, keys in (("prompt", PROMPT_KEYS), ("completion", ANSWER_KEYS), ("label", LABEL_KEYS))}
    yield example(row, options, "kto-rows", _bot_as_assistant(prompt, tags), _bot_as_assistant(answer, tags), label,
                  where, tags, system or "")


read = per_row("kto-rows", _convert)


def sniff(record: dict[str, Any]) -> bool:
    """A context (or prompt), a separate answer and a boolean label, named as turbo-alignment names them."""
    if "chosen" in record or "rejected" in record or "conversations" in record or "messages" in record:
        return False
    label = next((record[k] for k in LABEL_KEYS if k in record), None)
    prompt = next((record[k] for k in PROMPT_KEYS if k in record), None)
    answer = next((record[k] for k in ANSWER_KEYS if k in record), None)
    named = "context" in record or "answer" in record or "is_desirable" in record
    return named and isinstance(label, bool) and isinstance(prompt, (str, list)) and isinstance(answer, (str, dict, list))


NEEDS = (("prompt", PROMPT_KEYS), ("completion", ANSWER_KEYS), ("label", LABEL_KEYS))
SPEC = ReaderSpec("kto-rows", read, sniff,
                  fields=("prompt", "completion", "label", "system", "tools", "images", *OPENAI_TAGS),
                  needs=NEEDS, kto_needs=NEEDS)
