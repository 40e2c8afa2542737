"""convert reads images from OpenAI-style ``image_url`` parts (paths and ``data:`` URLs) and from the image columns of
the pairwise, ratings and alpaca readers; ``data:`` images become files beside the output, once each; a remote or
malformed URL is the record's reject, naming the field."""

from __future__ import annotations

import base64
import io
import json
import sys
from pathlib import Path

import pytest

from conftest import ROOT, load_output, write_jsonl
from prefkit.pipeline.convert import convert
from prefkit.pipeline.validate import validate

sys.path.insert(0, str(ROOT / "tests" / "helpers"))
from images import make_image  # noqa: E402

PIL = pytest.importorskip("PIL.Image")


def data_url(size: tuple[int, int], color: tuple[int, int, int] = (20, 160, 60)) -> str:
    buffer = io.BytesIO()
    PIL.new("RGB", size, color).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def image_part(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


def chat(content: list | str, chosen: str = "Red, then green.", rejected: str = "Blue.") -> dict:
    return {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": content}],
            "chosen": {"role": "assistant", "content": chosen}, "rejected": {"role": "assistant", "content": rejected}}


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    folder = tmp_path / "raw"
    make_image(folder / "img" / "a.png", (64, 48), color=(200, 20, 20))
    make_image(tmp_path / "elsewhere" / "b.jpg", (90, 30))
    (tmp_path / "out").mkdir()
    return folder


def test_image_url_paths_become_images_and_placeholders_in_place(tmp_path, raw):
    absolute = str(tmp_path / "elsewhere" / "b.jpg")
    write_jsonl(raw / "chat.jsonl", [
        chat([{"type": "text", "text": "Compare "}, image_part("img/a.png"), {"type": "text", "text": " with "},
              image_part(absolute), {"type": "text", "text": "."}]),
        chat([image_part("img/a.png"), {"type": "text", "text": "And this one?"}], "Red.")])
    report = convert([str(raw / "chat.jsonl")], str(tmp_path / "out" / "pairs.jsonl"))
    rows = load_output(tmp_path / "out" / "pairs.jsonl")
    assert report.sources[0].format == "openai" and report.rejected == 0
    assert rows[0]["conversations"] == [{"from": "system", "value": "Be brief."},
                                        {"from": "human", "value": "Compare <image> with <image>."}]
    assert rows[0]["images"] == ["../raw/img/a.png", absolute]
    assert rows[1]["conversations"][1]["value"] == "<image>And this one?" and rows[1]["images"] == ["../raw/img/a.png"]
    assert not (tmp_path / "out" / "pairs_images").exists()  # no data: URL, no images folder
    assert validate(str(tmp_path / "out" / "pairs.jsonl")).findings.by_level("error") == []


def test_data_urls_are_written_once_beside_the_output_and_a_second_run_writes_the_same(tmp_path, raw):
    green, wide = data_url((30, 40)), data_url((120, 20), (10, 10, 240))
    write_jsonl(raw / "chat.jsonl", [chat([image_part(green), {"type": "text", "text": f"Picture {i}?"}], f"Green {i}.")
                                     for i in range(3)] + [chat([image_part(wide), {"type": "text", "text": "Wide?"}])])
    out = tmp_path / "out" / "pairs.json"
    convert([str(raw / "chat.jsonl")], str(out))
    rows = load_output(out)
    folder = tmp_path / "out" / "pairs_images"
    files = sorted(folder.iterdir())
    assert len(files) == 2  # three records share one image: one file
    assert {row["images"][0] for row in rows} == {f"pairs_images/{f.name}" for f in files}
    assert rows[0]["images"] == rows[2]["images"] != rows[3]["images"]
    written = {f.name: f.read_bytes() for f in files}
    assert base64.b64decode(green.split(",")[1]) in written.values()
    assert PIL.open(tmp_path / "out" / rows[3]["images"][0]).size == (120, 20)
    assert validate(str(out)).findings.by_level("error") == []

    first = out.read_bytes()
    convert([str(raw / "chat.jsonl")], str(out))  # again: same names, same bytes, no copies
    assert out.read_bytes() == first
    assert {f.name: f.read_bytes() for f in folder.iterdir()} == written


def test_images_registered_in_a_dataset_dir_are_named_from_there(tmp_path, raw):
    write_jsonl(raw / "chat.jsonl", [chat([image_part(data_url((28, 28))), {"type": "text", "text": "What?"}])])
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    convert([str(raw / "chat.jsonl")], str(data / "sub" / "pics.jsonl"), register="pics", dataset_dir=str(data))
    [row] = load_output(data / "sub" / "pics.jsonl")
    assert row["images"][0].startswith("sub/pics_images/") and (data / row["images"][0]).is_file()
    assert validate("pics", str(data)).findings.by_level("error") == []


def test_a_folder_holding_other_files_is_not_replaced(tmp_path, raw):
    write_jsonl(raw / "chat.jsonl", [chat([image_part(data_url((28, 28))), {"type": "text", "text": "What?"}])])
    (tmp_path / "out" / "pairs_images").mkdir()
    (tmp_path / "out" / "pairs_images" / "mine.txt").write_text("keep me")
    with pytest.raises(Exception, match=r"pairs_images: holds files that the images of -o did not write \(mine.txt\)"):
        convert([str(raw / "chat.jsonl")], str(tmp_path / "out" / "pairs.jsonl"))
    assert (tmp_path / "out" / "pairs_images" / "mine.txt").read_text() == "keep me"
    assert not (tmp_path / "out" / "pairs.jsonl").exists()


BAD = [  # (content of the user turn, reason, what the message says)
    ([image_part("https://example.org/cat.png"), {"type": "text", "text": "Cat?"}], "remote_image",
     "messages[1].content[0].image_url.url: 'https://example.org/cat.png' is a remote URL"),
    ([{"type": "text", "text": "Cat?"}, image_part("data:image/png;base64,not*base64")], "bad_data_url",
     "messages[1].content[1].image_url.url: malformed data: URL: the base64 data is broken"),
    ([image_part("data:text/plain;base64,aGk="), {"type": "text", "text": "Cat?"}], "bad_data_url",
     "media type 'text/plain' is not an image type"),
    ([image_part("data:image/png,rawbytes"), {"type": "text", "text": "Cat?"}], "bad_data_url", "not base64"),
    ([{"type": "image_url", "image_url": {"url": 7}}, {"type": "text", "text": "Cat?"}], "bad_type",
     "messages[1].content[0].image_url.url: expected an image path or data: URL, got 7"),
]


def test_remote_and_malformed_urls_are_rejects_naming_record_and_field(tmp_path, raw):
    rows = [chat(content) for content, *_ in BAD] + [chat([image_part("img/a.png"), {"type": "text", "text": "Ok?"}])]
    rows.append({**chat("Draw a cat."), "chosen": {"role": "assistant", "content": [image_part("img/a.png")]}})
    write_jsonl(raw / "chat.jsonl", rows)
    report = convert([str(raw / "chat.jsonl")], str(tmp_path / "out" / "pairs.jsonl"))
    rejects = load_output(tmp_path / "out" / "pairs.rejects.jsonl")
    assert report.accepted == 1 and report.rejected == len(BAD) + 1
    for (_, reason, message), reject in zip(BAD, rejects):
        assert (reject["reason"], reject["source"]) == (reason, str(raw / "chat.jsonl"))
        assert message in reject["message"], reject["message"]
    assert [r["index"] for r in rejects] == [0, 1, 2, 3, 4, 6]
    assert rejects[-1]["reason"] == "image_not_in_user_turn"
    assert rejects[-1]["message"].startswith("chosen.content[0]: an image outside a user turn")


def test_openai_logs_carry_their_images_and_group_by_them(tmp_path, raw):
    make_image(raw / "img" / "c.png", (40, 40), color=(0, 0, 0))

    def call(image: str, answers: list[str], thumbs: list[str]) -> dict:
        content = [image_part(image), {"type": "text", "text": "Which colour?"}]
        return {"request": {"model": "m", "messages": [{"role": "user", "content": content}]},
                "response": {"choices": [{"message": {"role": "assistant", "content": a}} for a in answers]},
                "feedback": {"thumbs": thumbs}}

    write_jsonl(raw / "logs.jsonl", [call("img/a.png", ["Red."], ["up"]), call("img/c.png", ["Black."], ["up"]),
                                     call("img/a.png", ["Black."], ["down"]), call("img/c.png", ["Red."], ["down"])])
    convert([str(raw / "logs.jsonl")], str(tmp_path / "out" / "pairs.jsonl"))
    rows = load_output(tmp_path / "out" / "pairs.jsonl")
    # same text, different images: two conversations, each pairs its own answers
    assert [(r["images"], r["chosen"]["value"], r["rejected"]["value"]) for r in rows] == [
        (["../raw/img/a.png"], "Red.", "Black."), (["../raw/img/c.png"], "Black.", "Red.")]
    assert rows[0]["conversations"] == [{"from": "human", "value": "<image>Which colour?"}]
    convert([str(raw / "logs.jsonl")], str(tmp_path / "out" / "kto.jsonl"), to="kto")
    assert [r["images"] for r in load_output(tmp_path / "out" / "kto.jsonl")] == [["../raw/img/a.png"]] * 2 + [
        ["../raw/img/c.png"]] * 2


@pytest.mark.parametrize("fmt", ["pairwise", "ratings", "alpaca"])
def test_image_columns_of_pairwise_ratings_and_alpaca(tmp_path, raw, fmt):
    prompt = "<image>What colour is it?"
    rows = {"pairwise": [{"prompt": prompt, "response_a": "Red.", "response_b": "Blue.", "winner": "a",
                          "image": "img/a.png"},
                         {"prompt": [{"role": "user", "content": [image_part("img/a.png"),
                                                                  {"type": "text", "text": "Colour?"}]}],
                          "response_a": "Red.", "response_b": "Blue.", "winner": "b"}],
            "ratings": [{"prompt": prompt, "responses": ["Red.", "Blue."], "scores": [9, 2], "images": ["img/a.png"]}],
            "alpaca": [{"instruction": prompt, "chosen": "Red.", "rejected": "Blue.", "images": ["img/a.png"]}]}[fmt]
    write_jsonl(raw / "in.jsonl", rows)
    report = convert([str(raw / "in.jsonl")], str(tmp_path / "out" / "pairs.jsonl"), fmt=fmt)
    written = load_output(tmp_path / "out" / "pairs.jsonl")
    assert report.rejected == 0 and [r["images"] for r in written] == [["../raw/img/a.png"]] * len(rows)
    assert all(r["conversations"][-1]["value"].startswith("<image>") for r in written)
    assert validate(str(tmp_path / "out" / "pairs.jsonl")).findings.by_level("error") == []


def test_a_column_and_parts_with_their_own_urls_is_ambiguous(tmp_path, raw):
    write_jsonl(raw / "chat.jsonl", [{**chat([image_part("img/a.png"), {"type": "text", "text": "?"}]),
                                      "images": ["img/a.png"]}])
    with pytest.raises(Exception, match=r"record 0: images: the record has an images column and image parts"):
        convert([str(raw / "chat.jsonl")], str(tmp_path / "out" / "pairs.jsonl"), fmt="openai")


def test_the_input_record_is_kept_as_it_was_in_the_rejects(tmp_path, raw):
    row = chat([image_part("https://example.org/x.png"), {"type": "text", "text": "?"}])
    write_jsonl(raw / "chat.jsonl", [row, chat([image_part("img/a.png"), {"type": "text", "text": "?"}])])
    convert([str(raw / "chat.jsonl")], str(tmp_path / "out" / "pairs.jsonl"))
    assert json.loads((tmp_path / "out" / "pairs.rejects.jsonl").read_text())["record"] == row
