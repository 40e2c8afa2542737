"""``convert -o DIR/``: a folder of JSONL parts, written where each block was mapped (prefkit.pipeline.shards).

The parts in name order hold the bytes one ``-o FILE.jsonl`` holds, and so do the rejects' parts, in this process
and on Ray (whatever the sink decides: duplicates, KTO contradictions, near-duplicates); LLaMA-Factory loads the
registered folder whole; validate reads it; what the run harness refuses for a file output it refuses here too."""

from __future__ import annotations

import base64
import io
import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import ROOT, fixture
from prefkit.cli import app
from prefkit.pipeline import executors

CASES = [  # (fixture, --from, --to, options): what the sink decides, each way
    ("dpo_en_demo.sample.json", "sharegpt", "sharegpt", ()),
    ("oasst_en_tree.sample.jsonl", "oasst", "kto", ("--dedup",)),  # KTO: contradictory labels, duplicates
    ("hh_rlhf.edge.jsonl", "hh-rlhf", "sharegpt", ("--dedup",)),
    ("medicalgpt_dpo_zh.sample.jsonl", "auto", "alpaca", ("--near-dedup",)),
    ("openai_logs.sample.jsonl", "openai-logs", "kto", ()),  # groups rows: runs in the driver, parts too
]


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(executors, "BLOCK_ROWS", 3)  # many parts
    monkeypatch.setattr(executors, "RANGE_BYTES", 700)


def _run(*args: str) -> None:
    result = CliRunner().invoke(app, ["convert", *args, "-q"])
    assert result.exit_code == 0, result.output


def _joined(folder: Path) -> bytes:
    parts = sorted(folder.iterdir())
    assert all(p.name.startswith("part-") and p.suffix == ".jsonl" for p in parts), parts
    return b"".join(p.read_bytes() for p in parts)


def _report(path: Path) -> dict:
    report = json.loads(path.read_text())
    for key in ("output", "rejects_file"):
        report.pop(key)
    if report["dataset_info_entry"]:
        report["dataset_info_entry"].pop("file_name")  # one.jsonl or parts
    return report


def _file_and_folder(tmp_path: Path, source: str | list[str], fmt: str, to: str, options: tuple[str, ...],
                     *folder_options: str) -> tuple[dict, dict]:
    """The same convert to one file and to a folder of parts: (rows, rejects, report) of each (``source``: a
    fixture's name, or paths)."""
    args = [fixture(source), "--from", fmt, "--to", to, *options] if isinstance(source, str) else \
        [*source, "--from", fmt, "--to", to, *options]
    _run(*args, "-o", str(tmp_path / "one.jsonl"), "--rejects", str(tmp_path / "one.rejects.jsonl"),
         "--report-json", str(tmp_path / "one.json"))
    _run(*args, "-o", f"{tmp_path / 'parts'}/", "--report-json", str(tmp_path / "parts.json"), *folder_options)
    one = {"rows": (tmp_path / "one.jsonl").read_bytes(), "rejects": (tmp_path / "one.rejects.jsonl").read_bytes(),
           "report": _report(tmp_path / "one.json")}
    rejects = tmp_path / "parts.rejects"
    parts = {"rows": _joined(tmp_path / "parts"), "rejects": _joined(rejects) if rejects.exists() else b"",
             "report": _report(tmp_path / "parts.json")}
    return one, parts


@pytest.mark.parametrize("source, fmt, to, options", CASES, ids=[f"{c[0]}-{c[2]}{''.join(c[3])}" for c in CASES])
def test_the_parts_hold_the_bytes_of_one_file(tmp_path, small_blocks, source, fmt, to, options):
    one, parts = _file_and_folder(tmp_path, source, fmt, to, options)
    assert parts == one
    assert one["rows"] and len(list((tmp_path / "parts").iterdir())) > 1  # several parts, something written


def test_the_sink_decisions_reach_the_parts(tmp_path, small_blocks):
    """Duplicates across parts are rejected in the part of the later row, with its record."""
    rows = [{"prompt": f"q{i % 4}", "response_a": "a" if i % 2 else "b", "response_b": "c", "winner": "model_a"}
            for i in range(20)]
    src = tmp_path / "dups.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _run(str(src), "-o", f"{tmp_path / 'out'}/", "--dedup")
    written = [json.loads(line) for line in _joined(tmp_path / "out").splitlines()]
    rejects = [json.loads(line) for line in _joined(tmp_path / "out.rejects").splitlines()]
    assert len(written) == 4 and len(rejects) == 16
    assert {r["reason"] for r in rejects} == {"duplicate_pair"}
    assert all(r["record"] in written for r in rejects)  # the part writer filled in each record


def test_validate_reads_the_folder_as_the_file(tmp_path, small_blocks):
    one, _ = _file_and_folder(tmp_path, "dpo_en_demo.sample.json", "sharegpt", "sharegpt", ())
    reports = []
    for target in (tmp_path / "one.jsonl", tmp_path / "parts"):
        out = tmp_path / f"{target.name}.validate.json"
        result = CliRunner().invoke(app, ["validate", str(target), "--report-json", str(out), "-q"])
        assert result.exit_code in (0, 1), result.output
        report = json.loads(out.read_text())
        for key in ("dataset", "entry", "file"):  # they name the file or the folder
            report.pop(key)
        reports.append(report)
    assert reports[0] == reports[1] and reports[0]["records"] == len(one["rows"].splitlines())


def test_a_folder_output_is_refused_where_a_file_one_is(tmp_path, cli):
    src = fixture("dpo_en_demo.sample.json")
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    result = cli("convert", src, "-o", f"{foreign}/")
    assert result.exit_code == 2 and "did not write (notes.txt)" in result.output
    assert (foreign / "notes.txt").read_text() == "keep me"
    result = cli("convert", src, "-o", f"{tmp_path / 'x'}/", "--save-to-disk", str(tmp_path / "saved"))
    assert result.exit_code == 2 and "--save-to-disk goes with a file output" in result.output
    result = cli("convert", src, "-o", f"{tmp_path / 'gone' / 'x'}/")
    assert result.exit_code != 0 and "does not exist" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # nothing left behind


def test_a_second_run_replaces_the_parts_and_stale_rejects(tmp_path, small_blocks):
    rows = [{"prompt": "q", "response_a": "a", "response_b": "b", "winner": w} for w in ("model_a", "tie", "model_a")]
    src = tmp_path / "votes.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = f"{tmp_path / 'out'}/"
    _run(str(src), "-o", out)
    assert (tmp_path / "out.rejects").is_dir()
    src.write_text(json.dumps(rows[0]) + "\n")
    _run(str(src), "-o", out)
    assert not (tmp_path / "out.rejects").exists()  # no rejects now: the old ones would be wrong
    assert len(_joined(tmp_path / "out").splitlines()) == 1


def test_parts_that_lose_a_row_are_an_internal_error_and_nothing_is_written(tmp_path, small_blocks, monkeypatch):
    """Every row the sink kept must be in a part: a part writer that drops one fails the run, changing nothing."""
    from prefkit import convert
    from prefkit.pipeline import shards

    write = shards.write_part
    monkeypatch.setattr(shards, "write_part", lambda task: (lambda n: (max(n[0] - 1, 0), n[1]))(write(task)))
    with pytest.raises(RuntimeError, match="internal error: -o .*parts hold"):
        convert([fixture("dpo_en_demo.sample.json")], f"{tmp_path / 'out'}/")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.llamafactory
def test_llamafactory_loads_the_registered_folder(tmp_path, lf_python, small_blocks):
    version, python = lf_python
    data = tmp_path / "data"
    data.mkdir()
    _run(fixture("dpo_en_demo.sample.json"), "-o", f"{data / 'pairs'}/", "--register", "pairs", "--dataset-dir",
         str(data))
    _run(fixture("kto_en_demo.sample.json"), "--to", "kto", "-o", f"{data / 'kto'}/", "--register", "kto",
         "--dataset-dir", str(data))
    info = json.loads((data / "dataset_info.json").read_text())
    assert info["pairs"]["file_name"] == "pairs" and len(list((data / "pairs").iterdir())) > 1
    proc = subprocess.run([str(python), str(ROOT / "tests" / "tools" / "lf_load.py"), str(data), "pairs:rm", "kto:kto"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [r["name"] for r in results] == ["pairs", "kto"]
    for result in results:
        assert result["version"] == version and result["rows_out"] == result["rows_in"] > 0, result


def _crossing(tmp_path: Path, kind: str) -> list[str]:
    """Two inputs whose exact duplicates, prompt duplicates and (KTO) contradictory labels cross blocks and inputs."""
    paths = []
    for n, name in enumerate(("first.jsonl", "second.jsonl")):
        rows = []
        for i in range(n * 7, n * 7 + 40):
            if kind == "kto":  # same prompt and answer, labelled either way over the run
                rows.append({"prompt": f"q{i % 7}", "completion": f"a{i % 3}", "label": (i // 5) % 2 == 0})
            else:  # a pair repeats; a prompt recurs with other answers
                rows.append({"prompt": f"q{i % 6}", "response_a": f"a{i % 4}", "response_b": "b",
                             "winner": "model_a" if i % 9 else "tie"})
        paths.append(str(tmp_path / name))
        Path(paths[-1]).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return paths


CROSSING = [("kto", "kto-rows", "kto", ("--dedup",)), ("kto", "kto-rows", "kto", ()),
            ("pairs", "pairwise", "sharegpt", ("--dedup",)), ("pairs", "pairwise", "sharegpt", ())]


@pytest.mark.ray
class TestOnRay:
    """The part writers run on the Ray workers; the bytes are the same as one local file's."""

    @pytest.fixture(autouse=True)
    def _ray(self):
        ray = pytest.importorskip("ray", reason="Ray is not installed (make setup installs prefkit[scale])")
        from test_scale import _start_ray

        _start_ray()
        yield ray

    @pytest.mark.parametrize("source, fmt, to, options", CASES, ids=[f"{c[0]}-{c[2]}{''.join(c[3])}" for c in CASES])
    def test_the_parts_hold_the_bytes_of_one_local_file(self, tmp_path, small_blocks, source, fmt, to, options):
        one, parts = _file_and_folder(tmp_path, source, fmt, to, options, "--executor", "ray")
        assert parts == one and one["rows"]

    @pytest.mark.parametrize("kind, fmt, to, options", CROSSING, ids=[f"{c[0]}{''.join(c[3])}" for c in CROSSING])
    def test_decisions_across_blocks_and_inputs_are_the_sinks(self, tmp_path, small_blocks, kind, fmt, to, options):
        """The cluster decides contradictions, duplicates and prompt duplicates as the in-process Sink does."""
        inputs = _crossing(tmp_path, kind)
        one, parts = _file_and_folder(tmp_path, inputs, fmt, to, options, "--executor", "ray")
        assert parts == one
        report = one["report"]
        assert report["exact_duplicates"] and report["prompt_duplicates"]
        blocks = {p.name for folder in ("parts", "parts.rejects") for p in (tmp_path / folder).iterdir()}
        assert len(blocks) > 5  # many blocks: the decisions cross them
        if kind == "kto":
            assert report["rejected_by_reason"]["contradictory_label"] and f"of {inputs[0]}".encode() in one["rejects"]
        assert ("duplicate_pair" in report["rejected_by_reason"]) == bool(options)

    def test_the_driver_keeps_no_key_sets(self, tmp_path, small_blocks, monkeypatch):
        """On Ray with -o DIR/ the cluster decides: the driver's Sink holds no digest, prompt or label."""
        from prefkit import convert
        from prefkit.pipeline import convert as convert_module

        sinks = []
        make = convert_module._sink
        monkeypatch.setattr(convert_module, "_sink", lambda *args: sinks.append(make(*args)) or sinks[-1])
        report = convert(_crossing(tmp_path, "kto"), f"{tmp_path / 'out'}/", fmt="kto-rows", to="kto", dedup=True,
                         executor="ray")
        assert report.exact_duplicates and report.prompt_duplicates and report.rejected_by_reason["contradictory_label"]
        (sink,) = sinks
        assert sink.ordered is not None and not sink._exact and not sink._prompts and not sink._labels

    def test_data_images_are_written_by_the_workers(self, tmp_path, small_blocks):
        src = tmp_path / "chats.jsonl"
        src.write_text("".join(json.dumps(_chat(i)) + "\n" for i in range(12)))
        _run(str(src), "-o", str(tmp_path / "one.jsonl"))
        _run(str(src), "-o", f"{tmp_path / 'parts'}/", "--executor", "ray")
        rows = _joined(tmp_path / "parts")  # the rows name the images in parts_images/, not one_images/
        assert rows.replace(b"parts_images/", b"one_images/") == (tmp_path / "one.jsonl").read_bytes()
        images = {p.name: p.read_bytes() for p in (tmp_path / "one_images").iterdir()}
        assert len(images) == 3 and {p.name: p.read_bytes() for p in (tmp_path / "parts_images").iterdir()} == images
        assert not list((tmp_path / "parts").glob(".*"))  # no spill left


def _chat(i: int) -> dict:
    """A chat whose prompt holds one of 3 images as a data: URL."""
    image = pytest.importorskip("PIL.Image").new("RGB", (8, 8), (60 * (i % 3), 90, 30))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    prompt = [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": f"What is in {i}?"}]
    return {"messages": [{"role": "user", "content": prompt}], "chosen": {"role": "assistant", "content": "A square."},
            "rejected": {"role": "assistant", "content": "A cat."}}
