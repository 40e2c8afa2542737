"""Inter-annotator agreement on nominal labels.

Cohen's kappa for two annotators (over the records both answered); Krippendorff's alpha for more
(nominal metric, every record with at least two answers, missing answers allowed).

>>> round(cohen_kappa([("a", "a"), ("a", "b"), ("b", "b"), ("b", "b")]), 3)
0.5
>>> cohen_kappa([("a", "a"), ("a", "a")]) is None  # one label only: agreement by chance is total
True

Krippendorff's (2011) worked example: four coders, twelve units, alpha = 0.743.

>>> units = [[1, 1, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2], [1, 2, 3, 4],
...          [4, 4, 4, 4], [1, 1, 2, 1], [2, 2, 2, 2], [5, 5, 5], [1, 1], [3]]
>>> round(krippendorff_alpha(units), 3)
0.743

The position check (pull and status): the A/B order is random per record, so the side shown as A should win about
half of the records decided for A or B.

>>> position_share(15, 5), position_biased(15, 5), position_biased(3, 1)
(0.75, True, False)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence


def cohen_kappa(pairs: Sequence[tuple[Hashable, Hashable]]) -> float | None:
    """Kappa of two annotators' labels on the same records; None when undefined (no records, or
    agreement by chance is 1)."""
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(a == b for a, b in pairs) / n
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    chance = sum(first[label] * second[label] for label in first) / (n * n)
    return None if chance == 1 else (observed - chance) / (1 - chance)


def krippendorff_alpha(units: Sequence[Sequence[Hashable]]) -> float | None:
    """Nominal alpha over units (each the list of labels it received); units with one label are left out.
    None when undefined (fewer than two pairable labels, or a single label value overall)."""
    coincidence: Counter = Counter()  # (c, k) -> weighted count of pairable values
    for values in units:
        m = len(values)
        if m < 2:
            continue
        counts = Counter(values)
        for c, nc in counts.items():
            for k, nk in counts.items():
                coincidence[c, k] += (nc * (nk - (c == k))) / (m - 1)
    totals: Counter = Counter()
    for (c, _), weight in coincidence.items():
        totals[c] += weight
    n = sum(totals.values())
    if n <= 1:
        return None
    observed = sum(w for (c, k), w in coincidence.items() if c != k)  # n * D_o
    expected = n * n - sum(t * t for t in totals.values())  # n (n - 1) * D_e
    if expected == 0:
        return None
    return 1 - (n - 1) * observed / expected


def position_share(shown_as_a: int, shown_as_b: int) -> float | None:
    """Of the records decided for A or B, the share decided for the side shown as A (None: none decided)."""
    decided = shown_as_a + shown_as_b
    return shown_as_a / decided if decided else None


def position_biased(shown_as_a: int, shown_as_b: int) -> bool:
    """At least 20 decided records and the side shown as A won under 30% or over 70% of them."""
    share = position_share(shown_as_a, shown_as_b)
    return share is not None and shown_as_a + shown_as_b >= 20 and abs(share - 0.5) > 0.2


class PositionCheck:
    """The position check of a report that counts ``chosen_shown_as_a`` / ``chosen_shown_as_b`` (pull's, status's)."""

    chosen_shown_as_a: int
    chosen_shown_as_b: int

    @property
    def position_share(self) -> float | None:
        return position_share(self.chosen_shown_as_a, self.chosen_shown_as_b)

    @property
    def position_biased(self) -> bool:
        return position_biased(self.chosen_shown_as_a, self.chosen_shown_as_b)
