"""The bad-input corpus (tests/helpers/badinput.py): every case ends with a clear error or a balanced
report, never an internal error or a traceback, and never changes an input or a previous output."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers.badinput import Case, all_cases, lay_out
from prefkit.cli import app

CASES = all_cases()


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


def test_the_corpus_is_large() -> None:
    assert len(CASES) >= 150
    assert {c.name.split("/")[0] for c in CASES} == {"convert", "container", "validate", "registry", "mixup"}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path: Path) -> None:
    lay_out(case, tmp_path)
    before = _snapshot(tmp_path)
    args = [a.replace("{dir}", str(tmp_path)) for a in case.args]
    result = CliRunner().invoke(app, args, catch_exceptions=True)
    out = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "internal error" not in out and "Traceback" not in out, out
    assert result.exit_code in case.exit_codes, out
    if result.exit_code != 0:
        assert "Error: " in out, out
    after = _snapshot(tmp_path)
    for rel, digest in before.items():
        changed = after.get(rel) != digest
        if changed:  # an input, or a file that a failed run must leave alone
            assert rel in case.outputs and result.exit_code == 0, f"{rel} changed ({out.strip()})"
    leftovers = [rel for rel in after if rel.endswith(".tmp") or "/.tmp" in rel or rel.split("/")[-1].startswith(".")]
    assert not [r for r in leftovers if not r.endswith(".lock")], leftovers
    if case.must_fail:
        assert result.exit_code == 2, out
        written = {rel for rel in set(after) - set(before) if not rel.endswith(".lock")}  # filelock keeps its file
        assert not written, f"a refused run wrote {written}"
    if case.balanced and result.exit_code == 0:
        report = json.loads((tmp_path / case.balanced).read_text())
        assert report["input_records"] == report["accepted"] + report["rejected"]
        written = (tmp_path / "out.jsonl").read_text().splitlines()
        assert len(written) == report["pairs_written"]
        if report["rejected"]:
            rejects = (tmp_path / "out.rejects.jsonl").read_text().splitlines()
            assert len(rejects) >= report["rejected"]
