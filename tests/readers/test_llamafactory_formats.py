"""sharegpt, alpaca and openai readers: LLaMA-Factory's own formats, with its mapping and skip rules."""

import json

from conftest import raw, read, write_jsonl


def test_sharegpt_real_sample_with_inline_system_and_history():
    records, rejects, _ = read("dpo_en_demo.sample.json", "sharegpt")
    assert len(records) == 20 and not rejects
    rows = raw("dpo_en_demo.sample.json")
    for record, row in zip(records, rows):
        messages = row["conversations"]
        if messages[0]["from"] == "system":
            assert record.system == messages[0]["value"]
            messages = messages[1:]
        else:
            assert record.system == ""
        assert [m.content for m in record.prompt] == [m["value"] for m in messages]
        assert record.chosen.content == row["chosen"]["value"]
        assert record.rejected.content == row["rejected"]["value"]
    assert any(len(r.prompt) > 1 for r in records) and any(r.system for r in records)


def test_sharegpt_rows_llamafactory_would_skip_are_rejected_with_its_reason(tmp_path):
    h, g = {"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}
    rows = [
        {"conversations": [h], "chosen": g, "rejected": {"from": "gpt", "value": "b"}},
        {"conversations": [h, h], "chosen": g, "rejected": {"from": "gpt", "value": "b"}},  # role order
        {"conversations": [h, g], "chosen": g, "rejected": {"from": "gpt", "value": "b"}},  # even count
        {"conversations": [h], "chosen": h, "rejected": {"from": "gpt", "value": "b"}},  # chosen not assistant
        {"conversations": [h], "chosen": g},  # missing rejected
        {"conversations": [h, g]},  # SFT row: no preference
        {"conversations": [{"from": "robot", "value": "x"}], "chosen": g, "rejected": g},
    ]
    records, rejects, _ = read(write_jsonl(tmp_path / "s.jsonl", rows), "sharegpt")
    assert len(records) == 1
    assert [r.reason for r in rejects] == ["bad_role_order", "bad_message_count", "bad_role", "missing_field",
                                           "no_preference", "bad_role"]
    assert [r.line for r in rejects] == [2, 3, 4, 5, 6, 7]
    assert "rejected" in rejects[3].message


def test_sharegpt_kto_and_openai_tags_are_detected():
    records, rejects, _ = read("kto_en_demo.sample.json", "sharegpt")
    assert not rejects and len(records) == 20
    rows = raw("kto_en_demo.sample.json")
    assert [r.label for r in records] == [row["label"] for row in rows]
    assert all(r.completion.content == row["messages"][-1]["content"] for r, row in zip(records, rows))


def test_sharegpt_mapping_renames_columns_and_tags(tmp_path):
    rows = [{"dialog": [{"speaker": "me", "text": "hi"}], "good": {"speaker": "bot", "text": "hello"},
             "bad": {"speaker": "bot", "text": "go"}}]
    mapping = {"messages": "dialog", "chosen": "good", "rejected": "bad", "role_tag": "speaker",
               "content_tag": "text", "user_tag": "me", "assistant_tag": "bot"}
    records, rejects, _ = read(write_jsonl(tmp_path / "m.jsonl", rows), "sharegpt", mapping=mapping)
    assert not rejects and records[0].chosen.content == "hello" and records[0].prompt[0].content == "hi"


def test_openai_tool_calls_and_tool_results_fold_like_llamafactory():
    records, rejects, _ = read("openai_tools.sample.jsonl", "openai")
    assert not rejects and len(records) == 3
    first = records[0]
    assert first.system == "You can call tools."
    assert [m.role for m in first.prompt] == ["user", "function", "observation"]
    assert json.loads(first.prompt[1].content) == [{"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}]
    assert json.loads(first.tools)[0]["function"]["name"] == "get_weather"
    assert records[1].chosen.role == "function" and records[1].tools.startswith("[")


def test_alpaca_ranking_history_system_and_non_string_answers(tmp_path):
    rows = [
        {"instruction": "Translate", "input": "bonjour", "chosen": "hello", "rejected": "bye",
         "history": [["hi", "hello there"]], "system": "You translate."},
        {"instruction": "Q", "chosen": ["not", "a string"], "rejected": "b"},
        {"instruction": "Q", "output": "a", "kto_tag": True},
        {"instruction": "Q", "output": "a", "kto_tag": "yes"},
    ]
    records, rejects, _ = read(write_jsonl(tmp_path / "a.jsonl", rows), "alpaca")
    pair, kto = records
    assert [m.content for m in pair.prompt] == ["hi", "hello there", "Translate\nbonjour"]
    assert pair.system == "You translate."
    assert kto.label is True and kto.completion.content == "a"
    assert [r.reason for r in rejects] == ["bad_type", "bad_type"]


def test_alpaca_legacy_kwise_output_expands_by_strategy():
    best_worst, rejects, _ = read("oaast_rm_zh.sample.json", "alpaca")
    rows = raw("oaast_rm_zh.sample.json")
    # records 12 and 13 (144 and 299 of the original) hold identical answers only.
    assert len(best_worst) == 12 and [r.index for r in rejects] == [12, 13]
    assert all(r.reason == "no_pairs" for r in rejects)
    assert best_worst[0].chosen.content == rows[0]["output"][0]
    assert best_worst[0].rejected.content == rows[0]["output"][-1]
    each, _, _ = read("oaast_rm_zh.sample.json", "alpaca", pairing="best-vs-each-lower")
    everything, _, _ = read("oaast_rm_zh.sample.json", "alpaca", pairing="all-pairs")
    k = [len(set(r["output"])) for r in rows[:12]]
    assert len(each) == sum(n - 1 for n in k)
    assert len(everything) == sum(n * (n - 1) // 2 for n in k)


def test_alpaca_reads_medicalgpt_flat_columns():
    records, rejects, _ = read("medicalgpt_dpo_zh.sample.jsonl", "alpaca")
    assert len(records) == 15 and not rejects
    first = raw("medicalgpt_dpo_zh.sample.jsonl")[0]
    assert records[0].chosen.content == first["response_chosen"] and records[0].prompt[-1].content == first["question"]
