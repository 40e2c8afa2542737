"""What the writers share: the atomic output file and the Writer interface.

A writer turns records into rows of one LLaMA-Factory format and, from the same column names, the
dataset_info.json entry that reads them back, so the two can never disagree.
"""

from __future__ import annotations

import os
import tempfile
from types import TracebackType
from typing import IO, Any

import orjson

from ..errors import InputError
from ..records import KtoExample, PreferencePair


class AtomicOutput:
    """Rows written to a temporary file beside ``path``, renamed over it only on success.

    ``.json`` gets one JSON array (one element a line), anything else (or ``lines=True``) one JSON
    object a line.
    """

    def __init__(self, path: str, lines: bool = False) -> None:
        self.path = path
        self.array = not lines and path.lower().endswith(".json")
        self.count = 0
        self._file: IO[bytes] | None = None
        self._tmp = ""

    def __enter__(self) -> AtomicOutput:
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise InputError(f"{self.path}: the folder {directory} does not exist")
        fd, self._tmp = tempfile.mkstemp(prefix=f".{os.path.basename(self.path)}.", suffix=".tmp", dir=directory)
        self._file = os.fdopen(fd, "wb", buffering=1 << 20)
        if self.array:
            self._file.write(b"[")
        return self

    def write(self, row: Any) -> None:
        self.write_bytes(orjson.dumps(row))

    def write_bytes(self, data: bytes) -> None:
        """Write one already serialised JSON value."""
        assert self._file is not None
        if self.array:
            self._file.write(b"\n" if self.count == 0 else b",\n")
            self._file.write(data)
        else:
            self._file.write(data + b"\n")
        self.count += 1

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self._file is not None
        try:
            if exc_type is None:
                if self.array:
                    self._file.write(b"\n]\n" if self.count else b"]\n")
                self._file.flush()
                os.fsync(self._file.fileno())
            self._file.close()
            if exc_type is None:
                os.chmod(self._tmp, 0o644)
                os.replace(self._tmp, self.path)
        finally:
            if os.path.exists(self._tmp):
                os.unlink(self._tmp)


class Writer:
    """Subclasses define ``name``, ``formatting``, ``ranking``, :meth:`row` and :meth:`columns`."""

    name = ""
    formatting = "sharegpt"
    ranking = True
    record_type: type = PreferencePair

    def __init__(self) -> None:
        self.seen: set[str] = set()  # optional columns that at least one row carried

    def row(self, record: PreferencePair | KtoExample) -> dict[str, Any]:
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
