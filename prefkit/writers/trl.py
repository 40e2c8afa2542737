"""TRL's rows, for users who train with TRL as well (not a LLaMA-Factory dataset, so never registered).

``--to trl``: conversational preference rows with an explicit prompt, as TRL's ``DPOTrainer`` reads them::

    {"prompt": [{"role": "system", ...}, {"role": "user", "content": "..."}],
     "chosen": [{"role": "assistant", "content": "..."}], "rejected": [{"role": "assistant", "content": "..."}]}

``--to trl-kto``: unpaired rows, as ``KTOTrainer`` reads them: ``{"prompt": [...], "completion": [...], "label": true}``.
A tool call (LLaMA-Factory's function turn) becomes an assistant message with ``tool_calls``, a tool result a
``tool`` message, and ``tools`` (when a record has them) the list of tool definitions.

A record with images is written in TRL's vision format: an ``images`` column of paths (relative to the output's
folder) and each user turn as typed parts, ``{"type": "image"}`` where its ``<image>`` placeholders were::

    {"prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is this?"}]}],
     "chosen": [...], "rejected": [...], "images": ["pics/cat.png"]}

A prompt with no placeholder gets its images before the first user text (where TRL's ``prepare_multimodal_messages``
puts them); any other count that differs from the images is rejected (``image_count_mismatch``: TRL stops on it).
Parquet output holds text content only, so records with images are rejected there (write .jsonl).
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import UsageError
from ..images.checks import IMAGE_PLACEHOLDER
from ..records import KtoExample, Message, PreferencePair, RowProblem
from ..vocab import ROLE_FUNCTION, ROLE_OBSERVATION, ROLE_USER
from .base import ArrowTypes, Writer


def trl_message(m: Message, json_text: bool = False) -> dict[str, Any]:
    if m.role == ROLE_FUNCTION:
        try:
            calls = json.loads(m.content)
        except ValueError:
            raise RowProblem("bad_tool_call", "a tool call is not JSON; TRL needs {name, arguments}") from None
        calls = calls if isinstance(calls, list) else [calls]
        calls = [{**c, "arguments": _arguments(c.get("arguments"), json_text)} if isinstance(c, dict) else c
                 for c in calls]
        return {"role": "assistant", "tool_calls": [{"type": "function", "function": c} for c in calls]}
    return {"role": "tool" if m.role == ROLE_OBSERVATION else m.role, "content": m.content}


def _arguments(value: Any, json_text: bool) -> Any:
    """A tool call's arguments as TRL's chat templates take them (an object), or as JSON text for Parquet."""
    if json_text:
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def typed_parts(content: str) -> list[dict[str, str]]:
    """A user turn's text as TRL's typed parts, an image part at each ``<image>`` placeholder."""
    parts: list[dict[str, str]] = []
    for i, piece in enumerate(content.split(IMAGE_PLACEHOLDER)):
        if i:
            parts.append({"type": "image"})
        if piece:
            parts.append({"type": "text", "text": piece})
    return parts


def vision_turns(turns: list[dict[str, Any]], images: int, parquet: bool) -> list[dict[str, Any]]:
    """The prompt's user turns as typed parts (all of them: TRL puts images before a first user turn left a string)."""
    if parquet:
        raise RowProblem("parquet_cannot_hold_image_parts", "the record has images, whose TRL rows hold typed content "
                                                            "parts that the Parquet schema cannot; write .jsonl")
    users = [t for t in turns if t["role"] == ROLE_USER]
    placeholders = sum(t["content"].count(IMAGE_PLACEHOLDER) for t in users)
    if placeholders not in (0, images):
        raise RowProblem("image_count_mismatch", f"the prompt has {placeholders} {IMAGE_PLACEHOLDER} placeholder(s) "
                                                 f"but the record has {images} image(s); TRL pairs them one to one")
    out = [{**t, "content": typed_parts(t["content"])} if t["role"] == ROLE_USER else t for t in turns]
    if not placeholders:
        first = out.index(next(t for t in out if t["role"] == ROLE_USER))
        out[first] = {**out[first], "content": [{"type": "image"}] * images + out[first]["content"]}
    return out


class _TrlWriter(Writer):
    registry = None  # TRL rows: no LLaMA-Factory registry reads them
    target = "trl"

    def __init__(self, parquet: bool = False) -> None:
        super().__init__(parquet)
        self.json_text = parquet  # Parquet output: tool definitions and tool-call arguments as JSON text

    def message(self, m: Message) -> dict[str, Any]:
        return trl_message(m, self.json_text)

    def prompt(self, record: PreferencePair | KtoExample) -> list[dict[str, Any]]:
        head = [{"role": "system", "content": record.system}] if record.system else []
        turns = [self.message(m) for m in record.prompt]
        return head + (vision_turns(turns, len(record.images), self.json_text) if record.images else turns)

    def tools(self, tools: str) -> list[Any] | str:
        try:
            parsed = json.loads(tools)
        except ValueError:
            raise RowProblem("bad_tools", "tools is not a JSON list of tool definitions") from None
        parsed = parsed if isinstance(parsed, list) else [parsed]
        return json.dumps(parsed, ensure_ascii=False) if self.json_text else parsed

    def columns(self) -> dict[str, str]:
        return {}

    def entry(self, file_name: str) -> dict[str, Any]:
        raise UsageError(f"--to {self.name} writes TRL rows, which LLaMA-Factory does not read: drop --register "
                         "(or write --to sharegpt / kto / lf-v1 for LLaMA-Factory)")


class TrlWriter(_TrlWriter):
    name = "trl"

    @classmethod
    def arrow_fields(cls, types: ArrowTypes) -> list[tuple[str, Any]] | None:
        msgs = types.trl_msgs
        return [("prompt", msgs), ("chosen", msgs), ("rejected", msgs), ("tools", types.text)]

    def row(self, record: PreferencePair) -> dict[str, Any]:
        out: dict[str, Any] = {"prompt": self.prompt(record), "chosen": [self.message(record.chosen)],
                               "rejected": [self.message(record.rejected)]}
        if record.tools:
            out["tools"] = self.tools(record.tools)
        return self.with_images(record, out)


class TrlKtoWriter(_TrlWriter):
    name = "trl-kto"
    ranking = False
    record_type = KtoExample

    @classmethod
    def arrow_fields(cls, types: ArrowTypes) -> list[tuple[str, Any]]:
        msgs = types.trl_msgs
        return [("prompt", msgs), ("completion", msgs), ("label", types.pa.bool_()), ("tools", types.text)]

    def row(self, record: KtoExample) -> dict[str, Any]:
        out: dict[str, Any] = {"prompt": self.prompt(record), "completion": [self.message(record.completion)],
                               "label": record.label}
        if record.tools:
            out["tools"] = self.tools(record.tools)
        return self.with_images(record, out)
