"""Writers: records -> the rows of one output format (``--to``), with the registry entry that reads them back.
``WRITERS`` maps each name to its Writer class; images referenced by data: URLs are written out here too."""

from __future__ import annotations

from ..errors import UsageError
from ..names import KTO_WRITERS, WRITER_NAMES
from ..records import KtoExample
from .alpaca import AlpacaWriter
from .axolotl import AxolotlKtoWriter, AxolotlWriter
from .base import Writer
from .kto import KtoWriter
from .lf_v1 import LfV1Writer
from .openrlhf import OpenRlhfWriter
from .sharegpt import SharegptWriter
from .trl import TrlKtoWriter, TrlWriter
from .unlabeled import UnlabeledWriter

WRITERS: dict[str, type[Writer]] = {"sharegpt": SharegptWriter, "alpaca": AlpacaWriter, "kto": KtoWriter,
                                    "unlabeled": UnlabeledWriter, "trl": TrlWriter, "trl-kto": TrlKtoWriter,
                                    "lf-v1": LfV1Writer, "axolotl": AxolotlWriter, "axolotl-kto": AxolotlKtoWriter,
                                    "openrlhf": OpenRlhfWriter}
assert tuple(WRITERS) == WRITER_NAMES, "prefkit.names.WRITER_NAMES must list the writers"
assert tuple(n for n, w in WRITERS.items() if w.record_type is KtoExample) == KTO_WRITERS, \
    "prefkit.names.KTO_WRITERS must list the writers of KTO examples"


def get_writer(name: str) -> Writer:
    if name not in WRITERS:
        raise UsageError(f"unknown output format {name!r} for --to; choose one of {', '.join(WRITERS)}")
    return WRITERS[name]()


__all__ = ["WRITERS", "Writer", "get_writer"]
