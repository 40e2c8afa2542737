"""Strategies that turn scored candidates (ratings, ranks, votes) into preference pairs.

A candidate is ``(answer, score)``, higher score = better (ranks are negated by the readers).
Ties are never paired, nor are two identical answers.

- ``best-vs-worst`` (default): one pair per prompt, the widest margin. The cleanest signal and no
  prompt over-weighted, but it discards the middle candidates.
- ``best-vs-each-lower``: the best against every lower-scored candidate. Uses all the data while
  keeping one chosen answer per prompt; prompts with many candidates weigh more in training.
- ``all-pairs``: every ordered pair whose margin exceeds ``--min-margin``. The most pairs, including
  close calls that carry label noise; raise ``--min-margin`` to keep only clear preferences.

``--min-margin`` applies to every strategy: a pair whose score difference is not greater is dropped.
Blank answers are never candidates, and two answers that differ only in whitespace count as the same.

>>> pairs([("a", 9.0), ("b", 7.5), ("c", 7.5), ("d", 2.0)], "best-vs-worst")
[('a', 'd', 7.0)]
>>> pairs([("a", 9.0), ("b", 7.5), ("d", 2.0)], "best-vs-each-lower")
[('a', 'b', 1.5), ('a', 'd', 7.0)]
>>> pairs([("a", 3), ("b", 2), ("c", 1)], "all-pairs", min_margin=1)
[('a', 'c', 2)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from ..errors import UsageError
from ..names import STRATEGIES

T = TypeVar("T")


def check_strategy(name: str) -> str:
    if name not in STRATEGIES:
        raise UsageError(f"unknown pairing strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    return name


def pairs(candidates: Sequence[tuple[T, float]], strategy: str = "best-vs-worst",
          min_margin: float = 0.0) -> list[tuple[T, T, float]]:
    """Return ``(chosen, rejected, margin)`` triples, best candidates first (stable for equal scores)."""
    check_strategy(strategy)
    ranked = sorted((c for c in candidates if not _blank(c[0])), key=lambda c: -c[1])
    if len(ranked) < 2:
        return []
    if strategy == "best-vs-worst":
        wanted = [(ranked[0], ranked[-1])]
    elif strategy == "best-vs-each-lower":
        wanted = [(ranked[0], other) for other in ranked[1:]]
    else:
        wanted = [(a, b) for i, a in enumerate(ranked) for b in ranked[i + 1:]]
    out = []
    for (good, s_good), (bad, s_bad) in wanted:
        margin = s_good - s_bad
        if margin > 0 and margin > min_margin and _norm(good) != _norm(bad):
            out.append((good, bad, margin))
    return out


def _norm(answer: object) -> object:
    return " ".join(answer.split()) if isinstance(answer, str) else answer


def _blank(answer: object) -> bool:
    return isinstance(answer, str) and not answer.strip()
