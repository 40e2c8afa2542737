"""What the per-record side of a pipeline gives the ordered side for each input record (prefkit.pipeline.flow): a
written row with the keys the sink decides by, a reject, or a note."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..records import Note, Reject

if TYPE_CHECKING:
    from ..writers.image_files import ImageFile


@dataclass(slots=True)
class Written:
    """One output row, serialised, with what the ordered side needs to account for it."""

    source: str
    index: int
    line: int | None
    merged: tuple[int, ...]  # other input records folded into this row
    data: bytes
    keys: tuple[str, ...]  # the row's columns (the dataset_info entry names the optional ones seen)
    prompt_key: bytes  # a stable digest of system, tools and prompt (prompt-level duplicates)
    labelled: tuple[bytes, bool] | None = None  # KTO: (digest of prompt and answer, label)
    text: list[str] | None = None  # --near-dedup: the parts to sign, until sign() turns them into the signature
    signature: bytes | None = None  # --near-dedup: MinHash band keys and low bytes (None: no words)
    files: tuple[ImageFile, ...] = ()  # the row's images: data: URLs' files (with their bytes, from a worker), paths
    digest: bytes | None = None  # -o DIR/: the row's identity, sent in place of ``data`` (prefkit.pipeline.shards)
    pending: tuple[str, ...] = ()  # -o DIR/: its data: images that the part writer writes (their bytes stay there)


Outcome = Written | Reject | Note
