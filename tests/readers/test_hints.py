"""Never a wrong pair by prefkit's own advice (issue 19): a source column feeds one field, hints propose only known
aliases (never a judge's critique or prompt, never a side guessed from names that say none), every suggestion is
shown with its first converted record, numeric verdicts are named in the same message, --verdict overlaps are
resolved or refused. Each test follows the hint as a user would and checks the pairs themselves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import load_output, write_jsonl
from prefkit.errors import UsageError
from prefkit.pipeline.convert import convert
from prefkit.readers.pairwise import parse_verdicts

ROWS = [{"input": "What is 2+2?", "output_1": "4", "output_2": "5", "label": 1},
        {"input": "Capital of France?", "output_1": "Lyon", "output_2": "Paris", "label": 2},
        {"input": "Largest planet?", "output_1": "Jupiter", "output_2": "Mars", "label": 1}]
RIGHT = [("What is 2+2?", "4", "5"), ("Capital of France?", "Paris", "Lyon"), ("Largest planet?", "Jupiter", "Mars")]


def _pairs(path: Path) -> list[tuple[str, str, str]]:
    return [(r["conversations"][-1]["value"], r["chosen"]["value"], r["rejected"]["value"]) for r in load_output(path)]


def _hint(output: str) -> list[str]:
    """The arguments of the hint's ``try:`` line, as a user would copy them."""
    line = re.search(r"try: (.*?)(?::|$)", output, re.M).group(1)
    return [word for word in line.split() if word not in ("[tie=VALUE]",)]


def test_following_the_hint_on_input_output_label_gives_the_right_pairs(tmp_path, cli):
    src = write_jsonl(tmp_path / "votes.jsonl", ROWS)
    first = cli("convert", src, "-o", tmp_path / "out.json")
    assert first.exit_code == 2 and "label holds numbers (1 (2), 2 (1)" in first.output, first.output
    assert "prompt     <- input: 'What is 2+2?'" in first.output  # the first record, with its source columns
    args = [{"a=VALUE": "a=1", "b=VALUE": "b=2"}.get(word, word) for word in _hint(first.output)]  # the source's meaning
    second = cli("convert", src, "-o", tmp_path / "out.json", *args)
    assert second.exit_code == 0, second.output
    assert _pairs(tmp_path / "out.json") == RIGHT  # the prompt once, not "input\ninput"


def test_a_column_feeds_one_field(tmp_path, cli):
    src = write_jsonl(tmp_path / "votes.jsonl", ROWS)
    mapped = ["--from", "pairwise", "--map", "prompt=input", "response_a=output_1", "response_b=output_2",
              "--verdict", "a=1", "b=2"]
    result = cli("convert", src, "-o", tmp_path / "out.json", *mapped)
    assert result.exit_code == 0 and _pairs(tmp_path / "out.json") == RIGHT
    assert "note: --map prompt=input: 'input' is also where --from pairwise looks for query by default" in result.output
    twice = cli("convert", src, "-o", tmp_path / "two.json", "--from", "pairwise", "--map", "prompt=input",
                "query=input", "response_a=output_1", "response_b=output_2")
    assert twice.exit_code == 2 and "a column feeds one field" in twice.output and not (tmp_path / "two.json").exists()


def test_answers_whose_names_say_no_side_are_asked_about_never_guessed(tmp_path, cli):
    src = write_jsonl(tmp_path / "se.jsonl", [{"question": "Why is the sky blue?", "response_j": "Rayleigh scattering.",
                                               "response_k": "Because it is."}])
    result = cli("convert", src, "-o", tmp_path / "out.json")
    assert result.exit_code == 2 and "try:" not in result.output
    assert "response_j and response_k hold two answers, but their names do not say which one is preferred" in result.output
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize("row", [
    {"question_id": 81, "model_1": "gpt-4", "model_2": "vicuna", "g1_winner": "model_1", "g2_winner": "model_1",
     "g1_judgment": "A is better. [[A]]", "g2_judgment": "B is better. [[B]]", "g1_user_prompt": "[Question] Hi",
     "g2_user_prompt": "[Question] Hi", "turn": 1},
    {"judge_prompt": "[The Start of Assistant A's Answer] x [The End]", "judgment": "A wins [[A]]",
     "critique_1": "good", "critique_2": "bad", "winner": "model_a"},
], ids=["fastchat-judgment-row", "judge-wrapped"])
def test_judge_output_columns_are_never_proposed(tmp_path, cli, row):
    src = write_jsonl(tmp_path / "judged.jsonl", [row] * 3)
    result = cli("convert", src, "-o", tmp_path / "out.json")
    assert result.exit_code == 2, result.output
    hint = result.output.split("try:", 1)[1] if "try:" in result.output else ""
    for column in row:
        if re.search(r"judg|critique|_prompt|^g\d", column):
            assert column not in hint, hint


def test_preview_shows_the_records_with_their_source_columns_and_writes_nothing(tmp_path, cli):
    src = write_jsonl(tmp_path / "votes.jsonl", ROWS)
    result = cli("convert", src, "--from", "pairwise", "--map", "prompt=input", "response_a=output_1",
                 "response_b=output_2", "--verdict", "a=1", "b=2", "--preview", "2")
    assert result.exit_code == 0, result.output
    assert "chosen   <- output_2 (label=2): 'Paris'" in result.output and "record 2" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["votes.jsonl"]
    default = cli("convert", src, "--from", "pairwise", "--map", "prompt=input", "response_a=output_1",
                  "response_b=output_2", "--verdict", "a=1", "b=2", "--preview")
    assert default.output.count("record ") == 3


def test_a_verdict_value_the_user_maps_leaves_the_default_groups():
    assert parse_verdicts(["tie=tie,error"])["failed"] == ["failed", "invalid", ""]
    with pytest.raises(UsageError, match="both a= and b="):
        parse_verdicts(["a=x", "b=x,y"])


def test_error_mapped_to_tie_is_rejected_as_a_tie(tmp_path):
    src = write_jsonl(tmp_path / "v.jsonl", [{"prompt": "p", "response_a": "x", "response_b": "y", "verdict": "error"},
                                             {"prompt": "q", "response_a": "x", "response_b": "y", "verdict": "a"}])
    report = convert([src], str(tmp_path / "o.json"), fmt="pairwise", verdicts=parse_verdicts(["tie=tie,error"]))
    assert report.rejected_by_reason == {"tie": 1}
