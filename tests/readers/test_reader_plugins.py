"""A reader from another package: its ``SPEC`` named by an entry point ``prefkit.readers`` is a ``--from`` choice,
listed by ``--help``, and its hooks (``discovers``, ``after``) run as a built-in reader's do. Each run is a fresh
process (kinds are cached per process) with the plugin on PYTHONPATH, found through its ``*.dist-info``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PREFKIT = [sys.executable, "-c", "from prefkit.cli import main; main()"]
PLUGIN = '''
from pathlib import Path

from prefkit.errors import UsageError
from prefkit.readers.base import per_row, provenance
from prefkit.readers.spec import ReaderSpec
from prefkit.records import Message, PreferencePair, RowProblem


def convert(row, options):
    data = row.data
    if data.get("good") == data.get("bad"):
        raise RowProblem("same_answers", "good and bad are the same", detail=str(data.get("good")))
    yield PreferencePair(prompt=[Message(role="user", content=data["q"])],
                         chosen=Message(role="assistant", content=data["good"]),
                         rejected=Message(role="assistant", content=data["bad"]),
                         provenance=provenance(row, "vote-rows"))


def discovers(path):
    side = Path(path).with_suffix(".notes")
    return [str(side)] if side.exists() else []


def after(detailed, where):
    if detailed("same_answers"):
        raise UsageError(f"{where}: vote-rows found rows with the same answers: {sorted(detailed('same_answers'))}")


SPEC = ReaderSpec("vote-rows", per_row("vote-rows", convert), fields=("q", "good", "bad"), discovers=discovers,
                  after=after, help="rows of q, good, bad")
'''


@pytest.fixture
def plugin(tmp_path: Path) -> dict[str, str]:
    """The plugin package and its distribution metadata in tmp_path/site; the environment that finds them."""
    site = tmp_path / "site"
    (site / "voterows").mkdir(parents=True)
    (site / "voterows" / "__init__.py").write_text(PLUGIN)
    info = site / "voterows-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: voterows\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[prefkit.readers]\nvote-rows = voterows:SPEC\n")
    return {**os.environ, "PYTHONPATH": str(site), "COLUMNS": "200", "NO_COLOR": "1"}


def prefkit(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PREFKIT, *args], capture_output=True, text=True, env=env, timeout=120)


def write_rows(path: Path, rows: list[dict[str, str]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_a_plugin_reader_converts(plugin, tmp_path):
    rows = [{"q": "2+2?", "good": "4", "bad": "5"}, {"q": "Hi", "good": "Hello", "bad": "Go away"}]
    source, output = write_rows(tmp_path / "votes.jsonl", rows), tmp_path / "pairs.json"
    done = prefkit(plugin, "convert", source, "--from", "vote-rows", "-o", str(output))
    assert done.returncode == 0, done.stderr
    pairs = json.loads(output.read_text())
    assert [(p["conversations"][0]["value"], p["chosen"]["value"], p["rejected"]["value"]) for p in pairs] == \
        [("2+2?", "4", "5"), ("Hi", "Hello", "Go away")]


def test_help_lists_the_plugin_reader(plugin):
    done = prefkit(plugin, "convert", "--help")
    assert done.returncode == 0, done.stderr
    assert "vote-rows" in done.stdout


def test_without_the_entry_point_there_is_no_such_reader(plugin, tmp_path):
    (tmp_path / "site" / "voterows-0.1.dist-info" / "entry_points.txt").unlink()
    source = write_rows(tmp_path / "votes.jsonl", [{"q": "2+2?", "good": "4", "bad": "5"}])
    done = prefkit(plugin, "convert", source, "--from", "vote-rows", "-o", str(tmp_path / "pairs.json"))
    assert done.returncode == 2 and "unknown format 'vote-rows'" in done.stderr


def test_the_plugin_hooks_run(plugin, tmp_path):
    source = write_rows(tmp_path / "votes.jsonl", [{"q": "2+2?", "good": "4", "bad": "5"},
                                                   {"q": "Hi", "good": "Yo", "bad": "Yo"}])
    done = prefkit(plugin, "convert", source, "--from", "vote-rows", "-o", str(tmp_path / "pairs.json"))
    assert done.returncode == 2 and "vote-rows found rows with the same answers: ['Yo']" in done.stderr  # after
    assert not (tmp_path / "pairs.json").exists()
    source = write_rows(tmp_path / "votes.jsonl", [{"q": "2+2?", "good": "4", "bad": "5"}])
    notes = tmp_path / "votes.notes"
    notes.write_text("read beside the votes\n")
    done = prefkit(plugin, "convert", source, "--from", "vote-rows", "-o", str(notes.with_suffix(".json")),
                   "--rejects", str(notes))  # discovers: the notes file is an input, so no output may replace it
    assert done.returncode == 2 and "is also the input" in done.stderr, done.stderr
    assert notes.read_text() == "read beside the votes\n"
