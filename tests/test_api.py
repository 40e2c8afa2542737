"""The Python API on rows in memory: a list of dicts or a datasets.Dataset in, a datasets.Dataset out."""

import json

import pytest

import prefkit
from prefkit.errors import UsageError

datasets = pytest.importorskip("datasets")

VOTES = [{"prompt": f"Question {i}?", "response_a": f"answer a{i}", "response_b": f"answer b{i}",
          "winner": ["model_a", "model_b", "tie"][i % 3]} for i in range(9)]


def test_convert_a_dataset_gives_back_a_dataset_the_rejects_and_the_report():
    result = prefkit.convert(datasets.Dataset.from_list(VOTES), fmt="pairwise", to="alpaca")
    assert isinstance(result.dataset, datasets.Dataset)
    assert result.dataset.num_rows == 6 and result.report.accepted == 6 and result.report.rejected == 3
    assert [r["reason"] for r in result.rejects] == ["tie"] * 3
    assert {r["source"] for r in result.rejects} == {"rows"} and result.report.sources[0].path == "rows"
    first, second = result.dataset[0], result.dataset[1]
    assert (first["instruction"], first["chosen"], first["rejected"]) == ("Question 0?", "answer a0", "answer b0")
    assert (second["chosen"], second["rejected"]) == ("answer b1", "answer a1")
    assert result.report.output is None and result.report.rejects_file is None


def test_in_memory_and_file_conversion_write_the_same_rows(tmp_path):
    source = tmp_path / "votes.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in VOTES))
    prefkit.convert(str(source), str(tmp_path / "out.json"), fmt="pairwise")
    from_file = json.loads((tmp_path / "out.json").read_text())
    assert prefkit.convert(VOTES, fmt="pairwise").dataset.to_list() == from_file


def test_validate_a_converted_dataset_in_memory():
    converted = prefkit.convert(VOTES, fmt="pairwise").dataset
    report = prefkit.validate(converted)
    assert report.records == 6 and not report.findings.by_level("error")
    bad = converted.to_list()
    bad[2]["rejected"] = bad[2]["chosen"]
    report = prefkit.validate(datasets.Dataset.from_list(bad))
    assert [(f.code, f.index) for f in report.findings.by_level("error")] == [("identical_answers", 2)]


def test_rows_that_cannot_be_written_or_an_empty_source_are_refused_in_one_line():
    with pytest.raises(UsageError, match="row 1: cannot be written as JSON"):
        prefkit.convert([{"prompt": "a"}, {"prompt": object()}], fmt="pairwise")
    with pytest.raises(UsageError, match="no rows"):
        prefkit.convert([], fmt="pairwise")
    with pytest.raises(UsageError, match="give an output path"):
        prefkit.convert(VOTES, fmt="pairwise", register="votes", dataset_dir=".")


def test_image_paths_of_a_file_converted_in_memory_still_name_the_files(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(b"not checked by convert")
    rows = [{"conversations": [{"from": "human", "value": "<image>What is it?"}], "images": ["img/a.png"],
             "chosen": {"from": "gpt", "value": "A cat."}, "rejected": {"from": "gpt", "value": "A dog."}}]
    source = tmp_path / "pairs.json"
    source.write_text(json.dumps(rows))
    from_file = prefkit.convert(str(source), fmt="sharegpt").dataset
    assert from_file[0]["images"] == [str(tmp_path / "img" / "a.png")]
    assert prefkit.convert(rows, fmt="sharegpt").dataset[0]["images"] == ["img/a.png"]  # in memory: as given
