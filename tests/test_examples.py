"""The examples a newcomer runs: the custom reader over FastChat's relational tables, and doctests."""

import doctest
import importlib
import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, load_output


def test_custom_fastchat_reader_joins_the_tables(tmp_path):
    tables = ROOT / "examples" / "fastchat_vicuna_eval"
    module = runpy.run_path(str(ROOT / "examples" / "custom_reader.py"))
    report = module["main"](str(tables), str(tmp_path / "fastchat.json"))
    reviews = [json.loads(line) for path in sorted((tables / "review").glob("*.jsonl")) for line in open(path)]
    answers = {a["answer_id"]: a for path in (tables / "answer").glob("*.jsonl") for a in map(json.loads, open(path))}
    decided = [r for r in reviews if r["score"][0] != r["score"][1]]
    assert report.input_records == len(reviews) and report.pairs_written == len(decided)
    assert report.rejected_by_reason == {"tie": len(reviews) - len(decided)}
    rows = load_output(tmp_path / "fastchat.json")
    for row, review in zip(rows, decided):
        s1, s2 = review["score"]
        winner = review["answer1_id"] if s1 > s2 else review["answer2_id"]
        assert row["chosen"]["value"] == answers[winner]["text"]
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert info["fastchat_gpt4"]["file_name"] == "fastchat.json"


@pytest.mark.parametrize("module", ["prefkit.records", "prefkit.readers.pairing", "prefkit.registry.info",
                                    "prefkit.pipeline.convert", "prefkit.label.agreement", "prefkit.label.pull"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_tracked_data_is_what_the_example_script_writes(tmp_path):
    """data/ holds exactly what examples/make_data.sh writes, byte for byte: a change to a reader, a writer or the
    registry that changes the examples fails here until data/ is written again (bash examples/make_data.sh data)."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PREFKIT": str(bindir / "prefkit"), "PYTHON": sys.executable}
    done = subprocess.run(["bash", "examples/make_data.sh", "data"], cwd=tmp_path, env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    tracked = subprocess.run(["git", "ls-files", "data"], cwd=ROOT, capture_output=True, text=True, check=True)
    written = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "data").rglob("*")
                     if p.is_file() and p.name != ".dataset_info.json.lock")  # the registry's lock stays, untracked
    assert written == sorted(tracked.stdout.split())
    for name in written:
        assert (tmp_path / name).read_bytes() == (ROOT / name).read_bytes(), f"{name} differs from what the script writes"
