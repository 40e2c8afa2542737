"""Faults the operating system makes: a full disk names the file it could not write (a real 64 KiB tmpfs where this
runs as root, and /dev/full, which fails every write with ENOSPC, everywhere), and a signal ends a Ray run as it ends
a local one, by the signal (tests/test_faults.py has the local executor's)."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT
from prefkit.errors import InputError

PREFKIT = [sys.executable, "-c", "from prefkit.cli import main; main()"]
ROW = {"conversations": [{"from": "human", "value": "question"}], "chosen": {"from": "gpt", "value": "a good answer"},
       "rejected": {"from": "gpt", "value": "a bad answer"}}


def _rows(path: Path, n: int) -> Path:
    with open(path, "w") as f:
        for k in range(n):
            f.write(json.dumps({**ROW, "conversations": [{"from": "human", "value": f"question {k} " + "x" * 200}]}))
            f.write("\n")
    return path


@pytest.fixture
def full_disk(tmp_path):
    """A folder on a 64 KiB tmpfs (root only: skipped elsewhere; /dev/full tests the same mechanism)."""
    folder = tmp_path / "small"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.parametrize("option", ["-o", "--rejects"])
def test_a_full_disk_names_the_file_it_could_not_write(tmp_path, full_disk, option):
    source = _rows(tmp_path / "in.jsonl", 600)  # ~150 KB of output: more than the disk holds
    if option == "--rejects":  # ~200 KB of rejects: every other row has no answers
        with open(source, "a") as f:
            f.write("".join(json.dumps({"conversations": ROW["conversations"], "n": "y" * 300}) + "\n" for _ in range(600)))
    before = source.read_bytes()
    target = full_disk / "big.jsonl"
    out = target if option == "-o" else tmp_path / "out.jsonl"
    args = ["-o", str(out)] + (["--rejects", str(target)] if option == "--rejects" else [])
    proc = subprocess.run([*PREFKIT, "convert", str(source), *args, "-q", "--from", "sharegpt"], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == f"Error: {target}: cannot write it (no space left on device)\n"
    assert os.listdir(full_disk) == [] and source.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "small"]


def test_a_full_disk_names_the_file_in_the_python_api_too(tmp_path, full_disk):
    import prefkit

    rows = [{**ROW, "conversations": [{"from": "human", "value": f"q {k} " + "x" * 300}]} for k in range(400)]
    with pytest.raises(InputError, match=f"^{full_disk / 'out.jsonl'}: cannot write it \\(no space left on device\\)$"):
        prefkit.convert(rows, str(full_disk / "out.jsonl"), fmt="sharegpt")
    assert os.listdir(full_disk) == []


def test_a_failed_write_that_names_no_file_names_the_file_prefkit_writes():
    """/dev/full fails every write with ENOSPC and, as a full disk does, the OSError names no file."""
    from prefkit.io.files import open_named

    out = open_named("/dev/full", "wb")
    out.write(b"x" * 10)
    with pytest.raises(OSError) as caught:
        out.flush()
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == "/dev/full"
    with pytest.raises(OSError) as caught:
        out.write(b"y" * (1 << 20))  # past the buffer: written at once
    assert caught.value.filename == "/dev/full"
    try:
        out.close()
    except OSError:
        pass


def test_a_failed_write_inside_a_run_names_the_outputs_when_the_error_names_no_file(tmp_path):
    from prefkit.io.run import Run

    with pytest.raises(InputError) as caught, Run() as run:
        run.rows("-o", str(tmp_path / "pairs.jsonl"))
        raise OSError(errno.ENOSPC, "No space left on device")  # as a write inside a library raises it
    assert str(caught.value) == f"{tmp_path / 'pairs.jsonl'}: cannot write it (no space left on device)"
    assert os.listdir(tmp_path) == []


def test_a_connection_error_inside_a_run_is_not_taken_for_a_file(tmp_path):
    from prefkit.io.run import Run

    with pytest.raises(ConnectionRefusedError), Run() as run:
        run.rows("-o", str(tmp_path / "pairs.jsonl"))
        raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")


# --- signals: a Ray run ends by the signal, as a local run does --------------------------------------------------------

@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.parametrize("wait", ["starting", "running"])
def test_sigterm_ends_a_ray_convert_by_the_signal_leaving_nothing(tmp_path, wait):
    pytest.importorskip("ray")
    from prefkit.io.watchdog import marked

    source = _rows(tmp_path / "in.jsonl", 200_000)
    proc = subprocess.Popen([*PREFKIT, "convert", str(source), "-o", str(tmp_path / "out.jsonl"), "-q", "--executor",
                             "ray", "--workers", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    ray_up = f"_{proc.pid}/"  # a local Ray's session folder holds prefkit's pid
    deadline = time.monotonic() + 120
    while not marked({ray_up}) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert marked({ray_up}), proc.communicate()
    if wait == "running":
        time.sleep(5)  # the workers are mapping blocks
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGTERM, err  # died by the signal, not exit status 15
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]
    deadline = time.monotonic() + 15
    while marked({ray_up}) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not marked({ray_up})
