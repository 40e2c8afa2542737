"""A package outside prefkit adds a writer (``--to``) and a target (``--target``) through entry points in the groups
``prefkit.writers`` and ``prefkit.targets``: convert writes its rows, validate checks them, and --help lists both.
The built-in targets' layouts in prefkit/kinds.py (read by --help without loading the targets) are their classes'."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import fixture, load_output
from prefkit import kinds
from prefkit.targets import TARGETS

PLUGIN = '''
from prefkit.targets.trl import Trl
from prefkit.writers.trl import TrlWriter


class PlainTrl(Trl):
    """TRL, named apart: the rows a plain writer writes."""

    name = "trl-plain"
    layouts = ("trl-plain",)


class PlainWriter(TrlWriter):
    """TRL's standard rows: the last user turn and both answers as plain text."""

    name = "trl-plain"
    target = "trl-plain"

    def row(self, record):
        return {"prompt": record.prompt[-1].content, "chosen": record.chosen.content,
                "rejected": record.rejected.content}
'''
ENTRY_POINTS = """[prefkit.writers]
trl-plain = prefkit_plain:PlainWriter

[prefkit.targets]
trl-plain = prefkit_plain:PlainTrl
"""


def _prefkit(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-c", "from prefkit.cli import main; main()", *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)


def _install(tmp_path: Path) -> None:
    (tmp_path / "prefkit_plain.py").write_text(PLUGIN)
    info = tmp_path / "prefkit_plain-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: prefkit-plain\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)


def test_a_writer_and_a_target_from_entry_points(tmp_path):
    _install(tmp_path)
    out = tmp_path / "plain.jsonl"
    done = _prefkit(tmp_path, "convert", fixture("dpo_en_demo.sample.json"), "-o", str(out), "--to", "trl-plain", "-q")
    assert done.returncode == 0, done.stderr
    rows = load_output(out)
    source = json.loads(Path(fixture("dpo_en_demo.sample.json")).read_text())
    assert len(rows) == 20 and set(rows[0]) == {"prompt", "chosen", "rejected"}
    assert rows[0]["chosen"] == source[0]["chosen"]["value"] and isinstance(rows[0]["prompt"], str)
    report = tmp_path / "report.json"
    checked = _prefkit(tmp_path, "validate", str(out), "--target", "trl-plain", "--report-json", str(report), "-q")
    assert checked.returncode == 0, checked.stderr
    assert json.loads(report.read_text())["target"] == "trl-plain"
    assert "trl-plain" in " ".join(_prefkit(tmp_path, "convert", "--help").stdout.split())
    assert "trl-plain" in " ".join(_prefkit(tmp_path, "validate", "--help").stdout.split())


def test_without_the_entry_points_there_is_no_such_writer(tmp_path):
    (tmp_path / "prefkit_plain.py").write_text(PLUGIN)  # the module alone registers nothing
    done = _prefkit(tmp_path, "convert", fixture("dpo_en_demo.sample.json"), "-o", str(tmp_path / "o.jsonl"),
                    "--to", "trl-plain")
    assert done.returncode == 2 and "unknown output format 'trl-plain'" in done.stderr


def test_the_layouts_in_the_table_are_the_targets():
    assert {k.name: k.layouts for k in kinds.TARGETS} == {name: t.layouts for name, t in TARGETS.items()}
