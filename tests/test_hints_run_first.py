"""A hint is the command it prints, run first (issue 29): from a bare ``prefkit convert FILE -o out.json`` on files
in the shapes of JudgeBench, turbo-alignment, PKU-SafeRLHF and scores nested in metadata, a user who copies the
printed ``try:`` line gets the right pairs (prompt, history, chosen, rejected); and no printed command ever fails on
the sample it was proposed for."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from conftest import load_output, write_jsonl

TRY = re.compile(r"(?:try|or): (--from [^\n]*?)(?=: |\n|$)", re.M)
COMMAND = re.compile(r"(--from \S+(?: (?!--from)[^\s,;:()]+)*)")
FILL = re.compile(r"\b(VALUE|COLUMN)\b")


def judgebench(n: int = 12) -> list[dict]:
    return [{"pair_id": f"p{i}", "original_id": f"q{i}", "source": "mmlu-pro", "question": f"Question {i}?",
             "response_model": "gpt-4o", "response_A": f"answer A{i}", "response_B": f"answer B{i}",
             "label": ["A>B", "B>A", "A>>B", "b>a"][i % 4]} for i in range(n)]


def turbo(n: int = 6) -> list[dict]:
    return [{"id": str(i), "context": [{"role": "system", "content": "Be kind."},
                                       {"role": "user", "content": f"hello {i}"},
                                       {"role": "bot", "content": f"hi {i}"},
                                       {"role": "user", "content": f"question {i}"}],
             "answer_w": {"id": "w", "role": "bot", "content": f"good {i}"},
             "answer_l": {"id": "l", "role": "bot", "content": f"bad {i}"}} for i in range(n)]


def pku(n: int = 6) -> list[dict]:
    return [{"prompt": f"prompt {i}", "response_0": f"zero {i}", "response_1": f"one {i}", "prompt_source": "x",
             "is_response_0_safe": i % 3 != 0, "is_response_1_safe": True, "better_response_id": i % 2,
             "safer_response_id": 1 if i % 3 == 0 else 0} for i in range(n)]


def nested_scores(n: int = 200) -> list[dict]:  # 25 of 200 score both answers equally
    return [{"prompt": f"prompt {i}", "chosen": f"good {i}", "rejected": f"bad {i}",
             "metadata": {"source": "uf", "score_chosen": 7.0, "score_rejected": 7.0 if i % 8 == 0 else 4.5}}
            for i in range(n)]


def _try(output: str) -> list[str]:
    """The printed ``try:`` command, as a user copies it."""
    return shlex.split(TRY.search(output).group(1))


def _convert(cli, src: str, out: Path, *args: str) -> list[dict]:
    result = cli("convert", src, "-o", out, "--report-json", out.with_suffix(".report.json"), *args)
    assert result.exit_code == 0, result.output
    return load_output(out)


def _sharegpt(row: dict) -> tuple:
    """(history, prompt, chosen, rejected) of a sharegpt pair (its system turn left out: see _system)."""
    turns = [(m["from"], m["value"]) for m in row["conversations"] if m["from"] != "system"]
    return turns[:-1], turns[-1][1], row["chosen"]["value"], row["rejected"]["value"]


def _system(row: dict) -> str:
    return next((m["value"] for m in row["conversations"] if m["from"] == "system"), "")


def test_judgebench_labels_a_greater_b_follow_the_hint(tmp_path, cli):
    src = write_jsonl(tmp_path / "judgebench.jsonl", judgebench())
    bare = cli("convert", src, "-o", tmp_path / "out.json")
    assert bare.exit_code == 2 and "try:" in bare.output, bare.output
    assert _try(bare.output) == ["--from", "pairwise", "--map", "response_a=response_A", "response_b=response_B"]
    pairs = _convert(cli, src, tmp_path / "out.json", *_try(bare.output))
    assert [_sharegpt(p) for p in pairs] == [
        ([], f"Question {i}?", f"answer {'A' if i % 2 == 0 else 'B'}{i}", f"answer {'B' if i % 2 == 0 else 'A'}{i}")
        for i in range(12)]


def test_turbo_alignment_winner_loser_follow_the_hint(tmp_path, cli):
    src = write_jsonl(tmp_path / "turbo.jsonl", turbo())
    bare = cli("convert", src, "-o", tmp_path / "out.json")
    assert bare.exit_code == 2, bare.output
    args = _try(bare.output)
    assert "chosen=answer_w" in args and "rejected=answer_l" in args, args  # the winner chosen, never the loser
    pairs = _convert(cli, src, tmp_path / "out.json", *args)
    assert [(_system(p), *_sharegpt(p)) for p in pairs] == [
        ("Be kind.", [("human", f"hello {i}"), ("gpt", f"hi {i}")], f"question {i}", f"good {i}", f"bad {i}")
        for i in range(6)]
    preview = cli("convert", src, *args, "--preview", "1")  # the whole prompt, not only the last user turn
    assert "history  <- context: 'user: hello 0'" in preview.output and "'assistant: hi 0'" in preview.output


def test_pku_two_axes_are_asked_about_and_each_answer_works(tmp_path, cli):
    src = write_jsonl(tmp_path / "pku.jsonl", pku())
    bare = cli("convert", src, "-o", tmp_path / "out.json")
    assert bare.exit_code == 2 and not (tmp_path / "out.json").exists(), bare.output
    assert "better_response_id and safer_response_id both say which answer is preferred (they disagree" in bare.output
    lines = [shlex.split(m) for m in TRY.findall(bare.output)]
    assert len(lines) == 2 and all(line[-3:] == ["--verdict", "a=0", "b=1"] for line in lines), lines  # 0/1: the ids
    for line, column in zip(lines, ("better_response_id", "safer_response_id")):
        assert f"verdict={column}" in line
        pairs = _convert(cli, src, tmp_path / f"{column}.json", *line)
        want = [(f"prompt {r['prompt'][-1]}", *((f"zero {i}", f"one {i}") if r[column] == 0 else (f"one {i}", f"zero {i}")))
                for i, r in enumerate(pku())]
        assert [(p["conversations"][-1]["value"], p["chosen"]["value"], p["rejected"]["value"]) for p in pairs] == want


def test_scores_nested_in_metadata_note_the_ties_and_the_line_rejects_them(tmp_path, cli):
    src = write_jsonl(tmp_path / "scores.jsonl", nested_scores())
    bare = cli("convert", src, "-o", tmp_path / "bare.json")
    assert bare.exit_code == 0 and "note: metadata.score_chosen and metadata.score_rejected look like" in bare.output
    args = _try(bare.output)
    assert args == ["--from", "pairwise", "--map", "response_a=chosen", "response_b=rejected",
                    "score_a=metadata.score_chosen", "score_b=metadata.score_rejected"]
    pairs = _convert(cli, src, tmp_path / "out.json", *args)
    report = json.loads((tmp_path / "out.report.json").read_text())
    assert (report["accepted"], report["rejected_by_reason"]) == (175, {"tie": 25})
    assert [_sharegpt(p) for p in pairs] == [([], f"prompt {i}", f"good {i}", f"bad {i}") for i in range(200) if i % 8]
    rejects = [json.loads(x) for x in (tmp_path / "out.rejects.jsonl").read_text().splitlines()]
    assert rejects[0]["index"] == 0 and "equal scores (7) are a tie" in rejects[0]["message"]


SHAPES = {
    "judgebench": judgebench(), "turbo": turbo(), "pku": pku(),
    "numeric-label": [{"input": f"q{i}", "output_1": "x", "output_2": "y", "label": 1 + i % 2} for i in range(4)],
    "no-side": [{"question": f"q{i}", "response_j": "x", "response_k": "y"} for i in range(4)],
    "upper-case": [{"Prompt": f"q{i}", "Response_A": "x", "Response_B": "y", "Winner": "A>B"} for i in range(4)],
    "kto-context": [{"context": [{"role": "user", "content": "q"}], "answer": {"role": "bot", "content": "a"},
                     "is_desirable": i % 2 == 0} for i in range(4)],
}


@pytest.mark.parametrize("to", ["sharegpt", "kto"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_no_printed_command_fails_on_its_sample(tmp_path, cli, shape, to):
    src = write_jsonl(tmp_path / f"{shape}.jsonl", SHAPES[shape])
    bare = cli("convert", src, "-o", tmp_path / "bare.json", "--to", to)
    printed = [m for line in bare.output.splitlines() if "--from " in line for m in COMMAND.findall(line)]
    for i, command in enumerate(printed):
        if FILL.search(command):  # a form to fill in says what only the user knows
            assert "fill in" in bare.output or "say which value" in bare.output, bare.output
            continue
        out = tmp_path / f"run{i}.json"
        result = cli("convert", src, "-o", out, "--to", to, *shlex.split(command))
        assert result.exit_code == 0 and load_output(out), f"{command}\n{result.output}"
