"""The examples a newcomer runs: the custom reader over FastChat's relational tables, and doctests."""

import doctest
import importlib
import json
import runpy

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
