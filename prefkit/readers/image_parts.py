"""Images in a record: an ``images`` / ``image`` column, and image content parts inside user messages.

A message's content may be a list of typed parts. An image part becomes LLaMA-Factory's ``<image>`` placeholder at
its place in the turn's text, and the image it names joins the record's images in order:

- OpenAI: ``{"type": "image_url", "image_url": {"url": URL}}`` (or ``"image_url": URL``), and the Responses API's
  ``{"type": "input_image", "image_url": URL}``;
- LLaMA-Factory v1: ``{"type": "image_url", "value": PATH}``;
- TRL: ``{"type": "image"}`` (no payload: the images come from the ``images`` column, in order), or with an
  ``"image"`` path.

A URL is a path (relative to the input file's folder, or absolute) or a ``data:image/...;base64,`` URL (written as a
file beside the output by convert). A remote http(s) URL, a malformed ``data:`` URL, an image in a non-user turn,
or images given both as a column and as parts with their own URLs is the record's reject, naming the field.
"""

from __future__ import annotations

from typing import Any

from ..images.checks import IMAGE_PLACEHOLDER
from ..records import RowProblem
from ..writers.image_files import bytes_url, check_ref

IMAGE_TYPES = ("image_url", "input_image", "image")
USER_ROLES = ("user", "human")


def image_paths(value: Any, where: str) -> list[str]:
    """An images column: a path or ``data:`` URL, a datasets Image value (``{"bytes", "path"}``), or a list of
    them (LLaMA-Factory's ``images``); absent or null: none."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    where_of = (lambda i: f"{where}[{i}]") if isinstance(value, list) else (lambda i: where)
    return [_column_ref(item, where_of(i)) for i, item in enumerate(items)]


def _column_ref(item: Any, where: str) -> str:
    if isinstance(item, dict) and ("bytes" in item or "path" in item):
        if isinstance(item.get("bytes"), (bytes, bytearray)) and item["bytes"]:
            return bytes_url(bytes(item["bytes"]), f"{where}.bytes")
        return check_ref(item.get("path"), f"{where}.path")
    if not isinstance(item, str) or not item:
        raise RowProblem("bad_type", f"{where}: expected image paths (a string or a list of strings), got {item!r:.60}")
    return check_ref(item, where)


def part_url(part: dict[str, Any], where: str) -> tuple[str | None, str]:
    """(the reference an image part names, or None for TRL's bare ``{"type": "image"}``; the field it is in)."""
    kind = part.get("type")
    if kind == "image":
        return (None, where) if part.get("image") is None else (part["image"], f"{where}.image")
    inner = part.get("image_url", part.get("value", part.get("url")))
    key = "image_url" if "image_url" in part else "value" if "value" in part else "url"
    if isinstance(inner, dict):
        return inner.get("url"), f"{where}.{key}.url"
    return inner, f"{where}.{key}"


def inline_images(messages: Any, field: str, role_key: str = "role", content_key: str = "content",
                  user_roles: tuple[str, ...] = USER_ROLES) -> tuple[Any, list[str]]:
    """``messages`` with each image part of a user turn replaced by a text part holding ``<image>``, and the
    references those parts name, in order. The input is not changed; anything not a list of messages is
    returned as it is (the message readers report it)."""
    if not isinstance(messages, list):
        return messages, []
    out, refs = [], []
    for i, message in enumerate(messages):
        content = message.get(content_key) if isinstance(message, dict) else None
        if not isinstance(content, list) or not any(_is_image(p) for p in content):
            out.append(message)
            continue
        parts = []
        for j, part in enumerate(content):
            if not _is_image(part):
                parts.append(part)
                continue
            where = f"{field}[{i}].{content_key}[{j}]"
            if message.get(role_key) not in user_roles:
                raise RowProblem("image_not_in_user_turn", f"{where}: an image in a {message.get(role_key)!r} turn; "
                                                           "LLaMA-Factory takes images in user turns only")
            ref, ref_where = part_url(part, where)
            if ref is not None:
                refs.append(check_ref(ref, ref_where))
            parts.append({"type": "text", "text": IMAGE_PLACEHOLDER})
        out.append({**message, content_key: parts})
    return out, refs


def _is_image(part: Any) -> bool:
    return isinstance(part, dict) and part.get("type") in IMAGE_TYPES


def merged(column: list[str], inline: list[str], column_name: str = "images") -> list[str]:
    """The record's images: the column's, or those its parts name; both at once is ambiguous (which goes where?)."""
    if column and inline:
        raise RowProblem("ambiguous_images", f"{column_name}: the record has an images column and image parts with "
                                             "their own URLs; give its images one way")
    return column or inline
