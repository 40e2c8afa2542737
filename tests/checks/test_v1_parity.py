"""prefkit's predictions for LLaMA-Factory v1 pair data equal what v1 itself does, row by row: v1's DataEngine
(pair converter, and rows already in v1's form), its Renderer, its BatchGenerator's cut at cutoff_len, the
supervised tokens its trainer counts, and its RM trainer's compute_loss (a loss, or "No valid RM pairs found"),
for v1's three templates, at cutoffs that cut many pairs and a few; and the rows prefkit says v1 raises on do make v1 raise."""

import json
import subprocess
import sys

import pytest

from conftest import ROOT, fixture, write_jsonl
from prefkit import convert, validate

CONFIGS = ["pairs:qwen3_nothink:256", "pairs:chatml:1024", "demo:qwen3:128"]
TOOLS = json.dumps([{"name": "get_weather", "description": "Weather of a city",
                     "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}])


def _pair(prompt: list[dict], chosen: str, rejected: str, **extra) -> dict:
    return {"chosen": prompt + [{"role": "assistant", "content": chosen}],
            "rejected": prompt + [{"role": "assistant", "content": rejected}], **extra}


@pytest.fixture(scope="module")
def v1_dir(tmp_path_factory):
    """prefkit's demo pairs (English, several turns; Chinese) written by `--to lf-v1`, hand-made rows (a system
    prompt with tools, which qwen3 templates render and chatml does not; several turns with a system prompt; a
    long shared answer prefix), and v1's own converted demo rows, registered in a v1 YAML by relative paths."""
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
    (data / "dataset_info.yaml").write_text("pairs:\n  path: pairs.jsonl\n  source: local\n  converter: pair\n"
                                            "demo:\n  path: demo.jsonl\n  source: local\n")
    return data, len(rows)


def test_v1_predictions_equal_v1_engine_batching_and_rm_loss(v1_dir, qwen_tokenizer, tiny_model, offline_env):
    data, rows = v1_dir
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "tools" / "v1_parity.py"), "dataset_info.yaml",
                           qwen_tokenizer, tiny_model, *CONFIGS], capture_output=True, text=True, timeout=900, cwd=data)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{"name"')]
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


BREAKING = {  # rows v1 raises on (converter pair): what prefkit reports, and the path it names
    "typed parts": (_pair([{"role": "user", "content": [{"type": "text", "value": "Hi"}]}], "a", "b"),
                    "chosen[0].content"),
    "null content": (_pair([{"role": "user", "content": None}], "a", "b"), "chosen[0].content"),
    "tool turn": (_pair([{"role": "user", "content": "Hi"}, {"role": "tool", "content": '{"name": "f"}'},
                         {"role": "user", "content": "So?"}], "a", "b"), ""),
    "tools not a string": (_pair([{"role": "user", "content": "Hi"}], "a", "b", tools=[{"name": "f"}]), "tools"),
}


V1_RAISES = """
import os, sys
from llamafactory.v1.core.data_engine import DataEngine
from llamafactory.v1.core.utils.rendering import Renderer
from transformers import AutoTokenizer
renderer = Renderer("qwen3_nothink", AutoTokenizer.from_pretrained(sys.argv[1]))
for case in sys.argv[2:]:
    os.chdir(case)
    try:
        renderer.process_samples([DataEngine("dataset_info.yaml")[0]])
        print("KEPT", case)
    except Exception as err:
        print("RAISED", case, type(err).__name__)
"""


def test_rows_prefkit_says_break_v1_do(tmp_path, qwen_tokenizer, offline_env):
    folders = []
    for i, (case, (row, path)) in enumerate(BREAKING.items()):
        folder = tmp_path / f"case{i}"
        folder.mkdir()
        report = validate(write_jsonl(folder / "one.jsonl", [row]), layout="lf-v1")
        broken = [f.path for f in report.findings.items if f.code == "breaks_loader"]
        assert broken[:1] == [path], case  # (a broken prompt is reported on both sides)
        (folder / "dataset_info.yaml").write_text("one:\n  path: one.jsonl\n  source: local\n  converter: pair\n")
        folders.append(str(folder))
    proc = subprocess.run([sys.executable, "-c", V1_RAISES, qwen_tokenizer, *folders], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    raised = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("RAISED")]
    assert raised == folders, proc.stdout
