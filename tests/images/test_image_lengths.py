"""`prefkit validate --model` on image pairs: lengths with the image tokens of LLaMA-Factory's Qwen2-VL plugin,
image_tokens_cut at the records where cutoff_len falls inside an image, the pixel limits, the notes for templates
whose images prefkit does not count, and the image section of the terminal, JSON and HTML reports.
(Row-for-row parity with LLaMA-Factory's get_dataset: test_image_tokens_parity.py.)"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from conftest import ROOT, write_jsonl
from prefkit.errors import UsageError
from prefkit.images.tokens import IMAGE_PAD, VISION_END, VISION_START
from prefkit.pipeline.validate import validate

sys.path.insert(0, str(ROOT / "tests" / "helpers"))
from images import QWEN2_VL_PREPROCESSOR, make_image  # noqa: E402

pytest.importorskip("PIL")


def vl_model(target: Path, tokenizer_dir: str, preprocessor: dict | None = QWEN2_VL_PREPROCESSOR) -> str:
    """A Qwen2-VL processor folder: the Qwen2.5 tokenizer (it has the vision tokens) and, unless None, this
    preprocessor_config.json."""
    target.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(Path(tokenizer_dir) / name, target / name)
    if preprocessor is not None:
        (target / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    return str(target)


def pair(prompt: str, images: list[str], chosen: str = "A red square.", rejected: str = "A cat.") -> dict:
    return {"conversations": [{"from": "human", "value": prompt}], "chosen": {"from": "gpt", "value": chosen},
            "rejected": {"from": "gpt", "value": rejected}, "images": images}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    make_image(tmp_path / "img" / "big.png", (1000, 700))  # 759 image tokens with LLaMA-Factory's defaults
    make_image(tmp_path / "img" / "small.png", (28, 28))  # 4
    make_image(tmp_path / "img" / "huge.jpg", (4000, 3000))  # 768
    long = "word " * 300
    rows = [pair("<image>What is this?", ["img/big.png"]),                                        # 0
            pair("<image>Compare with <image>.", ["img/big.png", "img/small.png"]),              # 1
            pair(long + "<image>Now this one?", ["img/small.png"]),                              # 2: image after text
            pair("Just text.", []),                                                              # 3
            pair("<image>What is this?", ["img/gone.png"]),                                      # 4: image_missing
            pair("Draw it.", ["img/small.png"], chosen="<image>Here.", rejected="<image>No."),  # 5: images in answers
            pair("<image>And this?", ["img/huge.jpg"], chosen=long)]                             # 6
    write_jsonl(tmp_path / "pairs.jsonl", rows)
    return tmp_path


@pytest.fixture
def model(tmp_path_factory, qwen_tokenizer) -> str:
    return vl_model(tmp_path_factory.mktemp("vl") / "qwen2-vl", qwen_tokenizer)


def lengths_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def expanded_copy(data: Path, counts: dict[str, int]) -> str:
    """The same rows without an images column, each <image> written out as the plugin writes it (markers and image
    tokens as text): the tokenizer then counts every image token itself."""
    rows = [json.loads(line) for line in (data / "pairs.jsonl").read_text().splitlines()]
    out = []
    for row in rows:
        images = list(row.pop("images"))
        if any(image not in counts for image in images):
            continue
        text = json.dumps(row)
        for image in images * 2:  # the answers' images are the prompt's followers: every placeholder, in order
            text = text.replace("<image>", f"{VISION_START}{IMAGE_PAD * counts[image]}{VISION_END}", 1)
        out.append(json.loads(text))
    return write_jsonl(data / "expanded.jsonl", out)


def test_lengths_include_image_tokens_as_the_tokenizer_counts_them_written_out(data, model):
    report = validate(str(data / "pairs.jsonl"), model=model, template="qwen2_vl", cutoff_len=100_000,
                      lengths_path=str(data / "lengths.jsonl"))
    ours = lengths_of(data / "lengths.jsonl")
    assert [line.get("image_tokens") for line in ours] == [[759], [759, 4], [4], None, None, [4], [768]]
    assert ours[4] == {"index": 4, "not_measured": "image_missing"}
    # row 5: chosen and rejected each hold the one image (image_in_answer, an error LLaMA-Factory still trains)
    plain = validate(expanded_copy(data, {"img/big.png": 759, "img/small.png": 4, "img/huge.jpg": 768}),
                     model=model, template="qwen2_vl", cutoff_len=100_000, lengths_path=str(data / "plain.jsonl"))
    expected = lengths_of(data / "plain.jsonl")
    measured = [{k: v for k, v in line.items() if k not in ("index", "image_tokens")} for line in ours if "prompt" in line]
    assert measured == [{k: v for k, v in line.items() if k != "index"} for line in expected]
    images = report.tokens["images"]
    assert (images["rows"], images["images"], images["image_tokens"], images["rows_not_measured"]) == (5, 6, 2298, 1)
    assert [(e["path"], e["tokens"], e["index"]) for e in images["largest"]] == [
        ("img/huge.jpg", 768, 6), ("img/big.png", 759, 0), ("img/small.png", 4, 1)]
    assert plain.tokens.get("images") is None  # no images column: no image section
    assert not [f for f in report.findings.items if f.code == "image_tokens_cut"]


def test_cutoff_inside_an_image_is_an_error_at_its_record(data, model):
    report = validate(str(data / "pairs.jsonl"), model=model, template="qwen2_vl", cutoff_len=300,
                      lengths_path=str(data / "lengths.jsonl"))
    lines = {line["index"]: line for line in lengths_of(data / "lengths.jsonl")}
    cut = {f.index: f for f in report.findings.items if f.code == "image_tokens_cut"}
    # 0, 1, 6: the prompt is cut inside its first image; 2: the prompt keeps 300 of its ~320 tokens, but the image
    # sits after the text; 3: no image; 5: the answers' image is whole (the answers are short)
    assert sorted(cut) == [0, 1, 2, 6]
    assert all(f.level == "error" and f.path == "images[0]" for f in cut.values())
    assert "cutoff_len 300 keeps" in cut[0].message and "img/big.png" in cut[0].message
    assert [lines[i].get("image_tokens_cut") for i in (0, 1, 2, 3, 5, 6)] == [0, 0, 0, None, None, 0]
    assert report.tokens["images"]["rows_cut_in_image"] == 4
    # a cutoff that keeps the long prompt's text and its image, but not the whole row
    whole = validate(str(data / "pairs.jsonl"), model=model, template="qwen2_vl", cutoff_len=600)
    assert sorted(f.index for f in whole.findings.items if f.code == "image_tokens_cut") == [0, 1, 6]
    assert whole.tokens["truncated"] == 3


def test_an_image_cut_in_an_answer(tmp_path, model):
    make_image(tmp_path / "img" / "big.png", (1000, 700))
    write_jsonl(tmp_path / "pairs.jsonl", [pair("Draw it.", ["img/big.png"], chosen="<image>Here it is, drawn.",
                                                rejected="<image>No.")])
    report = validate(str(tmp_path / "pairs.jsonl"), model=model, template="qwen2_vl", cutoff_len=200)
    cut = [f for f in report.findings.items if f.code == "image_tokens_cut"]
    assert len(cut) == 1 and "of the chosen answer" in cut[0].message
    # what is kept of each answer is its start marker and 189 image tokens: the same ids in both
    assert {f.code for f in report.findings.items} >= {"image_in_answer", "image_tokens_cut",
                                                       "identical_after_truncation"}


def test_pixel_limits_change_the_counts(data, model):
    small = validate(str(data / "pairs.jsonl"), model=model, template="qwen2_vl", cutoff_len=100_000,
                     lengths_path=str(data / "lengths.jsonl"), image_max_pixels=256 * 256, image_min_pixels=64 * 64)
    counts = [line.get("image_tokens") for line in lengths_of(data / "lengths.jsonl")]
    # LLaMA-Factory shrinks to 65,536 px: 1000x700 -> 305x214, 4000x3000 -> 295x221, both rounded to 308x224 (11x8
    # merged patches); it grows 28x28 to 64x64 (4,096 px), rounded to 56x56
    assert counts == [[88], [88, 4], [4], None, None, [4], [88]]
    assert (small.tokens["image_max_pixels"], small.tokens["image_min_pixels"]) == (65536, 4096)


def test_the_processor_config_comes_from_the_model_folder(data, tmp_path, qwen_tokenizer):
    floor = vl_model(tmp_path / "floor", qwen_tokenizer, {**QWEN2_VL_PREPROCESSOR, "min_pixels": 256 * 28 * 28})
    report = validate(str(data / "pairs.jsonl"), model=floor, template="qwen2_vl", cutoff_len=100_000,
                      lengths_path=str(data / "floor.jsonl"))
    assert [line.get("image_tokens") for line in lengths_of(data / "floor.jsonl")][:3] == [[759], [759, 256], [256]]
    assert report.tokens["image_processor"] == "preprocessor_config.json"
    bare = vl_model(tmp_path / "bare", qwen_tokenizer, None)  # no preprocessor_config.json: the class defaults
    report = validate(str(data / "pairs.jsonl"), model=bare, template="qwen2_vl", cutoff_len=100_000)
    notes = [f for f in report.findings.items if f.code == "image_processor_defaults"]
    assert len(notes) == 1 and notes[0].level == "info" and "class defaults" in notes[0].message
    assert report.tokens["images"]["image_tokens"] == 2298  # the defaults give Qwen2-VL's counts here


def test_a_template_with_other_image_tokens_says_they_are_not_counted(data, model):
    report = validate(str(data / "pairs.jsonl"), model=model, template="llava", cutoff_len=100_000,
                      lengths_path=str(data / "lengths.jsonl"))
    notes = [f for f in report.findings.items if f.code == "image_tokens_not_counted"]
    assert len(notes) == 1 and notes[0].level == "warning" and notes[0].index is None
    assert "template 'llava' uses LLaMA-Factory's llava plugin" in notes[0].message
    assert "image_tokens" not in (data / "lengths.jsonl").read_text() and report.tokens.get("images") is None


def test_a_text_template_is_an_error_at_each_row_with_images(data, model):
    report = validate(str(data / "pairs.jsonl"), model=model, template="qwen", cutoff_len=100_000)
    found = [f for f in report.findings.items if f.code == "images_unsupported"]
    assert [f.index for f in found] == [0, 1, 2, 4, 5, 6]  # row 3 has no image: LLaMA-Factory takes it
    assert found[0].level == "error" and found[0].path == "images" and "template 'qwen'" in found[0].message
    assert not [f for f in report.findings.items if f.code == "image_tokens_not_counted"]


def test_a_processor_prefkit_does_not_know_is_not_counted(data, tmp_path, qwen_tokenizer):
    other = vl_model(tmp_path / "other", qwen_tokenizer, {**QWEN2_VL_PREPROCESSOR,
                                                          "image_processor_type": "SiglipImageProcessor"})
    report = validate(str(data / "pairs.jsonl"), model=other, template="qwen2_vl", cutoff_len=100_000)
    notes = [f for f in report.findings.items if f.code == "image_tokens_not_counted"]
    assert len(notes) == 1 and "SiglipImageProcessor" in notes[0].message


def test_pixel_options_need_a_model_and_the_lf_target(data, model):
    with pytest.raises(UsageError, match="--image-max-pixels needs --model"):
        validate(str(data / "pairs.jsonl"), image_max_pixels=1000)
    with pytest.raises(UsageError, match="--image-min-pixels: not an option of --target trl; validate --target lf"):
        validate(str(data / "pairs.jsonl"), target="trl", model=model, image_min_pixels=1000)


def test_cli_reports_image_tokens_in_terminal_json_and_html(cli, data, model):
    result = cli("validate", data / "pairs.jsonl", "--model", model, "--template", "qwen2_vl", "--cutoff-len", "300",
                 "--image-max-pixels", str(768 * 768), "--report-json", data / "r.json", "--html", data / "r.html")
    assert result.exit_code == 1  # image_missing, image_tokens_cut: errors
    out = " ".join(result.output.split())
    assert "images: 6 in 5 rows, 2,298 image tokens" in out and "cut by cutoff_len in 4" in out
    assert "largest images: img/huge.jpg 4000x3000 768 tokens (#6); img/big.png 1000x700 759 tokens (#0)" in out
    assert "image_tokens_cut" in out
    tokens = json.loads((data / "r.json").read_text())["tokens"]
    assert tokens["images"]["largest"][0] == {"index": 6, "path": "img/huge.jpg", "width": 4000, "height": 3000,
                                              "tokens": 768}
    page = (data / "r.html").read_text()
    assert "<h2 id='images'>Image tokens</h2>" in page and 'id="largest-images"' in page
    assert "<td>img/huge.jpg</td><td>4000x3000</td><td class=\"num\">768</td>" in page


def test_a_cut_right_after_the_last_image_token_is_no_error_one_before_is(tmp_path, model, qwen_tokenizer):
    from tokenizers import Tokenizer

    make_image(tmp_path / "img" / "big.png", (1000, 700))  # 759 image tokens
    write_jsonl(tmp_path / "pairs.jsonl", [pair("<image>What is this?", ["img/big.png"])])
    # qwen2_vl's default system turn and the user header come before the image's start marker
    header = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
    end = len(Tokenizer.from_file(f"{qwen_tokenizer}/tokenizer.json").encode(header, add_special_tokens=False).ids) \
        + 1 + 759
    validate(str(tmp_path / "pairs.jsonl"), model=model, template="qwen2_vl", cutoff_len=100_000,
             lengths_path=str(tmp_path / "whole.jsonl"))
    (whole,) = lengths_of(tmp_path / "whole.jsonl")
    answer = max(whole["chosen"], whole["rejected"])
    for cutoff, cut in ((end + answer, None), (end + answer - 1, 0)):
        report = validate(str(tmp_path / "pairs.jsonl"), model=model, template="qwen2_vl", cutoff_len=cutoff,
                          lengths_path=str(tmp_path / "cut.jsonl"))
        (line,) = lengths_of(tmp_path / "cut.jsonl")
        assert line["prompt_kept"] == cutoff - answer < line["prompt"]  # the end marker and the question are cut
        assert line.get("image_tokens_cut") == cut
        assert [f.index for f in report.findings.items if f.code == "image_tokens_cut"] == ([] if cut is None else [0])
