"""Writers: records -> the rows of one output format (``--to``), with the registry entry that reads them back.
``WRITERS`` maps each name to its Writer class; images referenced by data: URLs are written out here too."""

from __future__ import annotations

from ..errors import UsageError
from ..names import WRITER_NAMES
from .alpaca import AlpacaWriter
from .base import Writer
from .kto import KtoWriter
from .lf_v1 import LfV1Writer
from .sharegpt import SharegptWriter
from .trl import TrlKtoWriter, TrlWriter
from .unlabeled import UnlabeledWriter

WRITERS: dict[str, type[Writer]] = {"sharegpt": SharegptWriter, "alpaca": AlpacaWriter, "kto": KtoWriter,
                                    "unlabeled": UnlabeledWriter, "trl": TrlWriter, "trl-kto": TrlKtoWriter,
                                    "lf-v1": LfV1Writer}
assert tuple(WRITERS) == WRITER_NAMES, "prefkit.names.WRITER_NAMES must list the writers"


def get_writer(name: str) -> Writer:
    if name not in WRITERS:
        raise UsageError(f"unknown output format {name!r} for --to; choose one of {', '.join(WRITERS)}")
    return WRITERS[name]()


__all__ = ["WRITERS", "Writer", "get_writer"]
