"""A prompt's images as OpenAI-style ``image_url`` content parts with ``data:`` URLs, for LLaMA-Factory's API.

``llamafactory-cli api`` (api/chat.py, 0.9.5) turns each ``image_url`` part back into an ``<image>`` placeholder at
its place in the message, and takes ``data:image/{png,jpg,jpeg,gif,bmp};base64,...`` URLs (local paths only when
the server allows local files, which it does not by default). So each placeholder of a user turn becomes the next
image of the row, in order, as LLaMA-Factory trained on them.

>>> parts = with_images([{"role": "user", "content": "<image>What is it?"}], ["data:image/png;base64,AA=="], "r")
>>> parts[0]["content"]
[{'type': 'image_url', 'image_url': {'url': 'data:image/png;base64,AA=='}}, {'type': 'text', 'text': 'What is it?'}]
"""

from __future__ import annotations

import io
from typing import Any

from ..errors import DataError
from ..images.checks import IMAGE_PLACEHOLDER
from ..images.files import ImageRef, ImageUnreadable, data_url, probe_image

# Pillow's format -> the data: URL subtype LLaMA-Factory's API accepts; other formats are sent re-encoded as PNG
DATA_URL_TYPES = {"PNG": "png", "JPEG": "jpeg", "GIF": "gif", "BMP": "bmp"}


def api_data_url(source: str | bytes) -> str:
    """The image file (a path) or bytes as a ``data:`` URL; a format the API does not take (WebP, TIFF...) is
    re-encoded as PNG. Raises FileNotFoundError or ImageUnreadable."""
    from PIL import Image

    if isinstance(source, str):
        with open(source, "rb") as f:
            source = f.read()
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
