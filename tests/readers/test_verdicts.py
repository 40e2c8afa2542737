"""Verdict notations and values (issue 29): the judge notations of arena-hard in one table, values as a Python user
writes them, pairs from scores with equal scores rejected as ties, and two verdict axes never chosen silently."""

from __future__ import annotations

import re

import pytest

from conftest import write_jsonl
from prefkit import convert
from prefkit.errors import UsageError
from prefkit.readers.arena_hard import SCORES
from prefkit.readers.pairwise import DEFAULT_VERDICTS, parse_verdicts, verdict_key, verdict_table


def row(verdict: object, **extra: object) -> dict:
    return {"prompt": "p", "response_a": "first", "response_b": "second", "verdict": verdict, **extra}


def chosen(rows: list[dict], **options: object) -> tuple[list[str], dict[str, int]]:
    result = convert(rows, fmt="pairwise", **options)
    return [r["chosen"]["value"] for r in result.dataset], result.report.rejected_by_reason


def test_every_arena_hard_notation_is_a_pairwise_verdict():
    for label, (side, _) in SCORES.items():  # one table: what the arena-hard reader knows, pairwise knows
        group = {"A": "a", "B": "b", "tie": "tie"}[side]
        assert verdict_key(label) in DEFAULT_VERDICTS[group], label
    rows = [row(v) for v in ("A>B", "a>>b", "B>A", "b >> a", "A=B", "B<A")]
    assert chosen(rows) == (["first", "first", "second", "second", "first"], {"tie": 1})


def test_python_values_in_verdicts_and_mapping(tmp_path):
    rows = [row(0), row(1), row(True, flag=True), row(2)]
    for verdicts in ({"a": [0], "b": [1]}, {"a": 0, "b": 1}, {"a": ["0"], "b": [1.0]}):
        assert chosen(rows[:2], verdicts=verdicts) == (["first", "second"], {})
    assert chosen(rows[2:3], mapping={"verdict": "flag"}, verdicts={"a": [True], "b": [False]}) == (["first"], {})
    assert chosen(rows[:2], verdict=["a=0", "b=1"]) == (["first", "second"], {})  # the CLI's name and form
    assert chosen([row(None, r1="a", r2="b"), row(None, r1="b", r2="b")], mapping={"votes": ["r1", "r2"]}) == \
        (["second"], {"split_vote": 1})
    with pytest.raises(UsageError, match="verdicts winner=...: LABEL is one of a, b, tie, failed"):
        convert(rows, fmt="pairwise", verdicts={"winner": [1]})
    with pytest.raises(UsageError, match=r"^rows: numeric verdicts .* each VALUE 0 or 1 or 2"):
        convert(rows[:1] + rows[1:2] + rows[3:], fmt="pairwise")  # "rows", never the temporary file


def test_a_value_in_two_groups_is_refused_and_defaults_stay():
    assert verdict_table({"a": [1]})["tie"] == [verdict_key(v) for v in DEFAULT_VERDICTS["tie"]]
    assert parse_verdicts(["a=1.0"])["a"] == ["1"]
    with pytest.raises(UsageError, match="both a= and b="):
        verdict_table({"a": [1], "b": ["1"]})


def test_pairs_from_scores_reject_equal_scores_as_ties(tmp_path):
    rows = [{"prompt": f"p{i}", "response_a": "x", "response_b": "y", "score_a": a, "score_b": b}
            for i, (a, b) in enumerate([(3, 1), (1, 3), (2, 2), (2.0, "n/a")])]
    result = convert(rows, fmt="pairwise")
    assert [r["chosen"]["value"] for r in result.dataset] == ["x", "y"]
    assert result.report.rejected_by_reason == {"tie": 1, "no_verdict": 1}
    assert "score_a/score_b: equal scores (2) are a tie" in result.rejects[0]["message"]
    # a verdict, when there is one, decides; the scores are kept with the pair
    result = convert([{**rows[0], "verdict": "b"}], fmt="pairwise", to="alpaca")
    assert result.dataset[0]["chosen"] == "y"


def test_ratings_with_all_scores_equal_are_ties_as_in_the_pairwise_reader():
    rows = [{"prompt": "p0", "responses": ["x", "y"], "scores": [5, 5]},  # a tie
            {"prompt": "p1", "responses": ["x", "y", "z"], "scores": [2, 2, 2.0]},  # a tie
            {"prompt": "p2", "responses": ["x", "y", "z"], "scores": [3, 3, 1]},  # a pair
            {"prompt": "p3", "responses": ["x", " x"], "scores": [4, 4]}]  # one answer twice: nothing to pair
    result = convert(rows, fmt="ratings")
    assert [(r["chosen"]["value"], r["rejected"]["value"]) for r in result.dataset] == [("x", "z")]
    assert result.report.rejected_by_reason == {"tie": 2, "no_pairs": 1}
    assert "2 distinct answers, all with score 5: a tie" in result.rejects[0]["message"]


def test_the_verdict_help_takes_its_values_from_the_file():
    """--verdict's help showed a fixed a=1 b=2 tie=0, wrong for 0/1 ids (PKU-SafeRLHF): its example names no value."""
    import typer

    from prefkit.cli import app

    convert_command = typer.main.get_command(app).commands["convert"]  # type: ignore[attr-defined]
    (option,) = [p for p in convert_command.params if "--verdict" in p.opts]
    assert "--verdict a=VALUE b=VALUE" in option.help and "the file's" in option.help
    assert not re.search(r"\b(a|b|tie)=\d", option.help), option.help


def test_two_verdict_columns_are_never_paired_silently(tmp_path, cli):
    rows = [{"prompt": f"p{i}", "response_0": "zero", "response_1": "one", "better_response_id": i % 2,
             "safer_response_id": 0} for i in range(4)]
    src = write_jsonl(tmp_path / "two.jsonl", rows)
    result = cli("convert", src, "-o", tmp_path / "o.json")
    assert result.exit_code == 2 and not (tmp_path / "o.json").exists()
    assert "better_response_id and safer_response_id both say" in result.output and "say which one" in result.output
    mapped = cli("convert", src, "-o", tmp_path / "o.json", "--from", "pairwise", "--map", "response_a=response_0",
                 "response_b=response_1")  # no verdict named: none is taken from either id column
    assert mapped.exit_code == 1 and "no_verdict 4" in mapped.output
