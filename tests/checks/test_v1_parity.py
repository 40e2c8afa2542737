"""prefkit's predictions for LLaMA-Factory v1 pair data equal what v1 itself does, row by row: v1's DataEngine
(pair converter, and rows already in v1's form), its Renderer, its BatchGenerator's cut at cutoff_len, the
supervised tokens its trainer counts, and its RM trainer's compute_loss (a loss, or "No valid RM pairs found"),
for v1's three templates, at cutoffs that cut many pairs and a few; and the rows prefkit says v1 raises on do make v1 raise."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT, fixture, write_jsonl
from prefkit import convert, validate

CONFIGS = ["pairs:qwen3_nothink:256", "pairs:chatml:1024", "demo:qwen3:128"]
TOOLS = json.dumps([{"name": "get_weather", "description": "Weather of a city",
                     "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}])


def _pair(prompt: list[dict], chosen: str, rejected: str, **extra) -> dict:
    return {"chosen": prompt + [{"role": "assistant", "content": chosen}],
            "rejected": prompt + [{"role": "assistant", "content": rejected}], **extra}


BREAKING = {  # rows v1 raises on (converter pair), and the path prefkit's first breaks_loader finding names
    "typed_parts": (_pair([{"role": "user", "content": [{"type": "text", "value": "Hi"}]}], "a", "b"),
                    "chosen[0].content"),
    "null_content": (_pair([{"role": "user", "content": None}], "a", "b"), "chosen[0].content"),
    "tool_turn": (_pair([{"role": "user", "content": "Hi"}, {"role": "tool", "content": '{"name": "f"}'},
                         {"role": "user", "content": "So?"}], "a", "b"), ""),
    "tools_not_a_string": (_pair([{"role": "user", "content": "Hi"}], "a", "b", tools=[{"name": "f"}]), "tools"),
}


@pytest.fixture(scope="module")
def v1_dir(tmp_path_factory):
    """prefkit's demo pairs (English, several turns; Chinese) written by `--to lf-v1`, hand-made rows (a system
    prompt with tools, which qwen3 templates render and chatml does not; several turns with a system prompt; a
    long shared answer prefix), v1's own converted demo rows, and one file per breaking row, registered in a v1
    YAML by paths relative to it (the tool runs there, as llamafactory-cli would)."""
    data = tmp_path_factory.mktemp("v1_parity")
    rows = []
    for i, src in enumerate([fixture("dpo_en_demo.sample.json"), fixture("dpo_zh_demo.sample.json")]):
        convert([src], str(data / f"part{i}.jsonl"), to="lf-v1")
        rows += [json.loads(line) for line in (data / f"part{i}.jsonl").read_text().splitlines()]
    system = {"role": "system", "content": "You are a careful assistant."}
    shared = "Here is the reasoning, one step after another. " * 30
    rows[2:2] = [
        _pair([system, {"role": "user", "content": "Weather in Paris?"}], "Let me check that for you.",
              "No idea.", tools=TOOLS),
        _pair([system, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
               {"role": "user", "content": "What is 2+2?"}], "4", "5"),
        _pair([{"role": "user", "content": "Explain."}], shared + "So yes.", shared + "So no."),
    ]
    write_jsonl(data / "pairs.jsonl", rows)
    (data / "demo.jsonl").write_text((ROOT / "tests" / "fixtures" / "v1_dpo_demo.sample.jsonl").read_text())
    registry = {"pairs": {"path": "pairs.jsonl", "source": "local", "converter": "pair"},
                "demo": {"path": "demo.jsonl", "source": "local"}}
    for case, (row, _) in BREAKING.items():
        write_jsonl(data / f"{case}.jsonl", [row])
        registry[case] = {"path": f"{case}.jsonl", "source": "local", "converter": "pair"}
    (data / "dataset_info.yaml").write_text(yaml.safe_dump(registry, sort_keys=False))
    return data, len(rows)


@pytest.fixture(scope="module")
def v1_results(v1_dir, qwen_tokenizer, tiny_model):
    """One run of tests/tools/v1_parity.py (one import of v1 and torch for all): its JSON lines by name."""
    data, _ = v1_dir
    specs = CONFIGS + [f"{case}:raises" for case in BREAKING]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(data / "hf"), "DISABLE_VERSION_CHECK": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "tools" / "v1_parity.py"), "dataset_info.yaml",
                           qwen_tokenizer, tiny_model, *specs], capture_output=True, text=True, timeout=900, cwd=data,
                          env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{"name"')]


@pytest.mark.llamafactory
def test_v1_predictions_equal_v1_engine_batching_and_rm_loss(v1_dir, v1_results):
    _, rows = v1_dir
    results = [r for r in v1_results if "template" in r]
    assert [f"{r['name']}:{r['template']}:{r['cutoff']}" for r in results] == CONFIGS
    for result in results:
        assert result["n_mismatches"] == 0, result["mismatches"]
        assert result["n_api_mismatches"] == 0, result["api_mismatches"]
        assert result["rejected_answer_cut"] == result["api_rejected_answer_cut"]
    short, long, demo = results
    assert short["rows"] == long["rows"] == rows and demo["rows"] == 5 and demo["truncated"] > 0
    # at 256 every outcome occurs: no supervised token left, no rejected token left, the rejected answer cut
    assert short["dropped"]["v1_no_supervised_tokens"] > 0 and short["dropped"]["v1_no_rejected_tokens"] > 0
    assert short["rm_errors"] == sum(short["dropped"].values())  # each such pair stops an RM run (micro batch 1)
    assert short["rejected_answer_cut"] > 0
    assert sum(long["dropped"].values()) < sum(short["dropped"].values()) and long["truncated"] > 0


@pytest.mark.llamafactory
def test_rows_prefkit_says_break_v1_do(v1_dir, v1_results):
    data, _ = v1_dir
    raised = {r["name"]: r["raised"] for r in v1_results if "raised" in r}
    for case, (_, path) in BREAKING.items():
        report = validate(str(data / f"{case}.jsonl"), layout="lf-v1")
        broken = [f.path for f in report.findings.items if f.code == "breaks_loader"]
        assert broken[:1] == [path], case  # (a broken prompt is reported on both sides)
        assert raised[case], case
