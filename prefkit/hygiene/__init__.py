"""Dataset hygiene: benchmark decontamination (``--decontaminate``) and near-duplicate pairs (``--near-dedup``)
of preference records."""

from typing import Any

from .decontaminate import NGRAM, OVERLAP, Decontaminator, Match, check_aligned, load, words
from .sets import BUILTIN, Item, load_items

_NEARDUP = ("THRESHOLD", "Duplicate", "Group", "NearDuplicates", "Signature", "jaccard", "signature", "signatures")


def __getattr__(name: str) -> Any:
    """The near-duplicate names, imported on first use (they need numpy, which most commands do not)."""
    if name in _NEARDUP:
        from . import neardup

        return getattr(neardup, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["BUILTIN", "NGRAM", "OVERLAP", "THRESHOLD", "Decontaminator", "Duplicate", "Group", "Item", "Match",
           "NearDuplicates", "Signature", "check_aligned", "jaccard", "load", "load_items", "signature", "signatures",
           "words"]
