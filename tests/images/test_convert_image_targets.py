"""Image pairs through each target's writer: KTO examples keep their images; TRL rows hold an images column and typed
user parts that TRL's own prepare_multimodal_messages fills, and read back into the same pairs; LLaMA-Factory v1
(0.9.5) cannot hold images, as its own code shows; LLaMA-Factory's own loader finds every image of a converted file."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import LF_PYTHONS, ROOT, load_output, write_jsonl
from prefkit.errors import DataError
from prefkit.pipeline.convert import convert
from prefkit.pipeline.validate import validate

sys.path.insert(0, str(ROOT / "tests" / "helpers"))
from images import make_image  # noqa: E402

PIL = pytest.importorskip("PIL.Image")
TRL1_PYTHON = ROOT / ".venv-trl" / "bin" / "python"


def resolved(path: Path) -> list[dict]:
    """The rows of ``path`` with each image path replaced by the file's bytes."""
    return [{**row, "images": [(path.parent / p).read_bytes() for p in row.get("images", [])]} for row in load_output(path)]


def data_url(size: tuple[int, int]) -> str:
    buffer = io.BytesIO()
    PIL.new("RGB", size, (20, 160, 60)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def image_part(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


@pytest.fixture
def chats(tmp_path: Path) -> Path:
    """raw/chat.jsonl: OpenAI-style pairs with path and data: URL image parts (two images in one turn, an image in a
    second user turn, a text-only pair among them)."""
    raw = tmp_path / "raw"
    make_image(raw / "img" / "a.png", (64, 48), color=(200, 20, 20))
    green = data_url((30, 40))

    def pair(turns: list, chosen: str, rejected: str = "Blue.") -> dict:
        return {"messages": turns, "chosen": {"role": "assistant", "content": chosen},
                "rejected": {"role": "assistant", "content": rejected}}

    write_jsonl(raw / "chat.jsonl", [
        pair([{"role": "user", "content": [{"type": "text", "text": "Compare "}, image_part("img/a.png"),
                                            {"type": "text", "text": " and "}, image_part(green)]}], "Red and green."),
        pair([{"role": "system", "content": "Be brief."},
              {"role": "user", "content": [image_part(green), {"type": "text", "text": "Colour?"}]},
              {"role": "assistant", "content": "Green."},
              {"role": "user", "content": [{"type": "text", "text": "And now? "}, image_part("img/a.png")]}], "Red."),
        pair([{"role": "user", "content": "No picture here."}], "Fine.", "Bad."),
    ])
    (tmp_path / "out").mkdir()
    return raw / "chat.jsonl"


def test_kto_examples_keep_their_images(tmp_path, chats):
    out = tmp_path / "out" / "kto.json"
    convert([str(chats)], str(out), to="kto")
    rows = load_output(out)
    assert [len(r.get("images", [])) for r in rows] == [2, 2, 2, 2, 0, 0]
    assert rows[0]["images"] == rows[1]["images"] and rows[0]["kto_tag"] != rows[1]["kto_tag"]
    assert rows[0]["images"][0] == "../raw/img/a.png" and (out.parent / rows[0]["images"][1]).is_file()
    checked = validate(str(out))
    assert checked.findings.by_level("error") == [] and checked.entry["columns"]["images"] == "images"


def test_trl_rows_hold_typed_user_parts_and_read_back_into_the_same_pairs(tmp_path, chats):
    trl = tmp_path / "out" / "trl.jsonl"
    convert([str(chats)], str(trl), to="trl")
    rows = load_output(trl)
    assert rows[0]["prompt"] == [{"role": "user", "content": [{"type": "text", "text": "Compare "}, {"type": "image"},
                                                              {"type": "text", "text": " and "}, {"type": "image"}]}]
    assert rows[1]["prompt"][1:] == [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Colour?"}]},
        {"role": "assistant", "content": "Green."},
        {"role": "user", "content": [{"type": "text", "text": "And now? "}, {"type": "image"}]}]
    assert rows[1]["images"][1] == "../raw/img/a.png" and rows[1]["images"][0].startswith("trl_images/")
    assert rows[2]["prompt"] == [{"role": "user", "content": "No picture here."}] and "images" not in rows[2]
    assert validate(str(trl)).findings.by_level("error") == []

    direct, back = tmp_path / "out" / "direct.jsonl", tmp_path / "out" / "back.jsonl"
    convert([str(chats)], str(direct))
    report = convert([str(trl)], str(back))
    assert report.sources[0].format == "trl" and report.rejected == 0
    assert resolved(back) == resolved(direct)  # same turns and placeholders, the same images (from another folder)


def test_trl_rows_with_string_content_get_their_images_where_trl_puts_them(tmp_path, chats):
    """TRL's zen-image layout: plain strings and an image column; TRL puts the images before the first user text."""
    rows = [{"prompt": [{"role": "user", "content": "What colour?"}], "chosen": [{"role": "assistant", "content": "Red."}],
             "rejected": [{"role": "assistant", "content": "Blue."}], "image": "img/a.png"}]
    path = write_jsonl(chats.parent / "zen.jsonl", rows)
    convert([path], str(tmp_path / "out" / "zen.jsonl"), fmt="trl")
    [row] = load_output(tmp_path / "out" / "zen.jsonl")
    assert row["conversations"] == [{"from": "human", "value": "<image>What colour?"}]
    assert row["images"] == ["../raw/img/a.png"]


@pytest.mark.llamafactory  # TRL 1.x's own code (its venv, as the TRL parity tests use)
def test_trl_fills_each_image_part_in_order(tmp_path, chats):
    if not TRL1_PYTHON.exists():
        pytest.skip("TRL 1.x venv not set up (make setup)")
    trl = tmp_path / "out" / "trl.jsonl"
    convert([str(chats)], str(trl), to="trl")
    script = ("import json, sys\nfrom trl.data_utils import prepare_multimodal_messages\n"
              "for line in open(sys.argv[1]):\n    row = json.loads(line)\n"
              "    filled = prepare_multimodal_messages(row['prompt'], images=row.get('images', []))\n"
              "    print(json.dumps([p.get('image') for m in filled for p in m['content'] if p['type'] == 'image']))\n")
    proc = subprocess.run([str(TRL1_PYTHON), "-c", script, str(trl)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [json.loads(line) for line in proc.stdout.splitlines()] == [r.get("images", []) for r in load_output(trl)]


def test_trl_rejects_a_placeholder_count_it_cannot_pair(tmp_path):
    make_image(tmp_path / "a.png", (28, 28))
    path = write_jsonl(tmp_path / "in.jsonl", [{"conversations": [{"from": "human", "value": "<image><image>Two?"}],
                                                "chosen": {"from": "gpt", "value": "One."},
                                                "rejected": {"from": "gpt", "value": "Two."}, "images": ["a.png"]}])
    with pytest.raises(DataError, match=r"record 0: the prompt has 2 <image> placeholder\(s\) but the record has 1 "
                                        r"image\(s\); TRL pairs them one to one"):
        convert([path], str(tmp_path / "trl.jsonl"), to="trl")


def test_parquet_holds_the_images_column(tmp_path, chats):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "out" / "pairs.parquet"
    convert([str(chats)], str(out))
    images = pq.read_table(out).column("images").to_pylist()
    assert [len(i or []) for i in images] == [2, 2, 0] and images[0][0] == "../raw/img/a.png"
    report = convert([str(chats)], str(tmp_path / "out" / "trl.parquet"), to="trl")
    assert report.rejected_by_reason == {"parquet_cannot_hold_image_parts": 2} and report.pairs_written == 1


def test_v1_rejects_image_pairs_and_keeps_the_text_ones(tmp_path, chats):
    report = convert([str(chats)], str(tmp_path / "out" / "v1.jsonl"), to="lf-v1")
    assert report.rejected_by_reason == {"lf_v1_cannot_hold_images": 2} and report.pairs_written == 1


@pytest.mark.llamafactory
def test_v1_own_code_cannot_read_image_parts():
    """Why lf-v1 rejects images: v1 (0.9.5)'s pair converter keeps each content as one text part, and every one of its
    renderers refuses an image_url part. (When a LLaMA-Factory release reads them, this test fails: write them then.)"""
    from prefkit.targets.lf_v1 import load

    v1 = load()
    user = {"role": "user", "content": [{"type": "image_url", "value": "a.png"}, {"type": "text", "value": "Hi"}],
            "loss_weight": 0.0}
    answer = {"role": "assistant", "content": [{"type": "text", "value": "Red."}], "loss_weight": 1.0}
    for template in v1.templates:
        with pytest.raises(ValueError, match="Unsupported content type: image_url"):
            v1.render(template, None, [user, answer], None)
    parts = [{"type": "image_url", "value": "a.png"}]
    converted = v1.converter("pair")({"chosen": [{"role": "user", "content": parts}], "rejected": []})
    assert converted["chosen_messages"][0]["content"] == [{"type": "text", "value": parts}]


@pytest.mark.llamafactory
def test_llamafactory_loader_finds_every_image_of_a_converted_file(tmp_path, chats):
    python = LF_PYTHONS["0.9.5"]
    if not python.exists():
        pytest.skip("LLaMA-Factory 0.9.5 venv not set up (make setup)")
    data = tmp_path / "data"
    data.mkdir()
    convert([str(chats)], str(data / "pics.json"), register="pics", dataset_dir=str(data))
    proc = subprocess.run([str(python), str(ROOT / "tests" / "tools" / "lf_align.py"), str(data), "pics"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{"name"')]
    assert [r["kept"] for r in rows] == [True] * 3
    originals = [(chats.parent / "img" / "a.png").read_bytes(), base64.b64decode(data_url((30, 40)).split(",")[1])]
    expected = [[originals[0], originals[1]], [originals[1], originals[0]], []]
    for row, want in zip(rows, expected):
        images = row["images"] or []
        assert [Path(p).read_bytes() for p in images] == want  # joined to media_dir by LLaMA-Factory: real files
        assert sum(m["content"].count("<image>") for m in row["prompt"]) == len(images)
