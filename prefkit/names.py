"""The names users type, in one light module: the CLI shows them in its help without importing the
library behind them (``prefkit --help`` stays fast). The modules that implement each name check at
import that they implement exactly these."""

from __future__ import annotations

from . import kinds

READER_NAMES = kinds.names("readers")  # prefkit/kinds.py's readers, then those of installed packages
FORMATS = (*READER_NAMES, "auto")  # --from
WRITER_NAMES = kinds.names("writers")  # --to: prefkit/kinds.py's writers, then those of installed packages
STRATEGIES = ("best-vs-worst", "best-vs-each-lower", "all-pairs")  # --pairing
POLICIES = ("majority", "unanimous")  # label pull --policy
LEVELS = ("error", "warning", "info")  # finding levels, worst first (--fail-on)
