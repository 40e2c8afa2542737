"""The fault suite for files that outputs derive from their names and inputs that readers discover (issue 28): the
PNG beside validate's HTML, convert's ``<stem>_images/`` folder, the registry's lock file, eval's output folder, a
FastChat layout's answers, the images an entry points to. After every refusal the inputs and earlier outputs are
byte-identical, no file or folder is new, the exit code is the documented one and the one-line error names the file.
Also: registry YAML edits keep the user's comments, ``--weight`` must be finite, ``data:`` images stream to disk."""

from __future__ import annotations

import base64
import json
import os
import pickle
import struct
import zlib
from pathlib import Path

import pytest

from conftest import fixture, load_output, write_jsonl
from prefkit import convert
from prefkit.writers import get_writer
from prefkit.writers.image_files import data_image


def png(color: tuple[int, int, int] = (255, 0, 0), size: int = 4) -> bytes:
    """A real (tiny) PNG, built here."""
    raw = b"".join(b"\x00" + bytes(color) * size for _ in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def data_url(color: tuple[int, int, int]) -> str:
    return "data:image/png;base64," + base64.b64encode(png(color)).decode()


def pair(image: str, question: str = "What colour is this?") -> dict:
    return {"conversations": [{"from": "human", "value": f"<image>{question}"}], "chosen": {"from": "gpt", "value": "red"},
            "rejected": {"from": "gpt", "value": "blue"}, "images": [image]}


def tree(folder: Path) -> dict[str, bytes | None]:
    """Every file and folder under ``folder`` (dotfiles included) with its bytes: the state a failed run must keep."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


def refused(result, code: int, *words: str) -> None:
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    for word in words:
        assert word in lines[0], result.output


# --- derived: validate's PNG, convert's images folder ------------------------------------------------------------

@pytest.fixture
def image_dataset(tmp_path: Path) -> Path:
    """ds/data.json whose record 0 points to ds/cat.png (read from the dataset's folder, as LLaMA-Factory does)."""
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "cat.png").write_bytes(png())
    (ds / "data.json").write_text(json.dumps([pair("cat.png")]))
    return ds


@pytest.mark.parametrize("option,name", [("--html", "cat.html"), ("--report-json", "cat.png")])
def test_validate_never_writes_over_an_image_of_the_dataset(tmp_path, image_dataset, cli, option, name):
    pytest.importorskip("PIL")
    before = tree(tmp_path)
    result = cli("validate", image_dataset / "data.json", option, image_dataset / name)
    refused(result, 2, "cat.png", "is also the input", "an image of record 0")
    assert tree(tmp_path) == before


def test_validate_writes_its_png_beside_an_html_of_another_name(tmp_path, image_dataset, cli):
    pytest.importorskip("PIL")
    result = cli("validate", image_dataset / "data.json", "--html", image_dataset / "report.html", "-q")
    assert result.exit_code == 0, result.output
    assert (image_dataset / "cat.png").read_bytes() == png() and (image_dataset / "report.html").exists()


def test_a_second_output_never_takes_the_images_folder_of_another(tmp_path, cli):
    ds = tmp_path / "ds"
    ds.mkdir()
    red, green = write_jsonl(tmp_path / "red.jsonl", [pair(data_url((255, 0, 0)))]), \
        write_jsonl(tmp_path / "green.jsonl", [pair(data_url((0, 255, 0)))])
    first = cli("convert", red, "-o", ds / "x.json", "--register", "x", "--dataset-dir", ds, "-q")
    assert first.exit_code == 0, first.output
    assert len(list((ds / "x_images").iterdir())) == 1
    before = tree(tmp_path)
    for other in ("x.jsonl", "x.parquet"):
        result = cli("convert", green, "-o", ds / other)
        refused(result, 2, "x_images", "is also the images folder of", "x.json")
        assert tree(tmp_path) == before
    for row in load_output(ds / "x.json"):
        assert all((ds / image).is_file() for image in row["images"])


def test_a_dataset_converted_with_a_new_image_keeps_every_image_path(tmp_path, cli, monkeypatch):
    """x.json (images in x_images/) plus a data: record: -o x.parquet would replace x_images/ (refused); -o y.parquet
    writes rows whose every image path exists, read from the output's folder."""
    pq = pytest.importorskip("pyarrow.parquet")
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "red.jsonl", [pair(data_url((255, 0, 0)))])
    write_jsonl(tmp_path / "green.jsonl", [pair(data_url((0, 255, 0)))])
    assert cli("convert", "red.jsonl", "-o", "x.json", "-q").exit_code == 0
    before = tree(tmp_path)
    refused(cli("convert", "x.json", "green.jsonl", "-o", "x.parquet"), 2, "x_images", "x.json")
    assert tree(tmp_path) == before
    result = cli("convert", "x.json", "green.jsonl", "-o", "y.parquet", "-q")
    assert result.exit_code == 0, result.output
    images = [path for row in pq.read_table("y.parquet").column("images").to_pylist() for path in row]
    assert len(images) == 2 and all((tmp_path / path).is_file() for path in images), images
    assert tree(tmp_path)["x_images/" + os.path.basename(images[0])] == png((255, 0, 0))


def test_an_images_folder_holding_images_that_a_record_points_to_is_never_replaced(tmp_path, cli):
    """old.json points to y_images/<hash>.png (a name convert could have written): -o y.jsonl with a data: image
    would replace that folder, so it is refused."""
    kept = "0123456789abcdef.png"
    (tmp_path / "y_images").mkdir()
    (tmp_path / "y_images" / kept).write_bytes(png((0, 0, 255)))
    old = tmp_path / "old.json"
    old.write_text(json.dumps([pair(f"y_images/{kept}")]))
    green = write_jsonl(tmp_path / "green.jsonl", [pair(data_url((0, 255, 0)))])
    before = tree(tmp_path)
    result = cli("convert", old, green, "-o", tmp_path / "y.jsonl")
    refused(result, 2, "y_images", "holds the input", kept)
    assert tree(tmp_path) == before


def test_images_of_rows_that_are_not_written_are_not_kept(tmp_path):
    """A duplicate row is rejected after its image was streamed to disk: the folder holds only the written rows'."""
    red, green = data_url((255, 0, 0)), data_url((0, 255, 0))
    rows = [pair(red), {**pair(red), "images": [red]}, pair(green, "Other?")]
    src = write_jsonl(tmp_path / "in.jsonl", [rows[0], rows[1], rows[2]])
    report = convert([src], str(tmp_path / "out.jsonl"), dedup=True)
    assert report.rejected_by_reason == {"duplicate_pair": 1}
    names = sorted(p.name for p in (tmp_path / "out_images").iterdir())
    assert names == sorted({data_image(red)[0], data_image(green)[0]})
    assert not [p for p in tmp_path.rglob(".prefkit-*")]


def test_a_writer_travels_to_a_worker_without_its_image_stage():
    """Where the map runs elsewhere (Ray) the bytes come back with the rows: the stage never travels."""
    writer = get_writer("sharegpt")
    writer.stage = lambda name, data: None
    assert pickle.loads(pickle.dumps(writer)).stage is None


# --- discovered: a FastChat layout's answers ---------------------------------------------------------------------

@pytest.fixture
def fastchat(tmp_path: Path) -> Path:
    (tmp_path / "ans").mkdir()
    write_jsonl(tmp_path / "q.jsonl", [{"question_id": 81, "category": "writing", "turns": ["Write a haiku."]}])
    for model, text in (("m1", "Leaves fall softly."), ("m2", "No."), ("base", "A haiku.")):
        write_jsonl(tmp_path / "ans" / f"{model}.jsonl",
                    [{"question_id": 81, "model_id": model, "choices": [{"index": 0, "turns": [text]}]}])
    write_jsonl(tmp_path / "j.jsonl", [{"question_id": 81, "model_1": "m1", "model_2": "m2", "g1_winner": "model_1",
                                        "g2_winner": "model_1", "judge": ["gpt-4", "pair-v2"], "turn": 1}])
    return tmp_path


@pytest.mark.parametrize("target", ["ans/m1.jsonl", "ans/base.jsonl", "ans/new.jsonl"])
def test_convert_never_writes_among_the_answers_it_reads(fastchat, cli, target):
    before = tree(fastchat)
    result = cli("convert", fastchat / "j.jsonl", "--from", "fastchat-judge", "--questions", fastchat / "q.jsonl",
                 "--answers", fastchat / "ans", "-o", fastchat / target)
    refused(result, 2, target, "is inside the input")
    assert tree(fastchat) == before


def test_a_layout_found_beside_the_judgments_is_declared_too(tmp_path, cli):
    bench = tmp_path / "bench"
    (bench / "model_judgment").mkdir(parents=True)
    (bench / "model_answer").mkdir()
    write_jsonl(bench / "question.jsonl", [{"question_id": 1, "turns": ["Hi?"]}])
    for model in ("a", "b"):
        write_jsonl(bench / "model_answer" / f"{model}.jsonl",
                    [{"question_id": 1, "model_id": model, "choices": [{"index": 0, "turns": [f"{model} says hi"]}]}])
    judged = write_jsonl(bench / "model_judgment" / "gpt-4_pair.jsonl",
                         [{"question_id": 1, "model_1": "a", "model_2": "b", "g1_winner": "model_1",
                           "g2_winner": "model_1", "judge": ["gpt-4", "pair-v2"], "turn": 1}])
    before = tree(tmp_path)
    for target in (bench / "model_answer" / "a.jsonl", bench / "model_answer" / "c.jsonl", bench / "question.jsonl"):
        result = cli("convert", judged, "--from", "fastchat-judge", "-o", target)
        refused(result, 2, target.name)
        assert tree(tmp_path) == before


# --- the registry's lock file ------------------------------------------------------------------------------------

REGISTRY_FAULTS = {"malformed": ("{bad", "invalid JSON"), "read-only file": ("{}\n", "is read-only"),
                   "read-only folder": ("{}\n", "read-only folder")}


@pytest.mark.parametrize("command", ["register", "convert --register"])
@pytest.mark.parametrize("fault", list(REGISTRY_FAULTS))
def test_a_failed_registration_leaves_no_lock_file(tmp_path, cli, command, fault):
    ds = tmp_path / "ds"
    ds.mkdir()
    text, words = REGISTRY_FAULTS[fault]
    (ds / "dataset_info.json").write_text(text)
    (ds / "pairs.json").write_bytes(Path(fixture("dpo_en_demo.sample.json")).read_bytes())
    if fault == "read-only file":
        (ds / "dataset_info.json").chmod(0o444)
    before = tree(tmp_path)
    if fault == "read-only folder":
        ds.chmod(0o555)
    try:
        if command == "register":
            result = cli("register", "pairs", "--file", ds / "pairs.json", "--dataset-dir", ds)
        else:
            result = cli("convert", fixture("dpo_en_demo.sample.json"), "-o", ds / "new.json", "--register", "new",
                         "--dataset-dir", ds)
    finally:
        ds.chmod(0o755)
    refused(result, 2, "dataset_info.json", words)
    assert tree(tmp_path) == before  # no .dataset_info.json.lock, no output, nothing changed


def test_an_output_is_never_the_registrys_lock_file(tmp_path, cli):
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "dataset_info.json").write_text("{}\n")
    before = tree(tmp_path)
    result = cli("convert", fixture("dpo_en_demo.sample.json"), "-o", ds / "pairs.json", "--register", "pairs",
                 "--dataset-dir", ds, "--report-json", ds / ".dataset_info.json.lock")
    refused(result, 2, ".dataset_info.json.lock", "is also the lock")
    assert tree(tmp_path) == before


# --- eval's output folder ------------------------------------------------------------------------------------------

def eval_inputs(tmp_path: Path, model: str) -> tuple[Path, Path]:
    """A dataset dir with registered pairs, and a model config naming ``model``."""
    data = tmp_path / "data"
    data.mkdir()
    convert([fixture("dpo_en_demo.sample.json")], str(data / "pairs.json"), register="pairs", dataset_dir=str(data))
    config = tmp_path / "m.yaml"
    config.write_text(f"model_name_or_path: {model}\ntemplate: qwen\n")
    return data, config


def test_a_failed_eval_creates_no_output_folder(tmp_path, cli):
    """The model config names no model: the server cannot start, and --output-dir (two new levels) is not made."""
    data, config = eval_inputs(tmp_path, "[not, a, model]")
    before = tree(data)
    result = cli("eval", "--dataset", "pairs", "--dataset-dir", data, "--model-config", config, "--baseline-config",
                 config, "--output-dir", tmp_path / "out" / "deep", "--limit", "1")
    assert result.exit_code != 0, result.output
    assert not (tmp_path / "out").exists() and tree(data) == before


def test_an_eval_output_folder_that_is_a_file_is_refused(tmp_path, cli):
    data, config = eval_inputs(tmp_path, "base")
    before = tree(tmp_path)
    result = cli("eval", "--dataset", "pairs", "--dataset-dir", data, "--model-config", config, "--baseline-config",
                 config, "--output-dir", config)
    refused(result, 2, "--output-dir", "is a file")
    assert tree(tmp_path) == before


# --- registry YAML, --weight -----------------------------------------------------------------------------------------

YAML = """# my datasets, by hand
old:   # the first one
  path: data/old.jsonl
  source: local
  converter: pair  # keep me
zeta: {path: data/z.jsonl, source: local, converter: pair}
"""


def test_a_registry_yaml_edit_keeps_comments_and_order(tmp_path, cli, monkeypatch):
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "dataset_info.yaml").write_text(YAML)
    monkeypatch.chdir(tmp_path)
    result = cli("convert", fixture("dpo_en_demo.sample.json"), "--to", "lf-v1", "-o", "ds/p.jsonl", "--register", "p",
                 "--dataset-dir", "ds", "--weight", "0.5", "-q")
    assert result.exit_code == 0, result.output
    text = (ds / "dataset_info.yaml").read_text()
    assert text.startswith(YAML), text  # every byte the user wrote, comments and order, then the new entry
    import yaml

    assert list(yaml.safe_load(text)) == ["old", "zeta", "p"]
    assert yaml.safe_load(text)["p"] == {"path": "ds/p.jsonl", "source": "local", "converter": "pair", "weight": 0.5}


@pytest.mark.parametrize("weight", ["nan", "inf", "-inf", "0", "-1"])
def test_a_weight_that_is_no_positive_number_is_refused(tmp_path, cli, weight):
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "dataset_info.yaml").write_text(YAML)
    before = tree(tmp_path)
    result = cli("convert", fixture("dpo_en_demo.sample.json"), "--to", "lf-v1", "-o", ds / "p.jsonl", "--register", "p",
                 "--dataset-dir", ds, "--weight", weight)
    refused(result, 2, "--weight", "finite number above 0")
    assert tree(tmp_path) == before
