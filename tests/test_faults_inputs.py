"""Faults in what a command reads (issue 28, items 3-4): inputs that are no regular file (a FIFO, a device), records
past the record size limit, invalid Unicode, image files that are devices, FIFOs, too big or decompression bombs, and
`<image>` placeholders that do not match the images. Every run is bounded: a command runs in a subprocess with a
timeout, so a regression fails instead of hanging; the limit is lowered with PREFKIT_MAX_RECORD_BYTES instead of
writing gigabytes. Each refusal is one line naming the file (and the record and field); nothing is lost
(input_records == accepted + rejected)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import ROOT, write_jsonl
from prefkit.errors import DataError
from prefkit.serving.image_parts import api_data_url, image_urls
from prefkit.images.files import ImageRef, ImageTooLarge, ImageUnreadable, probe_image, read_image_file
from prefkit.io.sources import iter_rows, jsonl_ranges
from prefkit.label.media import load_images
from prefkit.records import Message, Provenance, RowProblem, UnlabeledPair

PREFKIT = [sys.executable, "-c", "from prefkit.cli import main; main()"]
PAIR = {"instruction": "Name a colour.", "chosen": "Blue.", "rejected": "A cat."}
TIMEOUT = 120  # seconds: a hang fails the test


def run(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([*PREFKIT, *map(str, args)], capture_output=True, text=True, timeout=TIMEOUT,
                              env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}, cwd=ROOT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"prefkit {' '.join(map(str, args))} did not finish in {TIMEOUT} s (a FIFO or device read?)")


def error_line(proc: subprocess.CompletedProcess) -> str:
    """The one error line on stderr (and no traceback)."""
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def balanced(report: Path) -> dict:
    said = json.loads(report.read_text())
    assert said["input_records"] == said["accepted"] + said["rejected"], said
    return said


# --- inputs that are no regular file are refused up front ------------------------------------------------------

@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pairs.jsonl"
    os.mkfifo(path)
    return path


@pytest.fixture
def device(tmp_path: Path) -> Path:
    path = tmp_path / "zero.jsonl"  # a name prefkit reads; the file is /dev/zero
    path.symlink_to("/dev/zero")
    return path


def _commands(source: Path, tmp: Path) -> dict[str, list[object]]:
    data = tmp / "data"
    data.mkdir(exist_ok=True)
    return {"convert": ["convert", source, "--to", "alpaca", "-o", tmp / "out.jsonl"],
            "validate": ["validate", source],
            "register": ["register", "pairs", "--file", source, "--dataset-dir", data],
            "decontaminate": ["convert", write_jsonl(tmp / "ok.jsonl", [PAIR]), "--to", "alpaca", "-o",
                              tmp / "out.jsonl", "--decontaminate", source]}


@pytest.mark.parametrize("command", ["convert", "validate", "register", "decontaminate"])
@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_fifo_or_device_is_refused_in_one_line_without_waiting(request, tmp_path, command, kind):
    source = request.getfixturevalue(kind)
    args = _commands(source, tmp_path)[command]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    proc = run(*args)
    assert proc.returncode == 2, proc.stderr
    line = error_line(proc)
    assert str(source) in line or source.name in line, line
    assert ("a FIFO" if kind == "fifo" else "a character device") in line, line
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written


def test_the_library_refuses_a_fifo_without_opening_it(fifo):
    from prefkit.errors import InputError

    with pytest.raises(InputError, match="a FIFO"):
        next(iter_rows(str(fifo)))
    with pytest.raises(InputError, match="a FIFO"):
        next(jsonl_ranges(str(fifo)))


# --- a record past the size limit is a reject, read past in chunks -----------------------------------------------

LIMIT = {"PREFKIT_MAX_RECORD_BYTES": "1000"}


def _long_inputs(tmp: Path) -> dict[str, Path]:
    long = dict(PAIR, chosen="x" * 5000)
    lines = tmp / "long.jsonl"
    lines.write_text("".join(json.dumps(r) + "\n" for r in (PAIR, long, dict(PAIR, instruction="Name a fruit."))))
    array = tmp / "long.json"
    array.write_text(json.dumps([PAIR, long, dict(PAIR, instruction="Name a fruit.")], indent=1))
    table = tmp / "long.csv"
    table.write_text(f"instruction,chosen,rejected\nName a colour.,Blue.,A cat.\nq,{'y' * 5000},z\n"
                     "Name a fruit.,Blue.,A cat.\n")
    return {"jsonl": lines, "json": array, "csv": table}


@pytest.mark.parametrize("kind,line", [("jsonl", 2), ("json", 7), ("csv", 3)])
def test_a_record_past_the_limit_is_a_reject_naming_its_line(tmp_path, kind, line):
    source = _long_inputs(tmp_path)[kind]
    out, rejects, report = tmp_path / "out.jsonl", tmp_path / "rejects.jsonl", tmp_path / "report.json"
    proc = run("convert", source, "--from", "alpaca", "--to", "alpaca", "-o", out, "--rejects", rejects,
               "--report-json", report, env=LIMIT)
    assert proc.returncode == 0, proc.stderr
    said = balanced(report)
    assert (said["accepted"], said["rejected"]) == (2, 1)
    [reject] = rows(rejects)
    assert reject["reason"] == "record_too_large" and reject["index"] == 1 and reject["line"] == line, reject
    assert "PREFKIT_MAX_RECORD_BYTES" in reject["message"] and "1,000" in reject["message"]
    assert len(reject["record"]) <= 200  # a head of the record, not the record
    assert [r["instruction"] for r in rows(out)] == ["Name a colour.", "Name a fruit."]


def test_validate_reports_a_record_past_the_limit_as_an_error(tmp_path):
    source = _long_inputs(tmp_path)["jsonl"]
    report = tmp_path / "v.json"
    proc = run("validate", source, "--report-json", report, "-q", env=LIMIT)
    assert proc.returncode == 1, proc.stderr
    assert json.loads(report.read_text())["records"] == 3 and "record_too_large" in report.read_text()


def test_a_long_line_is_never_held_whole_by_the_line_ranges(tmp_path, monkeypatch):
    """The Ray executor's line ranges: the same rows as the plain reader, the long line one reject."""
    monkeypatch.setenv("PREFKIT_MAX_RECORD_BYTES", "1000")
    source = tmp_path / "mixed.jsonl"
    long = json.dumps(dict(PAIR, chosen="x" * 5000))
    source.write_text("\n".join([json.dumps(PAIR), long, "", "   " * 600, long, json.dumps(PAIR)]) + "\n")
    plain = [(r.index, r.line, r.reason if r.error else None) for r in iter_rows(str(source))]
    ranged = [(r.index, r.line, r.reason if r.error else None)
              for block in jsonl_ranges(str(source), size=700) for r in block.rows()]
    assert ranged == plain
    assert [reason for *_, reason in plain] == [None, "record_too_large", "record_too_large", "record_too_large",
                                                None]  # 1,800 blanks are past the limit too: a record, rejected


def test_a_bad_limit_value_is_a_one_line_error(tmp_path):
    source = write_jsonl(tmp_path / "ok.jsonl", [PAIR])
    proc = run("convert", source, "--to", "alpaca", "-o", tmp_path / "out.jsonl",
               env={"PREFKIT_MAX_RECORD_BYTES": "lots"})
    assert proc.returncode == 2 and "PREFKIT_MAX_RECORD_BYTES" in error_line(proc)
    assert not (tmp_path / "out.jsonl").exists()


# --- invalid Unicode: a reject naming record and field, an error in validate -------------------------------------

def test_a_lone_surrogate_is_a_reject_in_convert_and_an_error_in_validate(tmp_path):
    raw = tmp_path / "raw.jsonl"  # json.dumps writes the lone surrogate as the escape "\udfff"
    raw.write_text(json.dumps(dict(PAIR, rejected="A cat.\udfff")) + "\n" + json.dumps(PAIR) + "\n")
    out, rejects, report = tmp_path / "out.jsonl", tmp_path / "rejects.jsonl", tmp_path / "report.json"
    proc = run("convert", raw, "--from", "alpaca", "--to", "alpaca", "-o", out, "--rejects", rejects,
               "--report-json", report)
    assert proc.returncode == 0, proc.stderr
    assert (balanced(report)["accepted"], balanced(report)["rejected"]) == (1, 1)
    [reject] = rows(rejects)
    assert reject["reason"] == "invalid_unicode" and reject["line"] == 1
    assert reject["message"].startswith("rejected: a lone surrogate U+DFFF"), reject
    proc = run("validate", raw)
    assert proc.returncode == 1 and "invalid_unicode" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    array = tmp_path / "raw.json"
    array.write_text(json.dumps([PAIR, {"instruction": "x", "chosen": "y", "rejected": "z", "\ud800k": 1}]))
    [_, row] = list(iter_rows(str(array)))
    assert row.reason == "invalid_unicode" and row.field == "\\ud800k" and row.index == 1


# --- image files: one bounded reader for validate, label push and eval --------------------------------------------

def _png(path: Path, size: tuple[int, int] = (8, 8), mode: str = "RGB") -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size).save(path)
    return path


def _finishes(work, seconds: float = 30):
    """``work()``'s result or exception, failing the test if it blocks (a FIFO opened for reading)."""
    done: dict[str, object] = {}

    def target() -> None:
        try:
            done["value"] = work()
        except BaseException as err:  # noqa: BLE001 - handed to the test
            done["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked reading an image (a FIFO?)"
    if "error" in done:
        raise done["error"]  # type: ignore[misc]
    return done.get("value")


@pytest.fixture
def odd_images(tmp_path: Path) -> dict[str, str]:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    return {"fifo": str(fifo), "device": "/dev/zero", "folder": str(tmp_path)}


@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_the_image_reader_refuses_what_is_no_regular_file(odd_images, kind):
    path = odd_images[kind]
    with pytest.raises(ImageUnreadable, match="not an image file"):
        _finishes(lambda: read_image_file(path))
    with pytest.raises(ImageUnreadable, match="not an image file"):
        _finishes(lambda: probe_image(path))
    with pytest.raises(DataError, match=r"row 3: images\[0\]: image .* unreadable"):  # eval's path
        _finishes(lambda: image_urls([ImageRef("images[0]", path, path)], "row 3"))


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_label_push_rejects_a_pair_whose_image_is_a_fifo_or_device(odd_images, tmp_path, kind):
    pair = UnlabeledPair(prompt=[Message(role="user", content="<image>What is it?")],
                         response_a=Message(role="assistant", content="A."),
                         response_b=Message(role="assistant", content="B."), images=[odd_images[kind]],
                         provenance=Provenance(source=str(tmp_path / "pairs.jsonl"), index=0))
    with pytest.raises(RowProblem) as problem:
        _finishes(lambda: load_images(pair))
    assert problem.value.reason == "image_unreadable" and problem.value.message.startswith("images[0]: ")


def test_an_image_file_past_the_byte_limit_is_too_large(tmp_path, monkeypatch):
    image = _png(tmp_path / "a.png", (64, 64))
    monkeypatch.setenv("PREFKIT_MAX_IMAGE_BYTES", "50")
    with pytest.raises(ImageTooLarge, match="PREFKIT_MAX_IMAGE_BYTES"):
        read_image_file(str(image))
    with pytest.raises(ImageTooLarge):
        api_data_url(str(image))


def _sharegpt(images: list[str], prompt: str = "<image>What is this?") -> dict:
    return {"conversations": [{"from": "human", "value": prompt}], "chosen": {"from": "gpt", "value": "A square."},
            "rejected": {"from": "gpt", "value": "A cat."}, "images": images}


def test_a_decompression_bomb_is_a_finding_never_a_warning(tmp_path):
    _png(tmp_path / "bomb.png", (12_000, 12_000), mode="1")  # 144 megapixels, a few kB on disk
    _png(tmp_path / "ok.png")
    source = write_jsonl(tmp_path / "pairs.jsonl", [_sharegpt(["ok.png"]), _sharegpt(["bomb.png"])])
    report = tmp_path / "v.json"
    proc = run("validate", source, "--report-json", report)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "DecompressionBomb" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr
    [error] = json.loads(report.read_text())["errors"]
    assert (error["index"], error["code"], error["path"]) == (1, "image_too_large", "images[0]")
    with pytest.raises(ImageTooLarge, match="144,000,000 pixels"):
        probe_image(str(tmp_path / "bomb.png"))


def test_validate_names_an_image_that_is_a_fifo_without_waiting(tmp_path):
    """A relative FIFO is not what LLaMA-Factory opens (it joins media_dir only for a regular file): missing; given
    as an absolute path it is opened, and refused as a FIFO."""
    os.mkfifo(tmp_path / "pipe.png")
    source = write_jsonl(tmp_path / "pairs.jsonl", [_sharegpt(["pipe.png"]), _sharegpt([str(tmp_path / "pipe.png")]),
                                                    _sharegpt(["/dev/zero"])])
    report = tmp_path / "v.json"
    proc = run("validate", source, "--report-json", report)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = json.loads(report.read_text())["errors"]
    assert {(e["index"], e["code"], e["path"]) for e in errors} == {
        (0, "image_missing", "images[0]"), (1, "image_unreadable", "images[0]"), (2, "image_unreadable", "images[0]")}
    assert "is a FIFO" in errors[1]["message"] and "is a device" in errors[2]["message"]


# --- <image> placeholders that do not match the images: convert's reject -----------------------------------------

def test_convert_rejects_placeholders_that_do_not_match_the_images(tmp_path):
    _png(tmp_path / "a.png")
    source = write_jsonl(tmp_path / "raw.jsonl", [
        _sharegpt(["a.png"]),                                         # 0 kept
        _sharegpt(["a.png"], "<image><image>Compare them."),          # 1 two placeholders, one image
        _sharegpt(["a.png", "a.png"]),                                # 2 one placeholder, two images
        {**_sharegpt(["a.png"]), "chosen": {"from": "gpt", "value": "<image> A square."}}])  # 3 one in an answer
    for to in ("sharegpt", "alpaca", "kto"):
        out, rejects, report = tmp_path / f"{to}.json", tmp_path / f"{to}.rejects.jsonl", tmp_path / f"{to}.r.json"
        proc = run("convert", source, "--from", "sharegpt", "--to", to, "-o", out, "--rejects", rejects,
                   "--report-json", report)
        assert proc.returncode == 0, proc.stderr
        balanced(report)
        found = {(r["index"], r["reason"]) for r in rows(rejects)}  # kto: the example of the clean answer of 3 stays
        assert found == {(1, "image_count_mismatch"), (2, "image_count_mismatch"), (3, "image_in_answer")}, found
        messages = {r["index"]: r["message"] for r in rows(rejects)}
        assert messages[1].startswith("images: 1 image(s) but 2 <image> placeholders in the prompt (prompt[0].content")
        side = "completion" if to == "kto" else "chosen"
        assert messages[3].startswith(f"{side}.content: the {side} answer holds 1 <image> placeholder"), messages[3]
        check = run("validate", out, "--report-json", tmp_path / f"{to}.v.json")
        assert check.returncode == 0, check.stdout + check.stderr  # what convert writes, validate passes
