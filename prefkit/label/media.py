"""A pair's images on the annotation page, and their paths back on pull.

Argilla's ImageField (2.8) takes a web URL (http or https, at most 2,038 characters) or a ``data:`` URI (at most
5,000,000 characters; PNG, JPEG, GIF, WebP or AVIF). The annotator's browser cannot read a file on the machine that
pushes, so each image file is read once and sent as a data URI: its own bytes when the format is one of those, else a
PNG made by Pillow; an image whose URI would be too long is sent shrunk (for the page only). A web URL is sent as
written. Relative paths are relative to the folder of the file the pair was read from.

The paths as written travel in the record's metadata (``prefkit_images``, and ``prefkit_image_dir``: the folder
relative paths are relative to), so ``label pull`` writes paths, never data URIs.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from typing import Any

from ..images.files import ImageTooLarge, ImageUnreadable, data_url, is_web_url, probe_image, read_image_file
from ..records import RowProblem, UnlabeledPair
from .layout import image_field

MAX_DATA_URI = 5_000_000  # argilla_server.validators.records.IMAGE_FIELD_DATA_URL_MAX_LENGTH
MAX_WEB_URL = 2038  # IMAGE_FIELD_WEB_URL_MAX_LENGTH
MAX_IMAGE_FIELDS = 64  # --image-fields: prefkit's bound (Argilla sets none)
BATCH_CHARS = 16_000_000  # image characters per push request (a batch is sent early when its images reach this)
PAGE_BYTES = 16_000_000  # a page of records read back from a dataset with image fields (each carries its data URIs)
MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "MPO": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp",
        "AVIF": "image/avif"}  # Pillow's format -> the types the server takes (MPO: a camera's JPEG)


@dataclass(slots=True)
class PairImage:
    """One image of a pair: the reference as written, and the file's bytes (None for a web URL)."""

    ref: str
    data: bytes | None = None
    format: str | None = None

    @property
    def key(self) -> str:
        """What the record id hashes: the file's content, or the URL."""
        return self.ref if self.data is None else hashlib.sha256(self.data).hexdigest()


def base_dir(pair: UnlabeledPair) -> str:
    """The folder relative image paths of ``pair`` are relative to: that of the file it was read from."""
    return os.path.dirname(os.path.abspath(pair.provenance.source))


def load_images(pair: UnlabeledPair) -> list[PairImage]:
    """Each image of ``pair`` read and decoded once (RowProblem ``image_missing`` / ``image_unreadable`` /
    ``image_too_large`` naming the field and the file), through the one bounded reader (images.files)."""
    images = []
    for i, ref in enumerate(pair.images):
        where = f"images[{i}]"
        if is_web_url(ref):
            if len(ref) > MAX_WEB_URL:
                raise RowProblem("image_url_too_long", f"{where}: the URL has {len(ref):,} characters; Argilla takes "
                                 f"at most {MAX_WEB_URL:,}")
            images.append(PairImage(ref))
            continue
        path = ref if os.path.isabs(ref) else os.path.normpath(os.path.join(base_dir(pair), ref))
        try:
            data = read_image_file(path)
        except FileNotFoundError:
            raise RowProblem("image_missing", f"{where}: no image file {ref!r} (looked for {path})") from None
        except ImageTooLarge as error:
            raise RowProblem("image_too_large", f"{where}: {error}") from None
        except ImageUnreadable as error:
            raise RowProblem("image_unreadable", f"{where}: {error}") from None
        except OSError as error:
            raise RowProblem("image_unreadable", f"{where}: cannot read {path}: {error.strerror or error}") from None
        try:
            info = probe_image(data)
        except ImageTooLarge as error:
            raise RowProblem("image_too_large", f"{where}: {path}: {error}") from None
        except ImageUnreadable as error:
            raise RowProblem("image_unreadable", f"{where}: Pillow cannot decode {path}: {error}") from None
        images.append(PairImage(ref, data, info.format))
    return images


def check_room(count: int, fields: int, dataset: str) -> None:
    """RowProblem ``too_many_images`` when a pair has more images than the dataset has image fields."""
    if count <= fields:
        return
    if fields == 0:
        raise RowProblem("too_many_images", f"images: the pair has {count} image(s) but dataset {dataset!r} has no "
                         "image fields (its first pairs had none): push image pairs to a new dataset, or create it "
                         "with --image-fields")
    raise RowProblem("too_many_images", f"images: the pair has {count} images but dataset {dataset!r} shows at most "
                     f"{fields} ({image_field(1)}..{image_field(fields)}): push to a new dataset with --image-fields "
                     f"{count}")


def metadata(pair: UnlabeledPair) -> dict[str, Any]:
    """What pull needs to give the pair its image paths back."""
    if not pair.images:
        return {}
    relative = any(not (is_web_url(r) or os.path.isabs(r)) for r in pair.images)
    return {"prefkit_images": list(pair.images), **({"prefkit_image_dir": base_dir(pair)} if relative else {})}


def field_values(images: list[PairImage]) -> dict[str, str]:
    """image_1, image_2, ... -> what the page shows (data URIs, or web URLs as written)."""
    return {image_field(i): data_uri(image) for i, image in enumerate(images, 1)}


def data_uri(image: PairImage) -> str:
    if image.data is None:
        return image.ref
    mime = MIME.get(image.format or "")
    if mime and 4 * ((len(image.data) + 2) // 3) + len(mime) + 13 <= MAX_DATA_URI:
        return data_url(mime, image.data)
    return _reencoded(image)


def _reencoded(image: PairImage) -> str:
    """A PNG of the image (its first frame), or, when that is too long, a smaller JPEG (PNG with transparency)."""
    from PIL import Image

    assert image.data is not None
    with Image.open(io.BytesIO(image.data)) as opened:
        alpha = opened.mode in ("RGBA", "LA", "PA") or "transparency" in opened.info
        frame = opened.convert("RGBA" if alpha else "RGB")
    fmt, scale = "PNG" if alpha or image.format not in MIME else "JPEG", 1.0  # lossless unless already too long
    for _ in range(10):
        size = (max(1, round(frame.width * scale)), max(1, round(frame.height * scale)))
        out = io.BytesIO()
        (frame if scale == 1.0 else frame.resize(size)).save(out, fmt, **({"quality": 85} if fmt == "JPEG" else {}))
        uri = data_url(MIME[fmt], out.getvalue())
        if len(uri) <= MAX_DATA_URI:
            return uri
        scale *= 0.9 * (MAX_DATA_URI / len(uri)) ** 0.5
        fmt = "PNG" if alpha else "JPEG"
    raise RowProblem("image_too_large_for_argilla", f"images: {image.ref!r} does not fit Argilla's "
                     f"{MAX_DATA_URI:,} characters even shrunk")


def pulled_images(meta: dict[str, Any], image_dir: str | None) -> list[str]:
    """The image paths of a pulled record: as pushed, relative ones made relative to ``image_dir`` (the output's
    folder or the dataset dir) when the folder they were relative to is on this machine."""
    refs = [str(r) for r in meta.get("prefkit_images") or []]
    base = meta.get("prefkit_image_dir")
    if not (base and image_dir and os.path.isdir(base)):
        return refs
    return [r if is_web_url(r) or os.path.isabs(r) else os.path.relpath(os.path.join(base, r), os.path.abspath(image_dir))
            for r in refs]
