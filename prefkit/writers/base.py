"""What the writers share: the Writer interface (files are written by ``prefkit.io``).

A writer turns records into rows of one LLaMA-Factory format and, from the same column names, the
dataset_info.json entry that reads them back, so the two can never disagree.
"""

from __future__ import annotations

from typing import Any

from ..records import KtoExample, PreferencePair


class Writer:
    """Subclasses define ``name``, ``formatting``, ``ranking``, :meth:`row` and :meth:`columns`."""

    name = ""
    formatting = "sharegpt"
    ranking = True
    record_type: type = PreferencePair
    # which LLaMA-Factory registry reads the rows: dataset_info.json (v0), dataset_info.yaml (v1), or none
    registry: str | None = "v0"
    target: str | None = "lf"  # the trainer whose rows these are (prefkit.targets), which validate checks them for

    def __init__(self) -> None:
        self.seen: set[str] = set()  # the columns that rows carried (the pipeline adds each row's keys)

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
