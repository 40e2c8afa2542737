"""LLaMA-Factory's own loader reads every dataset prefkit writes, with zero dropped rows.

Each writer's output is registered with `convert --register`, then loaded by `get_dataset` of the real
llamafactory (0.9.5 in .venv, 0.9.3 in .venv-lf093) in a subprocess, with a real tokenizer. The inputs
mix system prompts, multi-turn history, tool calls and both file kinds.
"""

import json
import subprocess

import pyarrow.parquet as pq
import pytest

from conftest import PANDALM_VERDICTS, ROOT, fixture
from prefkit import convert

DATASETS = [  # (name, inputs, --to, suffix, stage)
    ("pf_sharegpt", ["dpo_en_demo.sample.json", "openai_tools.sample.jsonl", "hh_rlhf.edge.jsonl"], "sharegpt", ".json", "rm"),
    ("pf_sharegpt_lines", ["pandalm.sample.json", "ratings.sample.jsonl", "oasst_en_tree.sample.jsonl"], "sharegpt", ".jsonl",
     "rm"),
    ("pf_alpaca", ["dpo_en_demo.sample.json", "medicalgpt_dpo_zh.sample.jsonl", "trl.sample.jsonl"], "alpaca", ".json", "rm"),
    ("pf_alpaca_lines", ["oaast_rm_zh.sample.json", "pairwise.edge.csv"], "alpaca", ".jsonl", "rm"),
    ("pf_kto", ["kto_en_demo.sample.json", "openai_logs.sample.jsonl"], "kto", ".json", "kto"),
    ("pf_kto_from_pairs", ["dpo_en_demo.sample.json", "openai_tools.sample.jsonl"], "kto", ".jsonl", "kto"),
    ("pf_sharegpt_parquet", ["dpo_en_demo.sample.json", "openai_tools.sample.jsonl"], "sharegpt", ".parquet", "rm"),
    ("pf_alpaca_parquet", ["medicalgpt_dpo_zh.sample.jsonl", "oaast_rm_zh.sample.json"], "alpaca", ".parquet", "rm"),
    ("pf_kto_parquet", ["kto_en_demo.sample.json", "pairwise.edge.csv"], "kto", ".parquet", "kto"),
]


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    written = {}
    for name, inputs, to, suffix, _ in DATASETS:
        for i, src in enumerate(inputs):  # one convert per input (formats differ), concatenated by register
            verdicts = PANDALM_VERDICTS if src.startswith("pandalm") else None
            report = convert([fixture(src)], str(data / f"{name}_{i}{suffix}"), to=to, verdicts=verdicts)
            assert report.pairs_written > 0
        parts = [data / f"{name}_{i}{suffix}" for i in range(len(inputs))]
        rows = []
        for part in parts:
            if suffix == ".parquet":
                rows += pq.read_table(part).to_pylist()
                continue
            text = part.read_text()
            rows += json.loads(text) if suffix == ".json" else [json.loads(x) for x in text.splitlines()]
        merged = data / f"{name}{suffix}"
        convert([str(p) for p in parts], str(merged), fmt="sharegpt" if to != "alpaca" else "alpaca", to=to,
                register=name, dataset_dir=str(data))
        written[name] = len(rows)
    return data, written


@pytest.mark.llamafactory
def test_llamafactory_keeps_every_row(dataset_dir, lf_python):
    version, python = lf_python
    data, written = dataset_dir
    specs = [f"{name}:{stage}" for name, *_, stage in DATASETS]
    proc = subprocess.run([str(python), str(ROOT / "tests" / "tools" / "lf_load.py"), str(data), *specs],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [r["name"] for r in results] == [d[0] for d in DATASETS]
    for result in results:
        assert result["version"] == version
        assert result["rows_in"] == written[result["name"]] > 0
        assert result["rows_out"] == result["rows_in"], result
