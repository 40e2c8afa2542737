"""The I/O layer: outputs never destroy inputs, writes are atomic, modes and symlinks are kept, temporary
files never outlive a run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prefkit.cli import app
from prefkit.errors import InputError, RegistryError, UsageError
from prefkit.io import files as io
from prefkit.pipeline.convert import convert
from prefkit.registry import info as registry

ROW = {"conversations": [{"from": "human", "value": "Hi"}], "chosen": {"from": "gpt", "value": "A"},
       "rejected": {"from": "gpt", "value": "B"}}


def _jsonl(path: Path, rows: list) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_an_output_that_names_an_input_is_refused_before_anything_is_written(tmp_path):
    src = _jsonl(tmp_path / "in.jsonl", [ROW])
    before = Path(src).read_bytes()
    for option in ("rejects", "report_json"):
        with pytest.raises(UsageError, match="is also the input"):
            convert([src], str(tmp_path / "out.json"), **{option: src})
    assert Path(src).read_bytes() == before and not (tmp_path / "out.json").exists()


def test_the_default_rejects_path_of_a_rejects_file_is_refused(tmp_path):
    src = _jsonl(tmp_path / "x.rejects.jsonl", [ROW])
    with pytest.raises(UsageError, match="--rejects"):
        convert([src], str(tmp_path / "x.jsonl"))
    assert Path(src).exists()


def test_the_registry_is_never_an_output(tmp_path):
    src = _jsonl(tmp_path / "in.jsonl", [ROW])
    with pytest.raises(UsageError, match="registry"):
        convert([src], str(tmp_path / "dataset_info.json"))


def test_a_name_conflict_changes_no_file(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "dataset_info.json").write_text(json.dumps({"pairs": {"file_name": "other.json"}}))
    (data / "pairs.json").write_text("[]\n")
    src = _jsonl(tmp_path / "in.jsonl", [ROW])
    with pytest.raises(RegistryError, match="different entry"):
        convert([src], str(data / "pairs.json"), register="pairs", dataset_dir=str(data))
    assert (data / "pairs.json").read_text() == "[]\n"


def test_a_conflict_found_only_at_the_end_changes_no_file(tmp_path):
    """Same file name, other columns: found under the registry lock, before any file is replaced."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "dataset_info.json").write_text(json.dumps({"pairs": {"file_name": "pairs.json", "formatting": "alpaca"}}))
    (data / "pairs.json").write_text("[]\n")
    src = _jsonl(tmp_path / "in.jsonl", [ROW])
    with pytest.raises(RegistryError, match="different entry"):
        convert([src], str(data / "pairs.json"), register="pairs", dataset_dir=str(data))
    assert (data / "pairs.json").read_text() == "[]\n"
    assert not [p for p in os.listdir(data) if p.endswith(".tmp")]


def test_a_corrupt_registry_is_found_before_the_output_is_written(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "dataset_info.json").write_bytes(json.dumps({"d": {"file_name": "d.json"}}).encode("utf-16"))
    src = _jsonl(tmp_path / "in.jsonl", [ROW])
    with pytest.raises(RegistryError, match="UTF-8"):
        convert([src], str(data / "new.json"), register="new", dataset_dir=str(data))
    assert not (data / "new.json").exists()


def test_mode_is_kept_and_a_symlinked_registry_stays_a_link(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    real = tmp_path / "shared_info.json"
    real.write_text("{}\n")
    os.chmod(real, 0o600)
    (data / "dataset_info.json").symlink_to(real)
    src = _jsonl(tmp_path / "in.jsonl", [ROW])
    convert([src], str(data / "pairs.json"), register="pairs", dataset_dir=str(data))
    assert (data / "dataset_info.json").is_symlink()
    assert "pairs" in json.loads(real.read_text())
    assert oct(real.stat().st_mode & 0o777) == oct(0o600)


def test_new_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        io.write_text(str(tmp_path / "r.json"), "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o640


def test_a_planted_symlink_at_a_temporary_name_is_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    for pid_guess in range(os.getpid(), os.getpid() + 3):  # the old scheme's predictable name
        (tmp_path / f"report.json.tmp{pid_guess}").symlink_to(victim)
    io.write_json(str(tmp_path / "report.json"), {"a": 1})
    assert victim.read_text() == "keep"


def test_stale_temporary_files_of_a_dead_run_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f"{io.TEMP_PREFIX}out.json.{dead.stdout.strip()}.abc.tmp"
    stale.write_text("half")
    io.write_text(str(tmp_path / "out.json"), "[]")
    assert not stale.exists()


def test_sigterm_removes_the_temporary_file(tmp_path):
    code = ("import sys, time; from prefkit.io import files as io\n"
            "f = io.RowFile(sys.argv[1]).open(); f.write({'a': 1}); f.file.flush()\n"
            "print('ready', flush=True); time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "big.json")], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    assert [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    child.send_signal(signal.SIGTERM)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGTERM
    assert os.listdir(tmp_path) == []


def test_outputs_commit_together_or_not_at_all(tmp_path):
    with pytest.raises(RuntimeError), io.Outputs() as outs:
        outs.rows(str(tmp_path / "a.json")).write({"a": 1})
        raise RuntimeError("a step failed")
    assert os.listdir(tmp_path) == []


def test_a_missing_output_folder_is_one_clear_error(tmp_path):
    src = _jsonl(tmp_path / "in.jsonl", [ROW])
    with pytest.raises(InputError, match="does not exist"):
        convert([src], str(tmp_path / "nowhere" / "out.json"))


@pytest.mark.parametrize("folder", ["/sys", "/proc"])
def test_a_folder_that_refuses_writes_is_one_clear_error(tmp_path, folder):
    src = _jsonl(tmp_path / "in.jsonl", [ROW])
    result = CliRunner().invoke(app, ["convert", src, "-o", f"{folder}/out.jsonl"])
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {folder}/out.jsonl: cannot write in {folder}"), result.output


def test_registry_entries_of_the_wrong_shape_are_named(tmp_path):
    (tmp_path / "dataset_info.json").write_text(json.dumps({"a": "a.json", "b": {"file_name": "b.json", "columns": []}}))
    with pytest.raises(RegistryError, match=r": a: expected an object"):
        registry.get_entry(str(tmp_path), "a")
    with pytest.raises(RegistryError, match=r"b\.columns: expected dict"):
        registry.get_entry(str(tmp_path), "b")


def test_dumps_writes_what_orjson_refuses():
    assert json.loads(io.dumps({"n": 10 ** 30})) == {"n": 10 ** 30}
    deep: list = []
    for _ in range(300):
        deep = [deep]
    assert io.dumps(deep).startswith(b"[[[")
    assert json.loads(io.dumps("a\ud800b")) == "a\ud800b"


def test_no_temp_file_survives_a_failed_convert(tmp_path):
    src = _jsonl(tmp_path / "in.jsonl", [])
    with pytest.raises(InputError, match="no records"):
        convert([src], str(tmp_path / "out.json"), fmt="sharegpt")
    assert sorted(os.listdir(tmp_path)) == ["in.jsonl"]
