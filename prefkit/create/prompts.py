"""The prompts of any prefkit input, as OpenAI-style messages ending with the user turn to answer.

A row's prompt is its ``prompt`` / ``instruction`` / ``question`` (text, joined with ``input``, or a list of
role/content messages), or its ``messages`` / ``conversations`` up to the last user turn (sharegpt tags are
understood), with ``system`` put first. A registered NAME is read through its dataset_info.json entry, as
LLaMA-Factory reads it, its images (an images column) sent as ``image_url`` parts (prefkit.serving.image_parts); a
file's row with images is refused in one line (its images are found only through a registered dataset's dir).
Prompts are keyed by a digest of their messages and images, so a prompt is asked once.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..checks.acceptance import Attr, LoaderFailure, align
from ..errors import DataError, InputError
from ..serving.image_parts import kept_images, refuse_placeholders, request_with_images, row_image_refs
from ..images.checks import RowLayout
from ..io import files as io
from ..io.sources import iter_rows
from ..registry import info as registry
from ..vocab import SHAREGPT_TAGS

_ROLES = {SHAREGPT_TAGS["user_tag"]: "user", SHAREGPT_TAGS["assistant_tag"]: "assistant", "system": "system",
          "user": "user", "assistant": "assistant", "observation": "user", "function_call": "assistant",
          "prompter": "user"}


@dataclass
class Prompt:
    key: str  # a stable digest of the messages (and images)
    messages: list[dict[str, str]]  # the text, <image> placeholders kept: what output rows hold
    source: str
    index: int
    request: list[dict[str, Any]] | None = None  # what is sent when it differs: the images as image_url parts
    images: list[str] = field(default_factory=list)  # the images as output rows name them (kept_images)


def prompt_id(messages: list[dict[str, str]], images: list[str] | None = None) -> str:
    parts: list[Any] = [(m["role"], m["content"]) for m in messages]
    return hashlib.blake2b(io.dumps(parts + [images] if images else parts), digest_size=10).hexdigest()


def read_prompts(target: str, dataset_dir: str | None = None) -> Iterator[Prompt | tuple[int, str]]:
    """Each distinct prompt of ``target`` (a file, a datasets input, or a NAME in ``dataset_dir``), or
    (index, why) for a row that has none: ``no_prompt`` or ``bad_prompt`` (see prompt_of)."""
    seen: set[str] = set()
    registered = bool(dataset_dir) and not os.path.exists(target)
    if registered:
        rows = _registered(target, dataset_dir or "")
    else:
        rows = ((row.index, _refuse_images(row.data, f"{target}: record {row.index}") if row.error is None else None,
                 None) for row in iter_rows(target))
    for index, data, images in rows:
        messages = prompt_of(data)
        if isinstance(messages, str) or messages[-1]["role"] != "user" or not messages[-1]["content"].strip():
            yield index, messages if isinstance(messages, str) else "no_prompt"
            continue
        if not registered:
            refuse_placeholders(messages, f"{target}: record {index}", "a prompt file's rows carry no images to send")
        kept = kept_images(images[1]) if images else []
        key = prompt_id(messages, kept)
        if key not in seen:
            seen.add(key)
            request = request_with_images(messages, images[1], images[0], images[2]) if images else None
            yield Prompt(key, messages, target, index, request, kept)


def _refuse_images(data: Any, where: str) -> Any:
    if isinstance(data, dict) and data.get("images") not in (None, [], ""):
        raise DataError(f"{where}: images: a prompt file's images are not sent (where they are depends on a dataset "
                        "dir); register the dataset and give its NAME with --dataset-dir")
    return data


Images = tuple[str, list[Any], RowLayout]  # (where, the row's image references, the entry's layout)


def _registered(name: str, dataset_dir: str) -> Iterator[tuple[int, dict[str, Any] | None, Images | None]]:
    entry = registry.get_entry(dataset_dir, name)
    path = os.path.join(dataset_dir, entry["file_name"])
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file (dataset {name!r})")
    layout = RowLayout.from_entry(entry)  # None: no images column
    for index, data, messages in registered_prompts(path, Attr.from_entry(entry)):
        images = (f"{path}: record {index}", row_image_refs(data, layout, dataset_dir), layout) if layout else None
        yield index, {"messages": messages} if messages else None, images


def registered_prompts(path: str, attr: Attr) -> Iterator[tuple[int, Any, list[dict[str, str]] | None]]:
    """(index, raw row, prompt) of each row of a registered dataset file: the prompt as LLaMA-Factory reads it
    (prefkit.checks.acceptance), system first, OpenAI roles (an observation is a user turn); None for a row with
    none, or on which LLaMA-Factory's converter fails. The one prompt extractor of generate, eval and the eval split."""
    for row in iter_rows(path):
        yield row.index, row.data, registered_prompt(row.data if row.error is None else None, attr)


def registered_prompt(data: Any, attr: Attr) -> list[dict[str, str]] | None:
    """One raw row's prompt as LLaMA-Factory reads it (see registered_prompts)."""
    try:
        aligned = align(data, attr) if isinstance(data, dict) else None
    except LoaderFailure:
        return None
    if aligned is None or not aligned.prompt:
        return None
    head = [{"role": "system", "content": aligned.system}] if isinstance(aligned.system, str) and aligned.system else []
    return head + [{"role": "assistant" if m["role"] in ("assistant", "function") else "user", "content": m["content"]}
                   for m in aligned.prompt]


def messages_of(data: dict[str, Any]) -> list[dict[str, str]] | None:
    """The prompt messages of a row; None when it has none (prompt_of says why)."""
    found = prompt_of(data)
    return found if isinstance(found, list) else None


def prompt_of(data: Any) -> list[dict[str, str]] | str:
    """The prompt messages of a row, or why it has none: ``no_prompt`` (no prompt field or no message), or
    ``bad_prompt`` (a list of messages holding one that is not an object, or a role or content that is not text)."""
    if not isinstance(data, dict):
        return "no_prompt"
    system = data.get("system") if isinstance(data.get("system"), str) else ""
    raw = next((data[k] for k in ("prompt", "instruction", "question") if k in data), None)
    turns: list[dict[str, str]] | None
    if isinstance(raw, str):
        extra = data.get("input") if isinstance(data.get("input"), str) else ""
        turns = [{"role": "user", "content": "\n".join(p for p in (raw, extra) if p)}]
    elif isinstance(raw, list):
        turns = _turns(raw)
    else:
        listed = next((data[k] for k in ("messages", "conversations") if isinstance(data.get(k), list)), None)
        turns = _turns(listed) if listed is not None else []
        while turns and turns[-1]["role"] != "user":
            turns.pop()  # a logged conversation: answer its last user turn again
    if turns is None:
        return "bad_prompt"
    if not turns:
        return "no_prompt"
    if turns[0]["role"] == "system":
        system, turns = system or turns[0]["content"], turns[1:]
    return ([{"role": "system", "content": system}] if system else []) + turns or "no_prompt"


def _turns(raw: list[Any]) -> list[dict[str, str]] | None:
    """OpenAI-style turns of a list of messages; None when one is malformed (a role of any type is looked up
    only when it is text: a list or a dict would not hash)."""
    turns = []
    for m in raw:
        if not isinstance(m, dict):
            return None
        tag = m.get("role", m.get("from"))
        role = _ROLES.get(tag) if isinstance(tag, str) else None
        content = m.get("content", m.get("value", m.get("text")))
        if role is None or not isinstance(content, str):
            return None
        turns.append({"role": role, "content": content})
    return turns
