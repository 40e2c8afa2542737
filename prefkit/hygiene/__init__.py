"""Dataset hygiene: benchmark decontamination of preference records (``--decontaminate``)."""

from .decontaminate import NGRAM, OVERLAP, Decontaminator, Match, check_aligned, load, words
from .sets import BUILTIN, Item, load_items

__all__ = ["BUILTIN", "NGRAM", "OVERLAP", "Decontaminator", "Item", "Match", "check_aligned", "load", "load_items", "words"]
