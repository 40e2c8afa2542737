"""Image references as LLaMA-Factory 0.9.5 resolves and opens them (v0 datasets).

``DatasetConverter._find_medias`` (data/converter.py): a value that is not a list becomes a one-item list, an
empty list means no images; when the first item is a string (and the dataset is a local file or script), each
item is joined to ``media_dir`` (``DataArguments.media_dir``, which defaults to ``dataset_dir``) and the joined
path is used if it is a file, else the reference as written (then opened relative to the training run's working
directory). ``MMPluginMixin._regularize_images`` (data/mm_plugin.py) opens a string with ``Image.open`` and a
``{"bytes", "path"}`` dict from its bytes, else its path; the image is decoded at the first resize/convert.

Every image file prefkit opens (validate, label push, eval) goes through :func:`open_image_file`: regular files only
(a FIFO cannot hang it, ``/dev/zero`` cannot fill memory), at most ``PREFKIT_MAX_IMAGE_BYTES`` (default 256 MiB), and
no more pixels than Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``), checked from the header before
any pixel is decoded: past either it is :class:`ImageTooLarge`, never Pillow's raw warning.
"""

from __future__ import annotations

import base64
import fcntl
import io
import os
import stat
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

JPEG_DRAFT_SCALE = 8  # libjpeg decodes at 1/8 scale: the whole entropy-coded stream is still read
IMAGE_LIMIT_ENV = "PREFKIT_MAX_IMAGE_BYTES"
DEFAULT_IMAGE_LIMIT = 256 << 20  # bytes of one image file


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
    """Pillow cannot open or decode the image (not an image, truncated, corrupt), or it is no regular file."""


class ImageTooLarge(ImageUnreadable):
    """The file is past ``PREFKIT_MAX_IMAGE_BYTES``, or its pixels past Pillow's decompression-bomb limit."""


def image_limit() -> int:
    """The most bytes one image file may hold: ``PREFKIT_MAX_IMAGE_BYTES`` or 256 MiB (a bad value: the default)."""
    given = os.environ.get(IMAGE_LIMIT_ENV, "").replace("_", "").strip()
    return int(given) if given.isdigit() and int(given) > 0 else DEFAULT_IMAGE_LIMIT


def open_image_file(path: str) -> IO[bytes]:
    """An image file opened for reading: FileNotFoundError when there is none; ImageUnreadable unless it is a
    regular file (opened without blocking, so a FIFO cannot hang it); ImageTooLarge past :func:`image_limit`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(path) from None
    except OSError as err:
        raise ImageUnreadable(f"cannot read {path}: {err.strerror or err}") from None
    try:
        mode, size = (st := os.fstat(fd)).st_mode, st.st_size
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else \
                "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file"
            raise ImageUnreadable(f"{path} is {kind}, not an image file; images are read from regular files only")
        if size > (limit := image_limit()):
            raise ImageTooLarge(f"{path} has {size:,} bytes, over the limit of {limit:,} ({IMAGE_LIMIT_ENV})")
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_image_file(path: str) -> bytes:
    """The bytes of an image file, read through :func:`open_image_file` (one that grows past the limit while it
    is read is ImageTooLarge too)."""
    limit = image_limit()
    with open_image_file(path) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ImageTooLarge(f"{path} has more than {limit:,} bytes ({IMAGE_LIMIT_ENV})")
    return data


def check_pixels(width: int, height: int) -> None:
    """ImageTooLarge past Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``; None: no limit)."""
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    if limit and width * height > limit:
        raise ImageTooLarge(f"{width}x{height} is {width * height:,} pixels, over Pillow's decompression-bomb limit "
                            f"of {limit:,} (PIL.Image.MAX_IMAGE_PIXELS): Pillow warns and decodes it whole, and past "
                            "twice the limit refuses it (LLaMA-Factory's run stops); shrink the image")


def resolve_path(ref: str, media_dir: str | None) -> str:
    """The path LLaMA-Factory opens for a string reference: ``media_dir/ref`` if that is a file, else ``ref``
    (an absolute ``ref`` stays itself: ``os.path.join`` drops ``media_dir``)."""
    if media_dir is not None:
        joined = os.path.join(media_dir, ref)
        if os.path.isfile(joined):
            return joined
    return ref


def local_files(refs: Iterable[str], media_dir: str | None) -> Iterator[str]:
    """The files that image path references name, resolved as LLaMA-Factory resolves them (URLs, ``data:`` URLs and
    embedded images name none): what a run reads, declared with it (prefkit.io.run.found)."""
    for ref in refs:
        if ref and len(ref) < 4096 and not ref.startswith("{") and ref[:5].lower() != "data:" and "://" not in ref:
            yield resolve_path(ref, media_dir)


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
    LLaMA-Factory. Raises FileNotFoundError, ImageUnreadable, or ImageTooLarge (no pixel of such an image is decoded)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with open_image_file(source) if isinstance(source, str) else io.BytesIO(source) as f, \
                warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # check_pixels says it, as a finding
            with Image.open(f) as image:
                info = ImageInfo(image.width, image.height, image.format, image.mode)
                check_pixels(image.width, image.height)
                if decode:
                    if image.format == "JPEG":
                        image.draft(image.mode, (max(1, image.width // JPEG_DRAFT_SCALE),
                                                 max(1, image.height // JPEG_DRAFT_SCALE)))
                    image.load()
    except (FileNotFoundError, ImageUnreadable):
        raise
    except Image.DecompressionBombError as e:  # Image.open's own check, past twice the limit
        raise ImageTooLarge(f"{e}; shrink the image") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
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
