"""Unpaired KTO rows in both shapes: context + answer + label (``--from kto-rows``, turbo-alignment's records) and TRL's
own ``{prompt, completion, label}`` (``--from trl``); both detected, the label on the answer, never on a context turn."""

from __future__ import annotations

import json

from conftest import load_output, read, write_jsonl


def _bot(text):
    return {"role": "bot", "content": text}


def _user(text):
    return {"role": "user", "content": text}


TURBO = [  # turbo-alignment's KTODatasetRecord: id, context (user/bot), answer (a bot message), is_desirable
    {"id": "0", "context": [{"role": "system", "content": "Be brief."}, _user("Hi"), _bot("Hello!"), _user("2+2?")],
     "answer": _bot("4"), "is_desirable": True},
    {"id": "1", "context": [_user("3+3?")], "answer": _bot("7"), "is_desirable": False},
]


def test_context_answer_label_rows_are_kto_examples(tmp_path):
    records, rejects, _ = read(write_jsonl(tmp_path / "turbo.jsonl", TURBO), "kto-rows", target="kto")
    assert not rejects and len(records) == 2
    first, second = records
    assert first.system == "Be brief."
    assert [(m.role, m.content) for m in first.prompt] == [("user", "Hi"), ("assistant", "Hello!"), ("user", "2+2?")]
    assert (first.completion.role, first.completion.content, first.label) == ("assistant", "4", True)
    assert [(m.role, m.content) for m in second.prompt] == [("user", "3+3?")]
    assert (second.completion.content, second.label) == ("7", False)


def test_other_spellings_strings_sharegpt_tags_and_mapped_names(tmp_path):
    rows = [
        {"context": "2+2?", "answer": "4", "is_desirable": True},
        {"context": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}, {"from": "human", "value": "5-1?"}],
         "answer": {"from": "gpt", "value": "4"}, "label": False},
        {"prompt": [_user("1+1?")], "answer": {"role": "assistant", "content": "2"}, "kto_tag": True, "system": "Math."},
    ]
    records, rejects, _ = read(write_jsonl(tmp_path / "kto.jsonl", rows), "kto-rows", target="kto")
    assert not rejects
    assert [([m.content for m in r.prompt], r.completion.content, r.label, r.system) for r in records] == [
        (["2+2?"], "4", True, ""), (["Hi", "Hello", "5-1?"], "4", False, ""), (["1+1?"], "2", True, "Math.")]
    mapped = [{"dialog": [_user("q")], "reply": "a", "good": True}]
    records, rejects, _ = read(write_jsonl(tmp_path / "mapped.jsonl", mapped), "kto-rows", target="kto",
                               mapping={"prompt": "dialog", "completion": "reply", "label": "good"})
    assert not rejects and (records[0].prompt[0].content, records[0].completion.content, records[0].label) == ("q", "a", True)


def test_bad_kto_rows_are_rejected_naming_the_field(tmp_path):
    rows = [
        {"context": [_user("q")], "answer": _bot("a"), "is_desirable": "yes"},
        {"context": [_user("q"), _bot("a")], "answer": _bot("b"), "is_desirable": True},  # context ends with the bot
        {"context": [_user("q")], "answer": _user("b"), "is_desirable": True},
        {"context": [_user("q")], "is_desirable": True},
        {"context": [_user("q")], "answer": [_bot("a"), _bot("b")], "is_desirable": True},
    ]
    records, rejects, _ = read(write_jsonl(tmp_path / "bad.jsonl", rows), "kto-rows", target="kto")
    assert records == []
    assert [r.reason for r in rejects] == ["bad_type", "bad_role_order", "bad_role", "missing_field",
                                           "multi_message_answer"]
    assert "is_desirable" in rejects[0].message and "answer" in rejects[2].message
    assert "'answer' / 'completion' / 'response'" in rejects[3].message


def test_a_bare_convert_detects_context_answer_rows_and_labels_the_answer(tmp_path, cli):
    """The issue's file: `--from sharegpt --map messages=context kto_tag=is_desirable` put the label on the context's
    last bot turn; a bare convert now detects the shape and labels the answer."""
    src = write_jsonl(tmp_path / "turbo.jsonl", TURBO)
    result = cli("convert", src, "--to", "kto", "-o", tmp_path / "out.json")
    assert result.exit_code == 0, result.output
    assert "kto-rows" in result.output and "2 KTO examples written" in result.output
    out = load_output(tmp_path / "out.json")
    assert out[0]["conversations"] == [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Hi"},
                                       {"from": "gpt", "value": "Hello!"}, {"from": "human", "value": "2+2?"},
                                       {"from": "gpt", "value": "4"}]
    assert out[0]["kto_tag"] is True
    assert out[1]["conversations"] == [{"from": "human", "value": "3+3?"}, {"from": "gpt", "value": "7"}]
    assert out[1]["kto_tag"] is False
    pairs = cli("convert", src, "-o", tmp_path / "pairs.json")  # KTO examples never become pairs
    assert pairs.exit_code == 1 and "kto_example_not_a_pair" in pairs.output and "--to kto" in pairs.output


def test_trl_unpaired_rows_standard_and_conversational(tmp_path):
    rows = [
        {"prompt": "The sky is", "completion": " blue.", "label": True},
        {"prompt": [{"role": "system", "content": "Be brief."}, _user("2+2?")],
         "completion": [{"role": "assistant", "content": "5"}], "label": False},
        {"prompt": [_user("Weather in Paris?")], "completion": [{"role": "assistant", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]}],
         "label": True, "tools": [{"type": "function", "function": {"name": "get_weather"}}]},
        {"prompt": "q", "completion": "a", "label": 1},
    ]
    records, rejects, _ = read(write_jsonl(tmp_path / "unpaired.jsonl", rows), "trl", target="kto")
    assert [r.reason for r in rejects] == ["bad_type"] and "label" in rejects[0].message
    plain, chat, tool = records
    assert (plain.prompt[0].content, plain.completion.content, plain.label) == ("The sky is", " blue.", True)
    assert (chat.system, chat.prompt[0].content, chat.completion.content, chat.label) == ("Be brief.", "2+2?", "5", False)
    assert tool.completion.role == "function"
    assert json.loads(tool.completion.content) == [{"name": "get_weather", "arguments": {"city": "Paris"}}]
    assert json.loads(tool.tools) == [{"type": "function", "function": {"name": "get_weather"}}]


def test_trl_output_reads_back_detected(tmp_path, cli):
    """prefkit's own --to trl-kto output used to be detected as no format (and --from trl rejected it: 'chosen')."""
    src = write_jsonl(tmp_path / "turbo.jsonl", TURBO)
    assert cli("convert", src, "--to", "trl-kto", "-o", tmp_path / "trl.jsonl", "--quiet").exit_code == 0
    result = cli("convert", tmp_path / "trl.jsonl", "--to", "kto", "-o", tmp_path / "back.json")
    assert result.exit_code == 0, result.output
    assert "│ trl " in result.output and "2 KTO examples written" in result.output
    assert [r["kto_tag"] for r in load_output(tmp_path / "back.json")] == [True, False]


def test_trl_mapped_column_that_is_absent_says_so(tmp_path):
    rows = [{"prompt": "q", "chosen": "a", "rejected": "b"}]
    _, rejects, _ = read(write_jsonl(tmp_path / "t.jsonl", rows), "trl", mapping={"prompt": "question"})
    assert [(r.reason, r.message) for r in rejects] == [("missing_field", "field 'question' (mapped to prompt) is missing")]
    _, rejects, _ = read(write_jsonl(tmp_path / "u.jsonl", [{"prompt": "q", "answer": "a", "label": True}]), "trl",
                         target="kto")
    assert rejects[0].reason == "missing_field" and "'completion' + 'label'" in rejects[0].message
