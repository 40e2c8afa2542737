"""A pair to label as an Argilla record, and an answered record back as a prompt and its two answers.

The record id is a hash of the content (system, tools, prompt, the two answers in sorted order, and the images'
contents where the pair has images), so pushing the same pair twice, or in the other order, names the same record.
Which answer is shown as A is decided by a hash of the seed and the id: fixed for a record, about half the records swapped, and
independent of the input's order, so an annotator's habit of picking one side cannot become a habit
of the data.

Argilla's annotation page renders every text as markdown and lets HTML through it, so an answer's ``<think>``,
``#include <stdio.h>`` or ``List<String>`` would be rendered or dropped, not shown. Every text is sent as
:func:`shown` makes it (a zero-width space after each ``<`` and ``&``: no tag or entity is left, and nothing
visible changes); :func:`pair_fields` undoes it exactly for records that say so (``prefkit_display``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ..records import Message, RowProblem, UnlabeledPair
from . import media
from .layout import PREFERENCE

# The server's limit on a chat message's content (argilla_server.api.schemas.v1.chat).
MAX_MESSAGE_CHARS = int(os.environ.get("ARGILLA_MAX_MESSAGE_LENGTH", 20000))


DISPLAY = "zwsp"  # metadata prefkit_display of records whose texts went through shown()
_ZWSP = "\u200b"


def shown(text: str) -> str:
    """``text`` as the annotation page gets it: a zero-width space after each ``<`` and ``&``.

    >>> shown("<think>a & b</think>") == "<\u200bthink>a &\u200b b<\u200b/think>"
    True
    >>> original(shown("x <\u200b & \u200b y")) == "x <\u200b & \u200b y"
    True
    """
    return text.replace("&", "&" + _ZWSP).replace("<", "<" + _ZWSP)


def original(text: str) -> str:
    """The text that :func:`shown` was given."""
    return text.replace("<" + _ZWSP, "<").replace("&" + _ZWSP, "&")


def record_id(pair: UnlabeledPair, image_keys: Sequence[str] = ()) -> str:
    """The pair's content id; ``image_keys`` (media.PairImage.key, in order) only where it has images, so the id
    of a pair without images is the one it always had."""
    answers = sorted((pair.response_a.content, pair.response_b.content))
    content = [pair.system, pair.tools, [[m.role, m.content] for m in pair.prompt], answers]
    key = orjson.dumps(content + [list(image_keys)] if image_keys else content)
    return "pk-" + hashlib.sha256(key).hexdigest()[:32]


def swapped(rid: str, seed: int) -> bool:
    return hashlib.sha256(f"{seed}:{rid}".encode()).digest()[0] & 1 == 1


@dataclass(slots=True)
class Task:
    """One record to push: its id, the Argilla record body, and where the pair came from."""

    id: str
    body: dict[str, Any]
    origin: tuple[str, int]  # (input file, record index)


def origin(pair: UnlabeledPair) -> tuple[str, int]:
    """The input record of a pair, through ``convert --unlabeled`` files (``metadata.origin``)."""
    source, _, index = str(pair.metadata.get("origin", "")).rpartition(":")
    if source and index.isdigit():
        return source, int(index)
    return pair.provenance.source, pair.provenance.index


def task(pair: UnlabeledPair, seed: int, question_id: str, image_keys: Sequence[str] = ()) -> Task:
    """The bulk-upsert body of ``pair`` (raises RowProblem for what the server would refuse); its image fields are
    added by the caller (media.field_values), once it knows that the record is to be sent."""
    rid = record_id(pair, image_keys)
    swap = swapped(rid, seed)
    a, b = (pair.response_b, pair.response_a) if swap else (pair.response_a, pair.response_b)
    score_a, score_b = (pair.score_b, pair.score_a) if swap else (pair.score_a, pair.score_b)
    chat = ([{"role": "system", "content": pair.system}] if pair.system else []) + \
        [{"role": m.role, "content": m.content} for m in pair.prompt]
    for i, m in enumerate(chat):
        if not m["content"].strip():
            raise RowProblem("empty_message", f"conversation[{i}] ({m['role']}) is empty; Argilla refuses empty messages")
        m["content"] = shown(m["content"])
        if len(m["content"]) > MAX_MESSAGE_CHARS:
            raise RowProblem("too_long_for_argilla", f"conversation[{i}] has {len(m['content']):,} characters as shown "
                             f"(with a zero-width space after each < and &); Argilla allows {MAX_MESSAGE_CHARS:,} a "
                             "message (ARGILLA_MAX_MESSAGE_LENGTH on the server)")
    source, index = origin(pair)
    metadata: dict[str, Any] = {"source": os.path.basename(source), "position": "swapped" if swap else "kept",
                                "len_a": len(a.content), "len_b": len(b.content), "prefkit_origin": f"{source}:{index}",
                                "prefkit_display": DISPLAY}
    for key, value in (("score_a", score_a), ("score_b", score_b)):
        if value is not None:
            metadata[key] = value
    if pair.tools:
        metadata["prefkit_tools"] = pair.tools
    metadata.update(media.metadata(pair))
    for key, role in (("a", a.role), ("b", b.role)):
        if role != "assistant":
            metadata[f"prefkit_role_{key}"] = role
    body: dict[str, Any] = {"external_id": rid, "metadata": metadata,
                            "fields": {"conversation": chat, "response_a": shown(a.content), "response_b": shown(b.content)}}
    if pair.suggestion:
        label = {"a": "b", "b": "a"}.get(pair.suggestion, pair.suggestion) if swap else pair.suggestion
        body["suggestions"] = [{"question_id": question_id, "value": label, "type": "model",
                                "agent": "prefkit:input"}]
    return Task(rid, body, (source, index))


def pair_fields(record: dict[str, Any]) -> tuple[str, str, list[Message], Message, Message]:
    """(system, tools, prompt, shown A, shown B) of a record read back from Argilla."""
    fields, metadata = original_fields(record), record.get("metadata") or {}
    chat = fields.get("conversation") or []
    system = chat[0]["content"] if chat and chat[0]["role"] == "system" else ""
    prompt = [Message(role=m["role"], content=m["content"]) for m in chat[1 if system else 0:]]
    a = Message(role=metadata.get("prefkit_role_a", "assistant"), content=fields.get("response_a", ""))
    b = Message(role=metadata.get("prefkit_role_b", "assistant"), content=fields.get("response_b", ""))
    return system, metadata.get("prefkit_tools", ""), prompt, a, b


def original_fields(record: dict[str, Any]) -> dict[str, Any]:
    """The record's fields with their texts as pushed (see :func:`shown`), without image fields (their paths are
    in the metadata: media.pulled_images)."""
    fields = {k: v for k, v in (record.get("fields") or {}).items() if not k.startswith("image_")}
    if (record.get("metadata") or {}).get("prefkit_display") != DISPLAY:
        return fields  # pushed before prefkit_display, or by something else: as they are
    chat = [{**m, "content": original(m["content"])} if isinstance(m.get("content"), str) else m
            for m in fields.get("conversation") or []]
    return {**fields, "conversation": chat,
            **{k: original(fields[k]) for k in ("response_a", "response_b") if isinstance(fields.get(k), str)}}


def suggested(record: dict[str, Any], question_id: str) -> str | None:
    """The label suggested for the preference question (read with ``include=suggestions``), as shown (A/B)."""
    for suggestion in record.get("suggestions") or []:
        if str(suggestion.get("question_id")) == question_id and isinstance(suggestion.get("value"), str):
            return suggestion["value"]
    return None


def votes(record: dict[str, Any]) -> dict[str, str]:
    """user id -> submitted preference label (drafts and discarded answers are not votes)."""
    out = {}
    for response in record.get("responses") or []:
        value = ((response.get("values") or {}).get(PREFERENCE) or {}).get("value")
        if response.get("status") == "submitted" and value is not None:
            out[str(response["user_id"])] = value
    return out
