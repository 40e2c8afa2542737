"""prefkit label with image pairs: push shows each image in an Argilla image field (a data URI of the file),
above the conversation; pull gives the pairs back with their image paths. Against a real argilla-server (the
session's, tests/conftest.py) with images made by Pillow; the media tests at the end need no server."""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from conftest import load_output
from helpers.annotators import annotate, dataset_id
from helpers.images import make_image, truncated_copy
from prefkit.label import media
from prefkit.label.connection import Connection
from prefkit.label.push import push
from prefkit.label.tasks import original_fields
from prefkit.records import Message, Provenance, RowProblem, UnlabeledPair

RED, GREEN, BLUE = (200, 30, 30), (30, 200, 30), (30, 30, 200)


def turn(question: str) -> list[dict[str, str]]:
    return [{"from": "human", "value": question}]


def row(question: str, images: list[str] | None) -> dict[str, Any]:
    said = question.replace("<image>", "")  # a placeholder in an answer is the writer's reject (image_in_answer)
    out: dict[str, Any] = {"conversations": turn(question), "chosen": {"from": "gpt", "value": f"good: {said}"},
                           "rejected": {"from": "gpt", "value": f"bad: {said}"}}
    if images is not None:
        out["images"] = images
    return out


def image_pairs(folder: Path) -> Path:
    """A sharegpt file of image pairs beside its images (relative paths), with one absolute path, a pair without
    images, a missing image and a truncated one."""
    make_image(folder / "img" / "red.png", (300, 200), color=RED)
    tall = make_image(folder / "img" / "tall.jpg", (120, 400), color=GREEN)
    make_image(folder / "img" / "wide.bmp", (500, 100), color=BLUE)  # no BMP in Argilla: sent as a PNG
    truncated_copy(Path(tall), folder / "img" / "broken.jpg")
    rows = [row("<image>What colour is it?", ["img/red.png"]),
            row("<image><image>Which is taller?", ["img/tall.jpg", "img/wide.bmp"]),
            row("No image: what is 2 + 2?", None),
            row("<image>Is it there?", ["img/nope.png"]),
            row("<image>Is it whole?", ["img/broken.jpg"]),
            row("<image>Absolute?", [str(folder / "img" / "red.png")])]
    path = folder / "pairs.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def decoded(uri: str) -> bytes:
    head, _, data = uri.partition(",")
    assert head.startswith("data:image/") and head.endswith(";base64"), head[:60]
    return base64.b64decode(data)


def question(record: dict[str, Any]) -> str:
    return original_fields(record)["conversation"][-1]["content"]


def good_side(record: dict[str, Any]) -> str:
    return "a" if original_fields(record)["response_a"].startswith("good") else "b"


def test_image_pairs_are_shown_and_pulled_back_with_their_paths(argilla, argilla_env, cli, tmp_path):
    src = image_pairs(tmp_path / "in")
    result = cli("label", "push", src, "--dataset", "with-images", "--workspace", "team",
                 "--report-json", tmp_path / "push.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "push.json").read_text())
    assert (report["created"], report["failed"], report["image_fields"]) == (4, 2, 4)
    assert report["rejected_by_reason"] == {"image_missing": 1, "image_unreadable": 1}
    assert f"first: {src} record 3: images[0]: no image file 'img/nope.png'" in " ".join(result.output.split())
    rejects = {r["index"]: r for r in load_output(report["rejects_file"])}
    assert rejects[3]["reason"] == "image_missing" and rejects[3]["message"].startswith("images[0]: no image file")
    assert rejects[4]["reason"] == "image_unreadable" and "broken.jpg" in rejects[4]["message"]

    server, did = argilla["server"], dataset_id(argilla, "with-images")
    fields = server.request("GET", f"/api/v1/datasets/{did}/fields")["items"]
    assert [(f["name"], f["settings"]["type"], f["required"]) for f in fields][:5] == \
        [(f"image_{i}", "image", False) for i in range(1, 5)] + [("conversation", "chat", True)]
    records = {question(r): r for r in server.request("GET", f"/api/v1/datasets/{did}/records?limit=50")["items"]}
    assert len(records) == 4
    one = records["<image>What colour is it?"]["fields"]
    assert decoded(one["image_1"]) == (tmp_path / "in" / "img" / "red.png").read_bytes()  # the file, as it is
    assert one.get("image_2") is None
    two = records["<image><image>Which is taller?"]
    assert decoded(two["fields"]["image_1"]) == (tmp_path / "in" / "img" / "tall.jpg").read_bytes()
    with Image.open(io.BytesIO(decoded(two["fields"]["image_2"]))) as wide:
        assert (wide.format, wide.size, wide.convert("RGB").getpixel((250, 50))) == ("PNG", (500, 100), BLUE)
    assert two["metadata"]["prefkit_images"] == ["img/tall.jpg", "img/wide.bmp"]
    text_only = records["No image: what is 2 + 2?"]
    assert not any(k.startswith("image_") and v for k, v in text_only["fields"].items())
    assert "prefkit_images" not in text_only["metadata"]

    annotate(argilla, "ann1", "with-images", lambda r: None if question(r).endswith("Absolute?") else good_side(r))
    out = tmp_path / "out"
    out.mkdir()
    result = cli("label", "pull", "--dataset", "with-images", "--workspace", "team", "-o", out / "labeled.json",
                 "--register", "labeled", "--dataset-dir", out, "--rejects", out / "rejects.jsonl")
    assert result.exit_code == 0, result.output
    pulled = {r["conversations"][-1]["value"]: r for r in load_output(out / "labeled.json")}
    assert set(pulled) == set(records) - {"<image>Absolute?"}
    [unanswered] = load_output(out / "rejects.jsonl")  # kept with its paths, not its data URIs
    assert unanswered["record"]["metadata"]["prefkit_images"] == [str(tmp_path / "in" / "img" / "red.png")]
    assert "data:" not in (out / "rejects.jsonl").read_text()
    assert all(r["chosen"]["value"].startswith("good") for r in pulled.values())
    # relative paths now lead from the dataset dir to the same files; absolute ones stay; no data URI anywhere
    for q, r in pulled.items():
        expected = [p if os.path.isabs(p) else str(tmp_path / "in" / p) for p in records[q]["metadata"].get("prefkit_images", [])]
        assert [os.path.normpath(os.path.join(out, p)) for p in r.get("images", [])] == expected, q
    assert pulled["<image><image>Which is taller?"]["images"] == ["../in/img/tall.jpg", "../in/img/wide.bmp"]
    assert "data:" not in (out / "labeled.json").read_text()
    entry = json.loads((out / "dataset_info.json").read_text())["labeled"]
    assert entry["columns"]["images"] == "images"
    # pulled beside the input, the paths are the input's own
    from prefkit.label.pull import pull

    pull("with-images", str(tmp_path / "in" / "back.json"), Connection(), workspace="team")
    back = {r["conversations"][-1]["value"]: r.get("images") for r in load_output(tmp_path / "in" / "back.json")}
    given = {r["conversations"][-1]["value"]: r.get("images") for r in json.loads(src.read_text())}
    assert back == {q: given[q] for q in back}


def test_a_dataset_gets_image_fields_only_for_image_pairs(argilla, argilla_env, tmp_path):
    src = image_pairs(tmp_path)
    rows = json.loads(src.read_text())
    text = tmp_path / "text.json"
    text.write_text(json.dumps([r for r in rows if "images" not in r]), encoding="utf-8")
    report = push([str(text)], "text-only", Connection(), workspace="team")
    assert (report.created, report.image_fields) == (1, 0)
    server = argilla["server"]
    fields = server.request("GET", f"/api/v1/datasets/{dataset_id(argilla, 'text-only')}/fields")["items"]
    assert [f["name"] for f in fields] == ["conversation", "response_a", "response_b"]
    # image pairs cannot go into it: each is rejected, naming the reason, and nothing else changes
    report = push([str(src)], "text-only", Connection(), workspace="team")
    assert (report.created, report.already_present, report.rejected_by_reason) == (0, 1, {"too_many_images": 5})
    assert "has no image fields" in report.first_failure and "--image-fields" in report.first_failure
    # --image-fields 1: a pair with two images does not fit
    report = push([str(src)], "one-image", Connection(), workspace="team", image_fields=1)
    assert (report.created, report.image_fields, report.rejected_by_reason["too_many_images"]) == (3, 1, 1)
    assert "record 1: images: the pair has 2 images" in report.first_failure


def test_pairs_to_label_from_convert_keep_their_images_and_ids(argilla, argilla_env, tmp_path):
    """convert --unlabeled writes the image paths relative to its output; pushed with the original file, each pair
    is one record (the id hashes the images' contents, not how their paths are spelled)."""
    src = image_pairs(tmp_path / "in")
    from prefkit.pipeline.convert import convert

    (tmp_path / "todo").mkdir()
    convert([str(src)], str(tmp_path / "todo" / "todo.jsonl"), to="unlabeled")
    assert load_output(tmp_path / "todo" / "todo.jsonl")[0]["images"] == ["../in/img/red.png"]
    report = push([str(tmp_path / "todo" / "todo.jsonl"), str(src)], "converted", Connection(), workspace="team")
    assert (report.created, report.duplicates, report.failed) == (4, 4, 4)
    records = Connection().records(dataset_id(argilla, "converted"))
    red = next(r for r in records if question(r) == "<image>What colour is it?")
    assert decoded(red["fields"]["image_1"]) == (tmp_path / "in" / "img" / "red.png").read_bytes()
    assert red["metadata"]["prefkit_images"] == ["../in/img/red.png"]


# ---- media: what the page is sent (no server) ----

def pair_with(images: list[str], source: Path) -> UnlabeledPair:
    return UnlabeledPair(prompt=[Message(role="user", content="<image>?")], images=images,
                         provenance=Provenance(source=str(source), index=0, format="sharegpt"),
                         response_a=Message(role="assistant", content="x"),
                         response_b=Message(role="assistant", content="y"))


def test_an_image_too_long_for_argilla_is_shrunk_for_the_page(tmp_path):
    # noise does not compress: 1400x1050 RGBA is 5.9 MB as PNG, and transparency keeps it a PNG (no JPEG)
    Image.frombytes("RGBA", (1400, 1050), os.urandom(1400 * 1050 * 4)).save(tmp_path / "noise.png")
    Image.frombytes("RGB", (900, 600), os.urandom(900 * 600 * 3)).save(tmp_path / "noise.tiff")
    assert (tmp_path / "noise.png").stat().st_size * 4 / 3 > media.MAX_DATA_URI
    big, tiff = media.load_images(pair_with(["noise.png", "noise.tiff"], tmp_path / "pairs.json"))
    uri = media.data_uri(big)
    assert len(uri) <= media.MAX_DATA_URI and uri.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(decoded(uri))) as shown:
        assert shown.mode == "RGBA" and shown.width / shown.height == pytest.approx(4 / 3, rel=0.01)
        assert 1000 < shown.width < 1400
    with Image.open(io.BytesIO(decoded(media.data_uri(tiff)))) as shown, Image.open(tmp_path / "noise.tiff") as given:
        assert shown.format == "PNG" and shown.tobytes() == given.tobytes()  # a TIFF is sent as the same pixels


def test_web_urls_are_sent_as_written_and_unreadable_files_named(tmp_path):
    url = "https://example.org/cat.png"
    [image] = media.load_images(pair_with([url], tmp_path / "pairs.json"))
    assert media.field_values([image]) == {"image_1": url} and image.key == url
    (tmp_path / "notes.png").write_text("not an image", encoding="utf-8")
    with pytest.raises(RowProblem) as problem:
        media.load_images(pair_with(["https://example.org/a.png", "notes.png"], tmp_path / "pairs.json"))
    assert problem.value.reason == "image_unreadable" and problem.value.message.startswith("images[1]: Pillow cannot")
    assert media.pulled_images({"prefkit_images": ["a.png"], "prefkit_image_dir": "/nowhere/here"}, str(tmp_path)) == \
        ["a.png"]  # the folder is not on this machine: the paths as pushed
