"""`prefkit validate` on image pairs: each image finding at its record, none on valid records, paths read from the
dataset dir (or --media-dir) as LLaMA-Factory reads them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import ROOT, write_jsonl
from prefkit.pipeline.validate import validate

sys.path.insert(0, str(ROOT / "tests" / "helpers"))
from images import make_image, truncated_copy  # noqa: E402

pytest.importorskip("PIL")


def pair(prompt: str, images: list[str], chosen: str = "A red square.", rejected: str = "A cat.") -> dict:
    return {"conversations": [{"from": "human", "value": prompt}], "chosen": {"from": "gpt", "value": chosen},
            "rejected": {"from": "gpt", "value": rejected}, "images": images}


@pytest.fixture
def image_rows(tmp_path: Path) -> Path:
    make_image(tmp_path / "img" / "a.png", (64, 48))
    make_image(tmp_path / "img" / "b.jpg", (300, 200))
    truncated_copy(tmp_path / "img" / "b.jpg", tmp_path / "img" / "cut.jpg")
    (tmp_path / "img" / "text.png").write_text("not an image")
    rows = [pair("<image>What is this?", ["img/a.png"]),                                   # 0 valid
            pair("<image><image>Compare them.", ["img/a.png", "img/b.jpg"]),               # 1 valid: two images
            pair("<image>What is this?", ["img/gone.png"]),                                # 2 image_missing
            pair("<image>What is this?", ["img/cut.jpg"]),                                 # 3 image_unreadable
            pair("<image>What is this?", ["img/text.png"]),                                # 4 image_unreadable
            pair("What is this?", ["img/a.png"]),                                          # 5 image_count_mismatch
            pair("<image>Describe.", ["img/a.png"], chosen="<image> A square.")]           # 6 image_in_answer
    write_jsonl(tmp_path / "pairs.jsonl", rows)
    return tmp_path


def test_each_image_finding_at_its_record(image_rows):
    report = validate(str(image_rows / "pairs.jsonl"))
    assert report.entry["columns"]["images"] == "images"  # detected from the rows
    found = sorted((f.index, f.code) for f in report.findings.items if f.code.startswith("image_"))
    assert found == [(2, "image_missing"), (3, "image_unreadable"), (4, "image_unreadable"),
                     (5, "image_count_mismatch"),
                     (6, "image_count_mismatch"), (6, "image_in_answer")]  # prompt + chosen holds 2 for 1 image
    by_index = {f.index: f for f in report.findings.items if f.code in ("image_missing", "image_unreadable")}
    assert "gone.png" in by_index[2].message and by_index[2].path.startswith("images")


def test_a_registered_dataset_reads_images_from_its_dir_or_media_dir(image_rows, tmp_path):
    data = image_rows
    (data / "dataset_info.json").write_text(json.dumps({"pics": {
        "file_name": "pairs.jsonl", "formatting": "sharegpt", "ranking": True,
        "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected", "images": "images"}}}))
    report = validate("pics", str(data))
    assert sorted(f.index for f in report.findings.items if f.code == "image_missing") == [2]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    report = validate("pics", str(data), media_dir=str(elsewhere))  # every path is missing there
    assert sorted(f.index for f in report.findings.items if f.code == "image_missing") == [0, 1, 1, 2, 3, 4, 5, 6]


def test_duplicates_and_near_duplicates_are_judged_with_their_images(tmp_path: Path) -> None:
    make_image(tmp_path / "img" / "a.png", (64, 48))
    make_image(tmp_path / "img" / "b.png", (48, 64), color=(0, 0, 255))
    question = "<image>Describe what you see in this picture in a few plain words, please, for my notes."
    rows = [pair(question, ["img/a.png"]), pair(question, ["img/b.png"]),  # other image: another pair
            pair(question, ["img/a.png"], chosen="A red square!")]          # same image, near-same words
    write_jsonl(tmp_path / "pairs.jsonl", rows)
    report = validate(str(tmp_path / "pairs.jsonl"), near_dedup=0.8)
    assert [f.index for f in report.findings.items if f.code == "near_duplicate"] == [2]
    rows[2] = rows[0]  # an exact copy, image and all; row 1 differs only by its image
    write_jsonl(tmp_path / "pairs.jsonl", rows)
    report = validate(str(tmp_path / "pairs.jsonl"))
    assert sorted({(f.code, f.index) for f in report.findings.items if f.code.startswith("duplicate")}) == \
        [("duplicate_pair", 2), ("duplicate_prompt", 2)]
