"""``--from auto``: which reader fits a file, and when none does, what is missing and which ``--from``/``--map``
line would read it (run on the sampled records, verdict included, before it is suggested: prefkit.readers.hints)."""

from __future__ import annotations

from ..errors import InputError
from ..io import sample as sampled
from ..io.sources import Row, encoding_hint
from .columns import ALIASES, JUDGE, OTHER_SIDE, guess_mapping, present  # noqa: F401  (the hints' naming rules)
from .table import SNIFFERS


def detect(rows: list[Row], path: str, target: str = "sharegpt") -> str:
    """The format whose sniffer accepts the most of the first records (at least half of them); on a tie
    the more specific format (earlier in SNIFFERS) wins. Otherwise an InputError with the keys seen, the
    two closest formats and what each is missing, and a ``--from``/``--map`` line that reads the sample."""
    head = sampled.sample_rows(rows)
    sample = sampled.readable(head)
    records = [r.data for r in sample]
    if not records:
        hint = encoding_hint(path) if head and all(r.reason == "invalid_json" for r in head) else ""
        raise InputError(f"{path}: no JSON object among the first records to detect the format from{hint}; "
                         "pass --from")
    best = sampled.detect(SNIFFERS.items(), records)  # most fits, at least half; the first of equal counts
    if best is not None:
        return best
    raise InputError(f"{path}: cannot detect the format; {hints(sample, target)}")


def hints(sample: list[Row], target: str = "sharegpt") -> str:
    """What is missing and the line that reads the sample, each suggestion run first (prefkit.readers.hints)."""
    from .hints import advise

    return advise(sample, target)
