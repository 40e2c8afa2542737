"""prefkit's exact KTO token lengths equal LLaMA-Factory's get_dataset(stage="kto") for every example, with
the same rows dropped, at two cutoffs, for the qwen template (with a default system prompt) and llama3
(without), on 0.9.5 and 0.9.3; and a KTO record with broken messages, which the feedback processor does not
simply drop but fails the run on, is reported as breaking the loader."""

import json

import pytest

from conftest import fixture, write_jsonl
from helpers.lf_tools import tool_lines
from prefkit import convert, validate

CONFIGS = ["qwen:256", "qwen:1024", "llama3:256", "llama3:1024"]
FAST_CONFIGS = ["mistral:256", "chatml:1024"]  # other template shapes on prefkit's fast path: Llama2Template, stop words


def _row(*turns: str, tag: bool | None) -> dict:
    roles = ("human", "gpt")
    return {"conversations": [{"from": roles[i % 2], "value": t} for i, t in enumerate(turns)], "kto_tag": tag}


@pytest.fixture(scope="module")
def kto_dir(tmp_path_factory):
    """The KTO demo sample, Chinese pairs and tool calls converted to KTO, and a few hand-made rows: long
    prompt, long answer, several turns, an empty desirable answer (LLaMA-Factory tags it undesirable) and a
    null kto_tag (dropped by the processor, yet the next record's KL answer)."""
    data = tmp_path_factory.mktemp("kto_lengths")
    merged = []
    for i, src in enumerate([fixture("kto_en_demo.sample.json"), fixture("dpo_zh_demo.sample.json"),
                             fixture("openai_tools.sample.jsonl")]):
        convert([src], str(data / f"part{i}.jsonl"), to="kto")
        merged += [json.loads(line) for line in (data / f"part{i}.jsonl").read_text().splitlines()]
    long = "Consider every detail of the following situation before answering. " * 120  # ~1,400 tokens
    merged[3:3] = [_row(long + "Summarize.", "It is long.", tag=True), _row("Elaborate.", long, tag=False),
                   _row("Hi", "Hello!", "What is 2+2?", "4", tag=True), _row("Say something.", "", tag=True),
                   _row("Unlabeled?", "Yes.", tag=None), _row("After the unlabeled one", "ok", tag=False)]
    write_jsonl(data / "mix.jsonl", merged)
    (data / "dataset_info.json").write_text(json.dumps({"mix": {
        "file_name": "mix.jsonl", "formatting": "sharegpt",
        "columns": {"messages": "conversations", "kto_tag": "kto_tag", "tools": "tools"}}}))
    return data, len(merged)


@pytest.mark.llamafactory
def test_kto_lengths_equal_llamafactory_get_dataset(kto_dir, qwen_tokenizer, lf_python):
    (version, python), (data, rows) = lf_python, kto_dir
    lines = tool_lines(python, "lengths_parity.py", str(data), "mix", qwen_tokenizer, *CONFIGS, *FAST_CONFIGS)
    results, (broken,) = lines[:-1], lines[-1:]
    assert [f"{r['template']}:{r['cutoff']}" for r in results] == CONFIGS + FAST_CONFIGS
    for result in results:
        assert result["version"] == version and result["dropped"] == 1 and result["rows"] == rows - 1
        assert result["render"] == "prefkit"
        assert result["n_mismatches"] == 0, result["mismatches"]
        assert result["n_cli_mismatches"] == 0, result["cli_mismatches"]
        assert result["n_kl_mismatches"] == 0, result["kl_mismatches"]
    assert all(r["truncated"] > 0 for r in results[:4]) and results[4]["truncated"] > 0
    assert results[0]["truncated"] > results[1]["truncated"]
    # LLaMA-Factory fails on the record after a broken one (its KL answer is missing); prefkit says so
    assert broken["version"] == version and broken["broken_row_error"] == "IndexError"
    report = validate("broken", dataset_dir=broken["broken_dataset_dir"])
    assert ("breaks_loader", 0) in {(f.code, f.index) for f in report.findings.by_level("error")}
