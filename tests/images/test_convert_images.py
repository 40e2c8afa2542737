"""convert carries images through: the sharegpt and alpaca readers read an images column, every writer that can hold
images writes it (paths rebased so the trainer finds the same file), and what it writes validates clean."""

from __future__ import annotations

import json
import sys

import pytest

from conftest import ROOT, load_output, write_jsonl
from prefkit.errors import DataError
from prefkit.pipeline.convert import convert
from prefkit.pipeline.validate import validate

sys.path.insert(0, str(ROOT / "tests" / "helpers"))
from images import make_image  # noqa: E402

pytest.importorskip("PIL")


@pytest.fixture
def raw(tmp_path):
    """raw/pairs.jsonl (sharegpt, one image each) and raw/alpaca.jsonl (an `image` string), images in raw/img/."""
    folder = tmp_path / "raw"
    for name, size in (("a.png", (64, 48)), ("b.png", (40, 90))):
        make_image(folder / "img" / name, size)
    write_jsonl(folder / "pairs.jsonl", [
        {"conversations": [{"from": "human", "value": f"<image>What is shown in picture {i}?"}],
         "chosen": {"from": "gpt", "value": f"A blue rectangle, number {i}."},
         "rejected": {"from": "gpt", "value": "A cat."}, "images": [f"img/{'ab'[i % 2]}.png"]} for i in range(4)])
    write_jsonl(folder / "alpaca.jsonl", [{"instruction": "<image>Describe it.", "chosen": "Blue.", "rejected": "Red.",
                                            "image": "img/b.png"}])
    return folder


@pytest.mark.parametrize("to", ["sharegpt", "alpaca", "kto", "trl", "unlabeled"])
def test_every_writer_carries_the_images_and_the_output_validates(tmp_path, raw, to):
    out = tmp_path / "out" / "pairs.jsonl"
    out.parent.mkdir()
    report = convert([str(raw / "pairs.jsonl")], str(out), to=to)
    rows = load_output(out)
    assert report.pairs_written == len(rows) > 0
    assert {p for row in rows for p in row["images"]} == {"../raw/img/a.png", "../raw/img/b.png"}
    if to != "unlabeled":
        checked = validate(str(out))
        assert [f.code for f in checked.findings.by_level("error")] == []
        if checked.target == "lf":
            assert checked.entry["columns"]["images"] == "images"


def test_registered_paths_are_relative_to_the_dataset_dir(tmp_path, raw):
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    convert([str(raw / "pairs.jsonl"), str(raw / "alpaca.jsonl")], str(data / "sub" / "pics.json"), fmt="auto",
            register="pics", dataset_dir=str(data))
    entry = json.loads((data / "dataset_info.json").read_text())["pics"]
    assert entry["columns"]["images"] == "images"
    rows = load_output(data / "sub" / "pics.json")
    assert rows[-1]["images"] == ["../raw/img/b.png"]  # from data/, where LLaMA-Factory looks (media_dir)
    assert validate("pics", str(data)).findings.by_level("error") == []


def test_v1_pairs_cannot_hold_images_and_say_so(tmp_path, raw):
    with pytest.raises(DataError, match=r"all 4 records were rejected \(lf_v1_cannot_hold_images 4\)"):
        convert([str(raw / "pairs.jsonl")], str(tmp_path / "v1.jsonl"), to="lf-v1")


def test_an_images_column_that_is_not_paths_is_rejected(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [
        {"conversations": [{"from": "human", "value": "<image>Hi"}], "chosen": {"from": "gpt", "value": "a"},
         "rejected": {"from": "gpt", "value": "b"}, "images": [3]}])
    with pytest.raises(DataError, match=r"record 0: images\[0\]: expected image paths \(a string or a list of strings\)"):
        convert([path], str(tmp_path / "out.jsonl"))
