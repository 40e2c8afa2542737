"""A prompt's images as OpenAI-style ``image_url`` content parts with ``data:`` URLs, for LLaMA-Factory's API.

``llamafactory-cli api`` (api/chat.py, 0.9.5) turns each ``image_url`` part back into an ``<image>`` placeholder at
its place in the message, and takes ``data:image/{png,jpg,jpeg,gif,bmp};base64,...`` URLs (local paths only when
the server allows local files, which it does not by default). So each placeholder of a user turn becomes the next
image of the row, in order, as LLaMA-Factory trained on them. This is the one way prefkit sends images: ``eval``
and ``generate`` (:func:`request_with_images`) to the served model, ``judge`` and eval's judge
(:func:`judge_with_images`) to the judge; a prompt whose images cannot be sent is refused in one line, never
sent as bare ``<image>`` text.

>>> parts = with_images([{"role": "user", "content": "<image>What is it?"}], ["data:image/png;base64,AA=="], "r")
>>> parts[0]["content"]
[{'type': 'image_url', 'image_url': {'url': 'data:image/png;base64,AA=='}}, {'type': 'text', 'text': 'What is it?'}]
"""

from __future__ import annotations

import io
import os
from typing import Any

from ..errors import DataError
from ..images.checks import IMAGE_PLACEHOLDER, RowLayout
from ..images.files import ImageRef, ImageUnreadable, data_url, image_refs, probe_image, read_image_file

# Pillow's format -> the data: URL subtype LLaMA-Factory's API accepts; other formats are sent re-encoded as PNG
DATA_URL_TYPES = {"PNG": "png", "JPEG": "jpeg", "GIF": "gif", "BMP": "bmp"}


def api_data_url(source: str | bytes) -> str:
    """The image file (a path) or bytes as a ``data:`` URL; a format the API does not take (WebP, TIFF...) is
    re-encoded as PNG. Raises FileNotFoundError or ImageUnreadable (ImageTooLarge, a FIFO or device: the one
    bounded reader, images.files.read_image_file)."""
    from PIL import Image

    if isinstance(source, str):
        source = read_image_file(source)
    info = probe_image(source)  # decodes once: a truncated file fails here, not in the server
    kind = DATA_URL_TYPES.get(info.format or "")
    if kind is None:
        out = io.BytesIO()
        with Image.open(io.BytesIO(source)) as image:
            image.convert("RGB").save(out, "PNG")
        source, kind = out.getvalue(), "png"
    return data_url(f"image/{kind}", source)


def image_urls(refs: list[ImageRef], where: str) -> list[str]:
    """Each of a row's images as a data: URL; a missing or unreadable one raises, naming ``where`` and the field."""
    urls = []
    for ref in refs:
        try:
            if ref.source is None:
                raise ImageUnreadable("not an image reference")
            urls.append(api_data_url(ref.source))
        except FileNotFoundError:
            raise DataError(f"{where}: {ref.path}: image {ref.ref!r} not found (prefkit validate names every "
                            "missing image)") from None
        except (ImageUnreadable, OSError) as err:
            raise DataError(f"{where}: {ref.path}: image {ref.ref!r} unreadable: {err}") from None
    return urls


def with_images(messages: list[dict[str, Any]], urls: list[str], where: str) -> list[dict[str, Any]]:
    """``messages`` with each ``<image>`` placeholder of the user turns replaced by the next of ``urls`` as an
    ``image_url`` part (turns without one stay plain text). Placeholders and images must match in number."""
    count = sum(m["content"].count(IMAGE_PLACEHOLDER) for m in messages if m["role"] == "user")
    if count != len(urls):
        raise DataError(f"{where}: images: {len(urls)} image(s) but {count} {IMAGE_PLACEHOLDER} placeholder(s) in the "
                        "prompt (image_count_mismatch: prefkit validate names each such record)")
    next_url = iter(urls)
    out = []
    for message in messages:
        if message["role"] != "user" or IMAGE_PLACEHOLDER not in message["content"]:
            out.append(message)
            continue
        parts: list[dict[str, Any]] = []
        for n, text in enumerate(message["content"].split(IMAGE_PLACEHOLDER)):
            if n:
                parts.append({"type": "image_url", "image_url": {"url": next(next_url)}})
            if text:
                parts.append({"type": "text", "text": text})
        out.append({**message, "content": parts})
    return out


def row_image_refs(data: Any, layout: RowLayout | None, media_dir: str) -> list[ImageRef]:
    """The images of a registered dataset's row (none without an images column), found as LLaMA-Factory finds them."""
    if layout is None or not isinstance(data, dict):
        return []
    return image_refs(data.get(layout.images), layout.images, media_dir)


def request_with_images(messages: list[dict[str, Any]], refs: list[ImageRef], where: str,
                        layout: RowLayout | None) -> list[dict[str, Any]]:
    """The request that asks ``messages`` of a served model: the row's images in place of its placeholders (a
    dataset without an images column: the text as it is)."""
    return messages if layout is None else with_images(messages, image_urls(refs, where), where)


def kept_images(refs: list[ImageRef]) -> list[str]:
    """How an output row (generate's candidates) names a prompt's images, so that judge can send them again: an
    absolute path, or the ``data:`` URL of embedded bytes."""
    return [os.path.abspath(ref.source) if isinstance(ref.source, str) else api_data_url(ref.source)
            for ref in refs if ref.source is not None]


def urls_of_kept(images: Any, where: str) -> list[str]:
    """The data: URLs of an output row's ``images`` (see kept_images); anything else is a DataError."""
    if images is None or images == []:
        return []
    if not isinstance(images, list) or not all(isinstance(i, str) for i in images):
        raise DataError(f"{where}: images: not a list of image paths")
    refs = [ImageRef(f"images[{n}]", i, i) for n, i in enumerate(images) if not i.startswith("data:")]
    urls = iter(image_urls(refs, where))
    return [i if i.startswith("data:") else next(urls) for i in images]


def urls_in(messages: list[dict[str, Any]]) -> list[str]:
    """The image URLs of a request built by :func:`with_images`, in order."""
    return [part["image_url"]["url"] for m in messages if isinstance(m.get("content"), list)
            for part in m["content"] if part.get("type") == "image_url"]


def refuse_placeholders(messages: list[dict[str, Any]], where: str, why: str) -> None:
    """A prompt with ``<image>`` placeholders whose images cannot be sent: a DataError saying ``why``, never the
    placeholder sent as text."""
    if any(isinstance(m.get("content"), str) and IMAGE_PLACEHOLDER in m["content"] for m in messages
           if m.get("role") == "user"):
        raise DataError(f"{where}: the prompt has {IMAGE_PLACEHOLDER} placeholders but {why}; prefkit sends a "
                        "prompt's images or refuses it, never the bare placeholder")


def judge_with_images(messages: list[dict[str, Any]], urls: list[str]) -> list[dict[str, Any]]:
    """A judge's request (system + one user message) with the prompt's images as ``image_url`` parts before the
    user text, in the order of the conversation's ``<image>`` placeholders.

    >>> judge_with_images([{"role": "user", "content": "Which?"}], ["data:image/png;base64,AA=="])[0]["content"][1]
    {'type': 'text', 'text': 'Which?'}
    """
    if not urls:
        return messages
    parts: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    return [{**m, "content": parts + [{"type": "text", "text": m["content"]}]} if m["role"] == "user" else m
            for m in messages]
