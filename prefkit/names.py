"""The names users type, in one light module: the CLI shows them in its help without importing the
library behind them (``prefkit --help`` stays fast). The modules that implement each name check at
import that they implement exactly these."""

from __future__ import annotations

READER_NAMES = ("sharegpt", "alpaca", "openai", "hh-rlhf", "oasst", "ratings", "pairwise", "openai-logs", "trl",
                "fastchat-judge", "arena-hard", "openai-preference", "kto-rows")
FORMATS = (*READER_NAMES, "auto")  # --from
WRITER_NAMES = ("sharegpt", "alpaca", "kto", "unlabeled", "trl", "trl-kto", "lf-v1", "axolotl", "axolotl-kto",
                "openrlhf")  # --to
KTO_WRITERS = ("kto", "trl-kto", "axolotl-kto")  # the --to values that write KTO examples: counted as "examples", never "pairs"
STRATEGIES = ("best-vs-worst", "best-vs-each-lower", "all-pairs")  # --pairing
POLICIES = ("majority", "unanimous")  # label pull --policy
LEVELS = ("error", "warning", "info")  # finding levels, worst first (--fail-on)
