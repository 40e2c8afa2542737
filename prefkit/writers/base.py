"""What the writers share: the Writer interface (files are written by ``prefkit.io.files``).

A writer turns records into rows of one LLaMA-Factory format and, from the same column names, the
dataset_info.json entry that reads them back, so the two can never disagree.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from ..images.checks import record_findings
from ..records import KtoExample, PreferencePair, Reject, RowProblem, UnlabeledPair
from .image_files import ImageFile, data_image, is_data_url


def rebase(path: str, source: str, image_dir: str | None) -> str:
    """A relative image path of a source file, made relative to ``image_dir``; absolute paths and URLs unchanged."""
    if image_dir is None or os.path.isabs(path) or "://" in path or is_data_url(path) or not os.path.exists(source):
        return path
    return os.path.relpath(os.path.join(os.path.dirname(os.path.abspath(source)), path), os.path.abspath(image_dir))


def source_path(path: str, source: str) -> str | None:
    """The file a record's image path names (relative paths from the source file's folder); None for a URL."""
    if "://" in path or is_data_url(path):
        return None
    if os.path.isabs(path):
        return path
    return os.path.join(os.path.dirname(os.path.abspath(source)), path) if os.path.exists(source) else None


Record = PreferencePair | KtoExample | UnlabeledPair


@dataclass(frozen=True)
class ArrowTypes:
    """pyarrow and the message types that writers' columns are made of."""

    pa: Any
    text: Any
    sharegpt_msg: Any  # {"from", "value"}
    role_msg: Any  # {"role", "content"}
    trl_msgs: Any  # [{"role", "content", "tool_calls"}]

    @classmethod
    def make(cls) -> ArrowTypes:
        import pyarrow as pa

        text = pa.string()
        call = pa.struct([("type", text), ("function", pa.struct([("name", text), ("arguments", text)]))])
        return cls(pa, text, pa.struct([("from", text), ("value", text)]), pa.struct([("role", text), ("content", text)]),
                   pa.list_(pa.struct([("role", text), ("content", text), ("tool_calls", pa.list_(call))])))


class Writer:
    """Subclasses define ``name``, ``formatting``, ``ranking``, :meth:`row` and :meth:`columns`; a writer that
    takes options (convert's ``--weight`` ...) lists them in :attr:`options` and takes them as keywords."""

    name = ""
    formatting = "sharegpt"
    ranking = True
    record_type: type = PreferencePair
    # which LLaMA-Factory registry reads the rows: dataset_info.json (v0), dataset_info.yaml (v1), or none
    registry: str | None = "v0"
    target: str | None = "lf"  # the trainer whose rows these are (prefkit.targets), which validate checks them for

    # where relative image paths are read from by the trainer (the dataset dir, or the output's folder); None: as given
    image_dir: str | None = None
    # where the images that records carry as data: URLs are written (convert: <output stem>_images); None: kept as URLs
    data_image_dir: str | None = None
    # writes one data: image at once where the map runs in the run's process (ImageStore.stage); never pickled
    stage: Callable[[str, bytes], None] | None = None

    # the keyword options of its constructor beyond ``parquet``, each with what it is (said to a writer without it)
    options: ClassVar[dict[str, str]] = {}

    def __init__(self, parquet: bool = False) -> None:
        self.parquet = parquet  # the rows go to a Parquet file (arrow_fields' types)
        self.seen: set[str] = set()  # the columns that rows carried (the pipeline adds each row's keys)

    def __getstate__(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key != "stage"}  # a Ray worker sends bytes back

    def with_images(self, record: Record, out: dict[str, Any]) -> dict[str, Any]:
        """The row with its ``images`` column when the record has images, each relative path (relative to the
        record's source file) rebased onto :attr:`image_dir`, so the trainer finds the same file, and each
        ``data:`` URL replaced by the path of its file in :attr:`data_image_dir` (see :meth:`image_files`). For
        LLaMA-Factory, placeholders that do not match the images are the record's reject (``image_count_mismatch``,
        ``image_in_answer``): its loader stops the whole run on them."""
        if record.images and self.target == "lf" and (found := record_findings(record)):
            code, _, path, message = found[0]
            raise RowProblem(code, f"{path}: {message}")
        if record.images:
            out["images"] = [self.image_path(path, record.provenance.source) for path in record.images]
        return out

    def image_path(self, path: str, source: str) -> str:
        if self.data_image_dir is None or not is_data_url(path):
            return rebase(path, source, self.image_dir)
        written = os.path.join(os.path.abspath(self.data_image_dir), data_image(path)[0])
        return os.path.relpath(written, os.path.abspath(self.image_dir)) if self.image_dir else written

    def image_files(self, record: Record) -> tuple[ImageFile, ...]:
        """The record's images for the run: each ``data:`` URL's file (written at once where :attr:`stage` is set,
        else with its bytes), and each image file it points to (an input of the run)."""
        if self.data_image_dir is None:
            return ()
        files = []
        for path in record.images:
            if is_data_url(path):
                name, data = data_image(path)
                if self.stage is not None:
                    self.stage(name, data)
                files.append(ImageFile(name, None if self.stage is not None else data))
            elif (found := source_path(path, record.provenance.source)) is not None:
                files.append(ImageFile("", None, found))
        return tuple(files)

    def with_image_column(self, columns: dict[str, str]) -> dict[str, str]:
        if "images" in self.seen:
            columns["images"] = "images"
        return columns

    @classmethod
    def arrow_fields(cls, types: ArrowTypes) -> list[tuple[str, Any]] | None:
        """The Parquet columns of its rows, ``images`` aside (prefkit.writers.arrow); None: it writes JSON only."""
        return None

    def row(self, record: Record) -> dict[str, Any]:
        raise NotImplementedError

    def columns(self) -> dict[str, str]:
        raise NotImplementedError

    def entry(self, file_name: str) -> dict[str, Any]:
        """The dataset_info.json entry for the rows written so far."""
        entry: dict[str, Any] = {"file_name": file_name, "formatting": self.formatting}
        if self.ranking:
            entry["ranking"] = True
        entry["columns"] = self.columns()
        return entry


def adapt(record: Record, writer: Writer) -> list[Record] | Reject:
    """Fit a record to the writer: a pair becomes two KTO examples, or a pair to label with its verdict as
    the suggestion; a KTO example cannot become a pair."""
    if isinstance(record, writer.record_type):
        return [record]
    if isinstance(record, PreferencePair) and writer.record_type is UnlabeledPair:
        return [UnlabeledPair.of(record)]
    if isinstance(record, PreferencePair) and writer.record_type is KtoExample:
        base = dict(system=record.system, tools=record.tools, prompt=record.prompt, provenance=record.provenance,
                    metadata=record.metadata, images=record.images)
        return [KtoExample(completion=record.chosen, label=True, **base),
                KtoExample(completion=record.rejected, label=False, **base)]
    p = record.provenance
    return Reject(p.source, p.index, "kto_example_not_a_pair",
                  "a KTO example (one answer with a label) cannot become a pair; use --to kto",
                  record.model_dump(mode="json"), p.line)
