"""Images that a record carries inside itself (``data:`` URLs, a datasets Image's bytes) and the files convert
writes for them: ``<output stem>_images/<sha256 prefix>.<ext>`` beside the output, named by their bytes, so the
same image is one file however often it occurs and a second run writes the same names.

Readers check each reference with :func:`check_ref` (a malformed ``data:`` URL or a remote URL is the record's
reject); writers turn a ``data:`` URL into its file's path (:meth:`prefkit.writers.Writer.with_images`) and hand
its bytes to the run's :class:`ImageStore`, which builds the folder and renames it into place at commit.

>>> name, data = data_image("data:image/png;base64,iVBORw0KGgo=")
>>> name, data[:4]
('4c4b6a3be1314ab8.png', b'\\x89PNG')
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from functools import lru_cache
from typing import TYPE_CHECKING

from ..images.files import data_url, is_web_url
from ..records import RowProblem

if TYPE_CHECKING:
    from ..io.run import Run, StagedFolder

EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/jpg": "jpg", "image/gif": "gif", "image/webp": "webp",
              "image/bmp": "bmp", "image/tiff": "tiff"}
MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"),
         (b"BM", "image/bmp"), (b"II*\x00", "image/tiff"), (b"MM\x00*", "image/tiff"))
HASH_CHARS = 16  # 64 bits of sha256: a collision between two images of one dataset is not a real risk
FILE_NAME = re.compile(rf"[0-9a-f]{{{HASH_CHARS}}}\.(?:{'|'.join(sorted(set(EXTENSIONS.values())))})$")


def is_data_url(ref: str) -> bool:
    return ref[:5].lower() == "data:"


@lru_cache(maxsize=16)  # a writer names the file and the pipeline takes its bytes: one decoding for both
def data_image(url: str) -> tuple[str, bytes]:
    """(file name, bytes) of a ``data:image/...;base64,`` URL; ValueError saying what is wrong with it."""
    head, comma, payload = url.partition(",")
    if not comma:
        raise ValueError("no ',' before the data")
    mime, *params = head[5:].split(";")
    if "base64" not in (p.strip().lower() for p in params):
        raise ValueError("not base64 (expected data:image/TYPE;base64,...)")
    ext = EXTENSIONS.get(mime.strip().lower())
    if ext is None:
        raise ValueError(f"media type {mime or '(none)'!r} is not an image type prefkit writes "
                         f"({', '.join(sorted(set(EXTENSIONS.values())))})")
    try:
        data = base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError) as err:
        raise ValueError(f"the base64 data is broken ({err})") from None
    if not data:
        raise ValueError("no image data")
    return f"{hashlib.sha256(data).hexdigest()[:HASH_CHARS]}.{ext}", data


def bytes_url(data: bytes, where: str) -> str:
    """An image's bytes (a datasets Image value) as a ``data:`` URL, its type read from its first bytes."""
    mime = next((m for magic, m in MAGIC if data.startswith(magic)), None)
    if mime is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        mime = "image/webp"
    if mime is None:
        raise RowProblem("bad_image_data", f"{where}: the bytes are no PNG, JPEG, GIF, WebP, BMP or TIFF image")
    return data_url(mime, data)


def check_ref(ref: object, where: str) -> str:
    """An image reference a record can keep: a path, or a well-formed ``data:`` URL; a remote URL (never fetched:
    prefkit works offline and LLaMA-Factory opens paths only) or a broken ``data:`` URL is the record's reject."""
    if not isinstance(ref, str) or not ref:
        raise RowProblem("bad_type", f"{where}: expected an image path or data: URL, got {ref!r:.60}")
    if is_web_url(ref):
        raise RowProblem("remote_image", f"{where}: {ref!r:.80} is a remote URL, which prefkit does not download "
                                         "and LLaMA-Factory cannot open; download it and give its path")
    if is_data_url(ref):
        try:
            data_image(ref)
        except ValueError as err:
            raise RowProblem("bad_data_url", f"{where}: malformed data: URL: {err}") from None
    return ref


def images_folder(output: str) -> str:
    """Where convert writes the images a record carried inside itself: ``<output stem>_images`` beside it."""
    base = output[: -len(".jsonl")] if output.endswith(".jsonl") else os.path.splitext(output)[0]
    return base + "_images"


def foreign(names: list[str]) -> list[str]:
    """The names in an existing images folder that convert did not write."""
    return [n for n in names if not FILE_NAME.match(n)]


class ImageStore:
    """The images folder of one convert run: declared with the run at the first image, built in a staging folder
    (each name written once) and renamed over the old folder at commit, as every output is."""

    def __init__(self, run: Run, folder: str) -> None:
        self.run, self.folder = run, folder
        self.staged: StagedFolder | None = None
        self.names: set[str] = set()

    def add(self, files: tuple[tuple[str, bytes], ...]) -> None:
        for name, data in files:
            if name in self.names:
                continue
            if self.staged is None:
                self.staged = self.run.folder("the images of -o", self.folder, foreign)
            with open(os.path.join(self.staged.tmp, name), "wb") as out:
                out.write(data)
            self.names.add(name)
