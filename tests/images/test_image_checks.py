"""Per-record image checks (prefkit.images.checks) and the token arithmetic (prefkit.images.tokens): fast, no
LLaMA-Factory. Images are synthetic, made with Pillow here."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest.importorskip("PIL")

from helpers.images import QWEN2_VL_PREPROCESSOR, make_image, truncated_copy  # noqa: E402
from prefkit.images.checks import RowLayout, check_row_images, row_texts  # noqa: E402
from prefkit.images.files import ImageProber, ImageUnreadable, image_refs, probe_image, resolve_path  # noqa: E402
from prefkit.images.tokens import (  # noqa: E402
    ImageTokenError,
    QwenVLImageConfig,
    expand_placeholders,
    first_cut_image,
    image_spans,
    image_tokens,
    lf_preprocess_size,
    spans_from_markers,
)

SHAREGPT = RowLayout.from_entry({"formatting": "sharegpt", "ranking": True, "columns": {
    "messages": "conversations", "chosen": "chosen", "rejected": "rejected", "images": "images"}})
# RLAIF-V's registry entry: alpaca, the prompt in "question", one image in the singular column "image".
RLAIF_V = RowLayout.from_entry({"ranking": True, "columns": {"prompt": "question", "chosen": "chosen",
                                                             "rejected": "rejected", "images": "image"}})


def pair(*turns: str, images: object = None, chosen: str = "A cat.", rejected: str = "A dog.",
         system: str | None = None) -> dict:
    """A sharegpt ranking row: user/assistant turns alternate, the last one a user turn."""
    messages = [{"from": "system", "value": system}] if system is not None else []
    messages += [{"from": "human" if i % 2 == 0 else "gpt", "value": t} for i, t in enumerate(turns)]
    row = {"conversations": messages, "chosen": {"from": "gpt", "value": chosen},
           "rejected": {"from": "gpt", "value": rejected}}
    if images is not None:
        row["images"] = images
    return row


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A dataset dir with images/ (PNG, JPEG, a truncated JPEG, a text file named .png) and an outside image."""
    make_image(tmp_path / "images" / "a.png", (64, 48))
    make_image(tmp_path / "images" / "b.jpg", (300, 200))
    make_image(tmp_path / "images" / "big.jpg", (1200, 900))
    truncated_copy(tmp_path / "images" / "big.jpg", tmp_path / "images" / "cut.jpg")
    (tmp_path / "images" / "text.png").write_text("not an image")
    make_image(tmp_path / "outside" / "c.png", (28, 2000))
    return tmp_path


def codes(findings: list[tuple[str, str, str, str]]) -> list[tuple[str, str]]:
    return [(code, path) for code, _, path, _ in findings]


# --- no false findings ------------------------------------------------------------------------------------


def test_valid_rows_have_no_findings(data: Path) -> None:
    absolute = str(data / "outside" / "c.png")
    rows = [
        pair("<image>What is this?", images=["images/a.png"]),
        pair("<image><image>Compare them.", images=["images/a.png", "images/b.jpg"]),  # two in one turn
        pair("<image>Look.", "Nice.", "And this?<image><image>", images=["images/a.png", "images/b.jpg", absolute]),
        pair("Just text.", images=[]),
        pair("Just text."),  # no images column at all
        pair("<image>Describe.", images="images/b.jpg"),  # a single value: LLaMA-Factory wraps it in a list
    ]
    for index, row in enumerate(rows):
        result = check_row_images(row, SHAREGPT, str(data))
        assert result.findings == [], (index, result.findings)
    assert check_row_images(rows[2], SHAREGPT, str(data)).sizes == [(64, 48), (300, 200), (28, 2000)]


def test_media_dir_and_relative_paths(data: Path, tmp_path_factory, monkeypatch) -> None:
    # media_dir set apart from the dataset dir: references are relative to it
    row = pair("<image>What?", images=["a.png"])
    assert check_row_images(row, SHAREGPT, str(data / "images")).findings == []
    assert resolve_path("a.png", str(data / "images")) == os.path.join(str(data / "images"), "a.png")
    # not under media_dir: LLaMA-Factory falls back to the path as written, relative to the working directory
    elsewhere = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(data)
    assert resolve_path("images/a.png", str(elsewhere)) == "images/a.png"
    assert check_row_images(pair("<image>x", images=["images/a.png"]), SHAREGPT, str(elsewhere)).findings == []
    monkeypatch.chdir(elsewhere)
    assert codes(check_row_images(pair("<image>x", images=["images/a.png"]), SHAREGPT, str(elsewhere)).findings) == [
        ("image_missing", "images[0]")]


def test_alpaca_rlaif_v_layout(data: Path) -> None:
    row = {"question": "<image>What colour is it?", "chosen": "Blue.", "rejected": "Red.", "image": "images/a.png"}
    assert check_row_images(row, RLAIF_V, str(data)).findings == []
    no_placeholder = {**row, "question": "What colour is it?"}
    assert codes(check_row_images(no_placeholder, RLAIF_V, str(data)).findings) == [("image_count_mismatch", "image")]


# --- each finding at its record and field -------------------------------------------------------------------


def test_image_missing(data: Path) -> None:
    row = pair("<image><image>Two?", images=["images/a.png", "images/nope.png"])
    findings = check_row_images(row, SHAREGPT, str(data)).findings
    assert codes(findings) == [("image_missing", "images[1]")]
    assert "images/nope.png" in findings[0][3] and findings[0][1] == "error"


def test_image_unreadable(data: Path) -> None:
    row = pair("<image><image><image>", images=["images/cut.jpg", "images/text.png", "images/a.png"])
    result = check_row_images(row, SHAREGPT, str(data))
    assert codes(result.findings) == [("image_unreadable", "images[0]"), ("image_unreadable", "images[1]")]
    assert "truncated" in result.findings[0][3] and "images/cut.jpg" in result.findings[0][3]
    assert "images/text.png" in result.findings[1][3]
    assert result.sizes == [None, None, (64, 48)]
    not_a_path = pair("<image>", images=[{"url": "x"}])
    assert codes(check_row_images(not_a_path, SHAREGPT, str(data)).findings) == [("image_unreadable", "images[0]")]


@pytest.mark.parametrize(("row", "expected"), [
    (pair("<image>What?", images=["images/a.png", "images/b.jpg"]), "2 image(s) but 1 <image> placeholder"),
    (pair("What?", images=["images/a.png"]), "1 image(s) but 0 <image> placeholders"),
    (pair("<image>What?", images=[]), "0 image(s) but 1 <image> placeholder"),
    (pair("<image>What?"), "0 image(s) but 1 <image> placeholder"),
    # the system message goes to the template's system slot: its placeholder is not counted
    (pair("What?", images=["images/a.png"], system="<image>You see an image."), "in the system message"),
    # placeholders across turns are counted together: 2 here for 1 image
    (pair("<image>What?", "A cat.", "<image>And now?", images=["images/a.png"]), "conversations[2].value: 1"),
])
def test_image_count_mismatch(data: Path, row: dict, expected: str) -> None:
    findings = check_row_images(row, SHAREGPT, str(data)).findings
    assert codes(findings) == [("image_count_mismatch", "images")]
    assert expected in findings[0][3] and findings[0][1] == "error"


def test_image_in_answer(data: Path) -> None:
    # counts still match for prompt + chosen: LLaMA-Factory would train with image tokens in the labels
    row = pair("What?", images=["images/a.png"], chosen="<image>", rejected="<image> no")
    assert codes(check_row_images(row, SHAREGPT, str(data)).findings) == [
        ("image_in_answer", "chosen.value"), ("image_in_answer", "rejected.value")]
    # only in chosen: prompt + rejected has one placeholder too few
    row = pair("<image>What?", images=["images/a.png"], chosen="See <image>")
    found = check_row_images(row, SHAREGPT, str(data)).findings
    assert codes(found) == [("image_in_answer", "chosen.value"), ("image_count_mismatch", "images")]
    assert "prompt + chosen has 2" in found[1][3] and "rejected" not in found[1][3]


def test_rows_of_a_file_each_at_their_index(data: Path) -> None:
    rows = [pair("<image>ok", images=["images/a.png"]), pair("no image", images=["images/a.png"]),
            pair("<image>ok", images=["images/b.jpg"]), pair("<image>", images=["images/gone.jpg"])]
    (data / "pairs.json").write_text(json.dumps(rows))
    prober = ImageProber()
    found = {i: codes(check_row_images(row, SHAREGPT, str(data), prober).findings) for i, row in enumerate(rows)}
    assert found == {0: [], 1: [("image_count_mismatch", "images")], 2: [], 3: [("image_missing", "images[0]")]}


def test_not_pairwise_rows_are_not_counted(data: Path) -> None:
    row = pair("<image>What?", images=[])
    row["chosen"] = "a string"  # the sharegpt converter's pairwise branch needs dicts: LLaMA-Factory drops the row
    assert check_row_images(row, SHAREGPT, str(data)).findings == []
    assert not row_texts(row, SHAREGPT).pairwise


def test_layout_from_entry_follows_dataset_attr() -> None:
    assert RowLayout.from_entry({"formatting": "sharegpt", "columns": {"messages": "conversations"}}) is None
    assert RowLayout.from_entry({"file_name": "x.json"}) is None  # no columns: no images column
    mllm = RowLayout.from_entry({"formatting": "sharegpt", "columns": {"messages": "messages", "images": "images"},
                                 "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                                          "assistant_tag": "assistant"}})
    assert (mllm.messages, mllm.role_tag, mllm.content_tag, mllm.system_tag) == ("messages", "role", "content", None)
    assert (RLAIF_V.formatting, RLAIF_V.images, RLAIF_V.prompt, RLAIF_V.query) == ("alpaca", "image", "question", None)


# --- files ------------------------------------------------------------------------------------------------


def test_image_refs_follow_find_medias(data: Path) -> None:
    assert image_refs(None, "images", str(data)) == [] and image_refs([], "images", str(data)) == []
    refs = image_refs("images/a.png", "images", str(data))
    assert [(r.path, r.source) for r in refs] == [("images", os.path.join(str(data), "images/a.png"))]
    embedded = (data / "images" / "a.png").read_bytes()
    refs = image_refs([{"bytes": embedded, "path": None}, {"bytes": None, "path": "images/a.png"}], "images", str(data))
    assert [r.source for r in refs] == [embedded, "images/a.png"]  # dicts are not joined to media_dir


def test_probe_reads_size_and_detects_truncation(data: Path) -> None:
    info = probe_image(str(data / "images" / "big.jpg"))
    assert (info.width, info.height, info.format) == (1200, 900, "JPEG")
    assert probe_image(str(data / "images" / "cut.jpg"), decode=False).width == 1200  # the header is intact
    with pytest.raises(ImageUnreadable, match="truncated"):
        probe_image(str(data / "images" / "cut.jpg"))
    prober = ImageProber()
    for _ in range(2):  # cached failures raise again
        with pytest.raises(ImageUnreadable):
            prober.probe(str(data / "images" / "text.png"))


# --- token arithmetic ---------------------------------------------------------------------------------------

QWEN2_VL = QwenVLImageConfig.from_dict(QWEN2_VL_PREPROCESSOR)


@pytest.mark.parametrize(("size", "tokens"), [
    ((28, 28), 4), ((300, 200), 77), ((1000, 700), 759), ((4000, 3000), 768),  # ENVIRONMENT.md's figures
    ((28, 2000), 71), ((10, 3000), 107), ((5, 5), 4), ((1, 1), 4),
])
def test_image_tokens_defaults(size: tuple[int, int], tokens: int) -> None:
    assert image_tokens(*size, QWEN2_VL) == tokens


def test_preprocess_size_steps() -> None:
    assert lf_preprocess_size(4000, 3000) == (886, 665)  # int(4000 * sqrt(589824 / 12e6)) = 886
    assert lf_preprocess_size(10, 10) == (32, 32)  # grown to image_min_pixels 32*32
    assert lf_preprocess_size(10, 3000) == (28, 3000)  # thin side raised to 28
    assert lf_preprocess_size(28, 6000) == (28, 5040)  # aspect ratio over 200 squeezed to 180
    with pytest.raises(ImageTokenError, match="cannot resize"):
        lf_preprocess_size(1, 1_000_000)  # int(0.768) = 0: Pillow refuses


def test_config_reading(tmp_path: Path) -> None:
    assert QWEN2_VL == QwenVLImageConfig(14, 2, 2, 3136, 12845056)
    qwen3 = QwenVLImageConfig.from_dict({"size": {"shortest_edge": 65536, "longest_edge": 16777216}, "patch_size": 16})
    assert (qwen3.factor, qwen3.min_pixels, qwen3.max_pixels) == (32, 65536, 16777216)
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(QWEN2_VL_PREPROCESSOR))
    assert QwenVLImageConfig.from_dir(str(tmp_path)) == QWEN2_VL
    with pytest.raises(FileNotFoundError):
        QwenVLImageConfig.from_dir(str(tmp_path / "none"))


def test_spans_and_cut() -> None:
    # compact ids: each placeholder rendered as <|vision_start|>(7) <|vision_end|>(8); image token 9
    compact = [1, 2, 7, 8, 3, 7, 8, 4]
    counts = [3, 2]
    spans = spans_from_markers([2, 5], counts)
    full = [1, 2, 7, 9, 9, 9, 8, 3, 7, 9, 9, 8, 4]
    assert len(full) == len(compact) + sum(counts)
    assert spans == image_spans(full, 9) == [(3, 6), (9, 11)]
    assert [first_cut_image(spans, kept) for kept in (13, 11, 10, 6, 5, 3)] == [None, None, 1, 1, 0, 0]
    assert expand_placeholders(["<image>a<image>", "b"], [2, 1], image_token="P") == [
        "<|vision_start|>PP<|vision_end|>a<|vision_start|>P<|vision_end|>", "b"]
    with pytest.raises(ValueError):
        expand_placeholders(["<image>"], [1, 2])


def test_token_counts_of_a_checked_row(data: Path) -> None:
    from prefkit.images.tokens import token_counts

    make_image(data / "images" / "thread.png", (1, 1_000_000))
    row = pair("<image><image><image>", images=["images/a.png", "images/gone.png", "images/thread.png"])
    counts, findings = token_counts(check_row_images(row, SHAREGPT, str(data)), QWEN2_VL)
    assert counts == [image_tokens(64, 48, QWEN2_VL), None, None]
    assert codes(findings) == [("image_unreadable", "images[2]")] and "1x1000000" in findings[0][3]


def test_llava_image_tokens_come_from_the_folder_configs(tmp_path: Path) -> None:
    from prefkit.images.tokens import LlavaPlugin, image_plugin, llava_seqlen

    processor = {"patch_size": 14, "num_additional_image_tokens": 1, "vision_feature_select_strategy": "default",
                 "image_processor": {"crop_size": {"height": 336, "width": 336}, "do_center_crop": True}}
    (tmp_path / "processor_config.json").write_text(json.dumps(processor))
    assert llava_seqlen(str(tmp_path)) == 576  # llava-1.5: 24 x 24 patches (the CLS token dropped)
    plugin, notes = image_plugin("llava", str(tmp_path))
    assert isinstance(plugin, LlavaPlugin) and plugin.tokens(4000, 3000) == 576 and notes == []
    processor["vision_feature_select_strategy"] = "full"
    (tmp_path / "processor_config.json").write_text(json.dumps(processor))
    assert llava_seqlen(str(tmp_path)) == 577
    processor["image_processor"]["do_center_crop"] = False  # the size would follow each image: not counted
    (tmp_path / "processor_config.json").write_text(json.dumps(processor))
    plugin, notes = image_plugin("llava", str(tmp_path))
    assert plugin is None and [code for code, _, _ in notes] == ["image_tokens_not_counted"]


def test_a_llava_processor_config_that_is_not_an_object_is_not_counted(tmp_path: Path) -> None:
    from prefkit.images.tokens import llava_seqlen

    (tmp_path / "processor_config.json").write_text("[1, 2]")
    assert llava_seqlen(str(tmp_path)) is None
