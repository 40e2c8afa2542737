"""Image references as LLaMA-Factory 0.9.5 resolves and opens them (v0 datasets).

``DatasetConverter._find_medias`` (data/converter.py): a value that is not a list becomes a one-item list, an
empty list means no images; when the first item is a string (and the dataset is a local file or script), each
item is joined to ``media_dir`` (``DataArguments.media_dir``, which defaults to ``dataset_dir``) and the joined
path is used if it is a file, else the reference as written (then opened relative to the training run's working
directory). ``MMPluginMixin._regularize_images`` (data/mm_plugin.py) opens a string with ``Image.open`` and a
``{"bytes", "path"}`` dict from its bytes, else its path; the image is decoded at the first resize/convert.
"""

from __future__ import annotations

import base64
import io
import os
from dataclasses import dataclass
from typing import Any

JPEG_DRAFT_SCALE = 8  # libjpeg decodes at 1/8 scale: the whole entropy-coded stream is still read


def is_web_url(ref: str) -> bool:
    """An http(s) URL (any case), which LLaMA-Factory cannot open and prefkit never downloads."""
    return ref[:8].lower().startswith(("http://", "https://"))


def data_url(mime: str, data: bytes) -> str:
    """Image bytes as a ``data:`` URL."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


@dataclass(frozen=True, slots=True)
class ImageRef:
    """One entry of a row's images column."""

    path: str  # field path inside the record: "images[1]" (or "images" for a single non-list value)
    ref: str  # the reference as the user wrote it (a path, or "<bytes>" for embedded data)
    source: str | bytes | None  # what LLaMA-Factory opens: a path, raw bytes, or None (not an image reference)


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What Pillow reads from an image: its stored size (no EXIF rotation: LLaMA-Factory applies none)."""

    width: int
    height: int
    format: str | None
    mode: str


class ImageUnreadable(Exception):
    """Pillow cannot open or decode the image (not an image, truncated, corrupt)."""


def resolve_path(ref: str, media_dir: str | None) -> str:
    """The path LLaMA-Factory opens for a string reference: ``media_dir/ref`` if that is a file, else ``ref``
    (an absolute ``ref`` stays itself: ``os.path.join`` drops ``media_dir``)."""
    if media_dir is not None:
        joined = os.path.join(media_dir, ref)
        if os.path.isfile(joined):
            return joined
    return ref


def image_refs(value: Any, column: str, media_dir: str | None) -> list[ImageRef]:
    """The entries of one row's images column, in order, as ``_find_medias`` hands them to the mm plugin.
    ``media_dir`` None: no joining (datasets LLaMA-Factory loads from a hub)."""
    if value is None or value == []:
        return []
    if isinstance(value, list):
        items, paths = value, [f"{column}[{i}]" for i in range(len(value))]
    else:
        items, paths = [value], [column]
    join = media_dir if isinstance(items[0], str) else None  # _find_medias looks at the first item only
    return [_ref(item, path, join) for item, path in zip(items, paths)]


def _ref(item: Any, path: str, media_dir: str | None) -> ImageRef:
    if isinstance(item, str):
        return ImageRef(path, item, resolve_path(item, media_dir))
    if isinstance(item, dict) and item.get("bytes") is not None:
        data = item["bytes"]
        return ImageRef(path, "<bytes>", data if isinstance(data, bytes) else None)
    if isinstance(item, dict) and isinstance(item.get("path"), str):
        return ImageRef(path, item["path"], item["path"])
    return ImageRef(path, repr(item)[:80], None)


def probe_image(source: str | bytes, decode: bool = True) -> ImageInfo:
    """Open an image with Pillow: its size comes from the header; with ``decode`` the pixel data is decoded once
    (JPEG at 1/8 scale, which reads the same stream) so a truncated or corrupt file fails here, as it would in
    LLaMA-Factory. Raises FileNotFoundError or ImageUnreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            info = ImageInfo(image.width, image.height, image.format, image.mode)
            if decode:
                if image.format == "JPEG":
                    image.draft(image.mode, (max(1, image.width // JPEG_DRAFT_SCALE), max(1, image.height // JPEG_DRAFT_SCALE)))
                image.load()
    except FileNotFoundError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ImageUnreadable(str(e) or type(e).__name__) from e
    return info


class ImageProber:
    """``probe_image`` with a cache by path, for datasets that reuse images across records."""

    def __init__(self, decode: bool = True) -> None:
        self.decode = decode
        self._cache: dict[str, ImageInfo | Exception] = {}

    def probe(self, source: str | bytes) -> ImageInfo:
        if isinstance(source, bytes):
            return probe_image(source, self.decode)
        key = os.path.abspath(source)
        if key not in self._cache:
            try:
                self._cache[key] = probe_image(source, self.decode)
            except (FileNotFoundError, ImageUnreadable) as e:
                self._cache[key] = e
        found = self._cache[key]
        if isinstance(found, Exception):
            raise found
        return found
