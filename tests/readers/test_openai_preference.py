"""``--from openai-preference``: OpenAI's preference (DPO) fine-tuning JSONL, detected by its keys; system, history,
tools and tool calls kept; outputs of several messages read when they share all but their last, else rejected by name."""

from __future__ import annotations

import json

from conftest import load_output, read, write_jsonl

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
                                                                               "properties": {"city": {"type": "string"}}}}}]


def _row(messages, preferred, non_preferred, **extra):
    return {"input": {"messages": messages, **extra}, "preferred_output": preferred,
            "non_preferred_output": non_preferred}


def _say(text):
    return [{"role": "assistant", "content": text}]


def _call(city, call_id="call_1"):
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": json.dumps({"city": city})}}]}


def test_openai_docs_example_with_system_history_and_tools(tmp_path):
    rows = [
        # OpenAI's own example: one user turn, empty tools, parallel_tool_calls
        _row([{"role": "user", "content": "Hello, can you tell me how cold San Francisco is today?"}],
             _say("Today in San Francisco, it is not quite cold as expected. Morning clouds will give away to sunshine."),
             _say("It is not particularly cold in San Francisco today."), tools=[], parallel_tool_calls=True),
        _row([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
              {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": [{"type": "text", "text": "2+2?"}]}],
             _say("4"), _say("5"), tools=TOOLS),
        _row([{"role": "developer", "content": "Answer in French."}, {"role": "user", "content": "Hi"}],
             _say("Bonjour"), _say("Hello")),
    ]
    records, rejects, _ = read(write_jsonl(tmp_path / "p.jsonl", rows), "openai-preference")
    assert not rejects and len(records) == 3
    first, second, third = records
    assert [(m.role, m.content) for m in first.prompt] == [("user", rows[0]["input"]["messages"][0]["content"])]
    assert first.chosen.content.startswith("Today in San Francisco") and first.rejected.content.startswith("It is not")
    assert first.tools == "" and first.metadata == {"parallel_tool_calls": True}
    assert second.system == "Be brief."
    assert [(m.role, m.content) for m in second.prompt] == [("user", "Hi"), ("assistant", "Hello!"), ("user", "2+2?")]
    assert (second.chosen.content, second.rejected.content) == ("4", "5") and json.loads(second.tools) == TOOLS
    assert third.system == "Answer in French." and third.chosen.content == "Bonjour"


def test_tool_calls_and_results_fold_like_llamafactory(tmp_path):
    rows = [
        _row([{"role": "user", "content": "Weather in Paris?"}], [_call("Paris")], _say("Sunny, surely."), tools=TOOLS),
        _row([{"role": "user", "content": "Weather in Rome?"}, _call("Rome"), {"role": "tool", "content": "18C"}],
             _say("18C in Rome."), _say("Hot."), tools=TOOLS),
    ]
    records, rejects, _ = read(write_jsonl(tmp_path / "t.jsonl", rows), "openai-preference")
    assert not rejects
    called, answered = records
    assert called.chosen.role == "function"
    assert json.loads(called.chosen.content) == [{"name": "get_weather", "arguments": json.dumps({"city": "Paris"})}]
    assert (called.rejected.role, called.rejected.content) == ("assistant", "Sunny, surely.")
    assert [m.role for m in answered.prompt] == ["user", "function", "observation"]
    assert answered.prompt[2].content == "18C" and answered.chosen.content == "18C in Rome."


def test_multi_message_outputs_sharing_a_tool_call_end_the_prompt_others_are_rejected(tmp_path):
    user = [{"role": "user", "content": "Weather in Rome?"}]
    result = {"role": "tool", "content": "18C"}
    rows = [
        _row(user, [_call("Rome"), result, *_say("18C in Rome.")], [_call("Rome"), result, *_say("Hot.")]),
        _row(user, [*_say("Let me see."), *_say("18C.")], _say("Hot.")),  # two assistant messages
        _row(user, [_call("Rome"), result, *_say("18C.")], [_call("Milan"), result, *_say("Hot.")]),  # differ early
        _row(user, [*_say("a"), *_say("b")], [*_say("a"), *_say("c")]),  # shared part ends with no tool result
    ]
    records, rejects, notes = read(write_jsonl(tmp_path / "m.jsonl", rows), "openai-preference")
    assert len(records) == 1
    pair = records[0]
    assert [(m.role, m.content) for m in pair.prompt][1:] == [
        ("function", json.dumps([{"name": "get_weather", "arguments": json.dumps({"city": "Rome"})}])),
        ("observation", "18C")]
    assert (pair.chosen.content, pair.rejected.content) == ("18C in Rome.", "Hot.")
    assert [n.reason for n in notes] == ["shared_output_prefix"]
    assert [(r.index, r.reason) for r in rejects] == [(1, "multi_message_output"), (2, "multi_message_output"),
                                                      (3, "multi_message_output")]
    assert "preferred_output has 2 messages and non_preferred_output 1" in rejects[0].message


def test_bad_rows_are_rejected_naming_the_field(tmp_path):
    user = [{"role": "user", "content": "q"}]
    rows = [
        _row([*user, {"role": "assistant", "content": "a"}], _say("b"), _say("c")),  # input ends with the assistant
        {"input": "q", "preferred_output": _say("b"), "non_preferred_output": _say("c")},
        {"input": {"prompt": "q"}, "preferred_output": _say("b"), "non_preferred_output": _say("c")},
        _row(user, [{"role": "user", "content": "b"}], _say("c")),
        _row(user, [], _say("c")),
        _row(user, _say("b"), None),
        _row([{"role": "assistant", "content": "Hello, how can I help?"}, *user], _say("b"), _say("c")),
    ]
    records, rejects, _ = read(write_jsonl(tmp_path / "bad.jsonl", rows), "openai-preference")
    assert records == []
    assert [r.reason for r in rejects] == ["bad_message_count", "bad_type", "missing_field", "bad_role",
                                           "empty_response", "missing_field", "bad_role_order"]
    assert "input.messages" in rejects[0].message and "input.messages" in rejects[2].message
    assert "preferred_output[0]" in rejects[3].message and "non_preferred_output" in rejects[5].message


def test_detected_by_a_bare_convert_and_written_as_pairs_or_kto_examples(tmp_path, cli):
    rows = [_row([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}], _say("4"), _say("5"),
                 tools=TOOLS, parallel_tool_calls=False),
            _row([{"role": "user", "content": "Capital of France?"}], _say("Paris."), _say("Lyon."))]
    src = write_jsonl(tmp_path / "openai_dpo.jsonl", rows)
    result = cli("convert", src, "-o", tmp_path / "out.json")
    assert result.exit_code == 0, result.output
    assert "openai-preference" in result.output and "2 pairs written" in result.output
    out = load_output(tmp_path / "out.json")
    assert out[0]["conversations"] == [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "2+2?"}]
    assert (out[0]["chosen"], out[0]["rejected"]) == ({"from": "gpt", "value": "4"}, {"from": "gpt", "value": "5"})
    assert json.loads(out[0]["tools"]) == TOOLS and "tools" not in out[1]
    assert (out[1]["chosen"]["value"], out[1]["rejected"]["value"]) == ("Paris.", "Lyon.")

    result = cli("convert", src, "--to", "trl-kto", "-o", tmp_path / "kto.jsonl")
    assert result.exit_code == 0, result.output
    assert "4 KTO examples written" in result.output and "pairs written" not in result.output
    kto = load_output(tmp_path / "kto.jsonl")
    assert [(r["completion"][0]["content"], r["label"]) for r in kto] == [("4", True), ("5", False), ("Paris.", True),
                                                                         ("Lyon.", False)]
    assert kto[0]["prompt"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]
