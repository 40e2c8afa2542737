"""Images that a record carries inside itself (``data:`` URLs, a datasets Image's bytes) and the files convert
writes for them: ``<output stem>_images/<sha256 prefix>.<ext>`` beside the output, named by their bytes, so the
same image is one file however often it occurs and a second run writes the same names.

Readers check each reference with :func:`check_ref` (a malformed ``data:`` URL or a remote URL is the record's
reject); writers turn a ``data:`` URL into its file's path (:meth:`prefkit.writers.Writer.with_images`) and hand
its bytes to the run's :class:`ImageStore`, which builds the folder and renames it into place at commit.

- **One at a time**: where the map runs in this process, each image is written to the staging folder as soon as
  it is decoded and its bytes dropped, so memory does not grow with the number of images (a Ray worker sends the
  bytes back with its rows instead). Images of rows that are not written in the end are removed before commit.
- **One owner**: the folder belongs to one output. ``x.json``, ``x.jsonl`` and ``x.parquet`` would all name
  ``x_images/``: while another of them exists beside the output, convert refuses to write images there rather
  than replace (and so delete) the other's. Files the folder already holds that any record points to are inputs
  of the run (:meth:`prefkit.io.run.Run.found`), so the folder is never replaced under them.

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
from typing import TYPE_CHECKING, NamedTuple

from ..errors import InputError, PrefkitError, UsageError
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


@lru_cache(maxsize=2)  # a writer names the file, then writes its bytes: one decoding for both (kept small: 20 MB each)
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


OUTPUT_SUFFIXES = (".json", ".jsonl", ".parquet")  # the outputs whose images folders share one name


def images_folder(output: str) -> str:
    """Where convert writes the images a record carried inside itself: ``<output stem>_images`` beside it."""
    return _stem(output) + "_images"


def _stem(output: str) -> str:
    return output[: -len(".jsonl")] if output.endswith(".jsonl") else os.path.splitext(output)[0]


def other_owners(output: str) -> list[str]:
    """The other outputs beside ``output`` whose images folder has the same name (``x.json`` for ``x.jsonl``)."""
    stem, mine = _stem(output), os.path.abspath(output)
    return [stem + suffix for suffix in OUTPUT_SUFFIXES
            if os.path.abspath(stem + suffix) != mine and os.path.lexists(stem + suffix)]


def foreign(names: list[str]) -> list[str]:
    """The names in an existing images folder that convert did not write."""
    return [n for n in names if not FILE_NAME.match(n)]


class ImageFile(NamedTuple):
    """One image of a row, for the run: a ``data:`` image's file (its bytes, or None once written), or an image
    file the record points to (``path``: an input of the run)."""

    name: str
    data: bytes | None = None
    path: str = ""


class ImageStore:
    """The images folder of one convert run (see the module's doc): declared with the run at the first image, built
    in a staging folder (each name written once) and renamed over the old folder at commit, as every output is."""

    def __init__(self, run: Run, folder: str, output: str) -> None:
        self.run, self.folder, self.output = run, folder, output
        self.staged: StagedFolder | None = None
        self.written: set[str] = set()  # names in the staging folder
        self.kept: set[str] = set()  # names that written rows point to
        self.failed: PrefkitError | OSError | None = None  # why staging stopped (raised by add)

    def stage(self, name: str, data: bytes) -> None:
        """Write one image now (the map side, in this process): its bytes need not be kept. A failure (the folder
        refused, a full disk) is the run's, not the record's: it is raised when a written row needs the image."""
        if name in self.written or self.failed is not None:
            return
        try:
            with open(os.path.join(self.tmp(), name), "wb") as out:
                out.write(data)
        except (PrefkitError, OSError) as err:
            self.failed = err
            return
        self.written.add(name)

    def tmp(self) -> str:
        """The staging folder, declared with the run at the first image."""
        if self.staged is None:
            owners = other_owners(self.output)
            if owners:
                raise UsageError(f"the images of -o {self.folder}: is also the images folder of {owners[0]}, "
                                 "which would lose its images; name the output differently (another stem)")
            self.staged = self.run.folder("the images of -o", self.folder, foreign)
        return self.staged.tmp

    def staging(self) -> str | None:
        """The staging folder if a written row needs one (where -o DIR/'s part writers write images)."""
        return self.staged.tmp if self.staged is not None else None

    def add(self, files: tuple[ImageFile, ...], pending: tuple[str, ...] = ()) -> None:
        """The images of a row that is written: its ``data:`` images kept (written now if their bytes came back
        from a worker; ``pending``: the names a part writer of -o DIR/ writes), the files it points to declared as
        inputs."""
        if pending:
            self.tmp()
            self.written.update(pending)
        for image in files:
            if image.path:
                self.run.found(image.path, "an image that an input record points to")
                continue
            if image.data is not None:
                self.stage(image.name, image.data)
            if image.name not in self.written:
                raise self.failed or InputError(f"{self.folder}: image {image.name} was not written")
            self.kept.add(image.name)

    def sweep(self) -> None:
        """Before commit: remove the images that only rows which were not written (rejects) carried."""
        if self.staged is not None:
            for name in self.written - self.kept:
                os.unlink(os.path.join(self.staged.tmp, name))
