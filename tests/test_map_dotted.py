"""``--map`` reaches nested keys with a dotted path, matches a column's case when only one column fits, and a column
that is mapped and never read, or looks like an answer and is read by no field, is a note (issue 29)."""

from __future__ import annotations

import json

from conftest import load_output, write_jsonl
from prefkit.readers.mapping import resolve


def test_resolve_dotted_literal_and_case():
    data = {"input": {"messages": [{"role": "user", "content": "q"}]}, "a.b": 1, "a": {"b": 2}, "Response_A": "x",
            "turns": ["t0", "t1"], "X": 1, "x": 2}
    assert resolve(data, "input.messages") == (True, data["input"]["messages"])
    assert resolve(data, "a.b") == (True, 1)  # a key that holds a literal dot is read as written first
    assert resolve(data, "turns.1") == (True, "t1")
    assert resolve(data, "response_a") == (True, "x")
    assert resolve(data, "X") == (True, 1) and resolve(data, "x") == (True, 2)
    assert resolve({"Xy": 1, "xY": 2}, "xy")[0] is False  # two columns differ only by case: name one exactly
    assert resolve(data, "input.nothing") == (False, None)


def test_nested_prompt_and_scores_through_the_cli(tmp_path, cli):
    rows = [{"input": {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": f"q{i}"}]},
             "out": {"good": f"g{i}", "bad": f"b{i}"}, "metadata": {"score_chosen": 5, "score_rejected": 5 if i else 1}}
            for i in range(3)]
    src = write_jsonl(tmp_path / "n.jsonl", rows)
    result = cli("convert", src, "-o", tmp_path / "o.json", "--report-json", tmp_path / "r.json", "--from", "pairwise",
                 "--map", "prompt=input.messages", "response_a=out.good", "response_b=out.bad",
                 "score_a=metadata.score_chosen", "score_b=metadata.score_rejected")
    assert result.exit_code == 0, result.output
    pairs = load_output(tmp_path / "o.json")
    assert [(p["conversations"][0]["value"], p["conversations"][-1]["value"], p["chosen"]["value"]) for p in pairs] == \
        [("S", "q0", "g0")]
    assert json.loads((tmp_path / "r.json").read_text())["rejected_by_reason"] == {"tie": 2}
    assert "dotted" in cli("convert", "--help").output


def test_column_case_is_matched_when_one_column_fits(tmp_path, cli):
    src = write_jsonl(tmp_path / "c.jsonl", [{"Question": "q", "response_A": "x", "response_B": "y", "label": "B>A"}])
    result = cli("convert", src, "-o", tmp_path / "o.json", "--from", "pairwise", "--map", "prompt=question",
                 "response_a=RESPONSE_A", "response_b=response_b")
    assert result.exit_code == 0, result.output
    assert load_output(tmp_path / "o.json")[0]["chosen"]["value"] == "y"


def test_a_mapped_column_never_read_and_an_unread_answer_are_notes(tmp_path, cli):
    rows = [{"context": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
             "answer": {"role": "assistant", "content": "the real answer"}, "is_desirable": True, "note": "x"}]
    src = write_jsonl(tmp_path / "k.jsonl", rows)
    result = cli("convert", src, "-o", tmp_path / "o.json", "--from", "sharegpt", "--to", "kto", "--map",
                 "messages=context", "kto_tag=is_desirable")
    assert "note: column 'answer' looks like an answer, but --from sharegpt does not read it" in result.output
    assert "'note'" not in result.output
    pairs = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "p", "response_a": "x", "response_b": "y", "verdict": "a",
                                                "system_prompt": "S"}])
    result = cli("convert", pairs, "-o", tmp_path / "o.json", "--from", "pairwise", "--map", "system=sys")
    assert "note: --map system=sys: --from pairwise never read it in the first 1 records (no such column there)" \
        in result.output


def test_when_every_record_is_rejected_the_error_names_the_unread_answer_column(tmp_path, cli):
    """The issue's KTO file read as sharegpt: the label cannot land on a context turn, and the error says that the
    `answer` column went unread (before, nothing said so); a bare convert reads the same file as kto-rows."""
    rows = [{"context": [{"role": "user", "content": "Hi"}, {"role": "bot", "content": "Hello"},
                         {"role": "user", "content": "2+2?"}], "answer": {"role": "bot", "content": "4"},
             "is_desirable": True},
            {"context": [{"role": "user", "content": "3+3?"}], "answer": {"role": "bot", "content": "7"},
             "is_desirable": False}]
    src = write_jsonl(tmp_path / "kto.jsonl", rows)
    result = cli("convert", src, "--from", "sharegpt", "--map", "messages=context", "kto_tag=is_desirable",
                 "assistant_tag=bot", "--to", "kto", "-o", tmp_path / "out.json")
    assert result.exit_code == 1 and not (tmp_path / "out.json").exists()
    [line] = [ln for ln in result.output.splitlines() if ln.startswith("Error:")]
    assert "no rows to write" in line and "column 'answer' looks like an answer" in line
    bare = cli("convert", src, "--to", "kto", "-o", tmp_path / "bare.json")
    assert bare.exit_code == 0, bare.output
    assert [(r["conversations"][-1]["value"], r["kto_tag"]) for r in load_output(tmp_path / "bare.json")] == \
        [("4", True), ("7", False)]
