import pytest

from prefkit.errors import UsageError
from prefkit.readers.pairing import pairs


def test_ties_blank_and_identical_answers_are_never_paired():
    assert pairs([("a", 1), ("b", 1)]) == []
    assert pairs([("a", 3), ("  ", 1)]) == []
    assert pairs([("same  text", 3), ("same text", 1)]) == []
    assert pairs([("a", 5), ("b", 2), ("c", 2)], "best-vs-each-lower") == [("a", "b", 3), ("a", "c", 3)]


def test_all_pairs_respects_margin_and_order():
    cands = [("c", 1.0), ("a", 3.0), ("b", 2.0)]
    assert pairs(cands, "all-pairs") == [("a", "b", 1.0), ("a", "c", 2.0), ("b", "c", 1.0)]
    assert pairs(cands, "all-pairs", min_margin=1.0) == [("a", "c", 2.0)]
    assert pairs(cands, "best-vs-worst", min_margin=2.0) == []


def test_unknown_strategy():
    with pytest.raises(UsageError, match="unknown pairing strategy 'best'"):
        pairs([("a", 1)], "best")
