"""prefkit's exact token lengths equal LLaMA-Factory's get_dataset for every row, at two cutoffs, for the
qwen template (with a default system prompt) and llama3 (without), on 0.9.5 and 0.9.3."""

import json

import pytest

from conftest import fixture, write_jsonl
from helpers.lf_tools import tool_lines
from prefkit import convert

CONFIGS = ["qwen:256", "qwen:1024", "llama3:256", "llama3:1024"]
# Templates of other shapes, on prefkit's fast path too (prefkit/targets/lf_render.py): Llama2Template (mistral: the
# system prompt fused into the first user turn, bos prefix; gemma: eos replaced), stop words added as special tokens
# (chatml), eos slots in the user and assistant turns (default).
FAST_CONFIGS = ["chatml:256", "mistral:1024", "gemma:256", "default:1024"]


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    data = tmp_path_factory.mktemp("lengths")
    shared = "The answer, step by step, is as follows. " * 40  # ~400 tokens both answers share
    extra = write_jsonl(data / "prefix.jsonl", [
        {"conversations": [{"from": "human", "value": f"Question {i}?"}],
         "chosen": {"from": "gpt", "value": shared + "Therefore yes."},
         "rejected": {"from": "gpt", "value": shared + "Therefore no."}} for i in range(3)])
    inputs = [fixture("dpo_en_demo.sample.json"), fixture("dpo_zh_demo.sample.json"),
              fixture("openai_tools.sample.jsonl"), extra]
    merged = []
    for i, src in enumerate(inputs):
        convert([src], str(data / f"part{i}.jsonl"))
        merged += [json.loads(line) for line in (data / f"part{i}.jsonl").read_text().splitlines()]
    write_jsonl(data / "mix.jsonl", merged)
    convert([str(data / "mix.jsonl")], str(data / "mix_sharegpt.jsonl"), fmt="sharegpt", register="mix",
            dataset_dir=str(data))
    return data, len(merged)


@pytest.mark.llamafactory
def test_lengths_equal_llamafactory_get_dataset(dataset_dir, qwen_tokenizer, lf_python):
    version, python = lf_python
    data, rows = dataset_dir
    results = tool_lines(python, "lengths_parity.py", str(data), "mix", qwen_tokenizer, *CONFIGS, *FAST_CONFIGS)
    assert [f"{r['template']}:{r['cutoff']}" for r in results] == CONFIGS + FAST_CONFIGS
    for result in results:
        assert result["version"] == version and result["rows"] == rows and result["render"] == "prefkit"
        assert result["n_mismatches"] == 0, result["mismatches"]
        assert result["n_cli_mismatches"] == 0, result["cli_mismatches"]
    assert all(r["truncated"] > 0 for r in results[:4]) and results[4]["truncated"] > 0 and results[6]["truncated"] > 0
    assert results[0]["identical_after_truncation"] == 3  # the shared-prefix pairs at cutoff 256
    assert results[1]["identical_after_truncation"] == 0
