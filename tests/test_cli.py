"""The CLI: every exit code and one-line error, reports, registration."""

import json

import pytest

from conftest import fixture


def test_convert_success_writes_report_and_registers(cli, tmp_path):
    result = cli("convert", fixture("pairwise.edge.csv"), "-o", tmp_path / "v.json", "--register", "votes",
                 "--dataset-dir", tmp_path, "--report-json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["input_records"] == report["accepted"] + report["rejected"] == 7
    assert report["registered"] == "votes"
    assert "4 pairs written" in result.stderr and "rejected: tie 1" in result.stderr
    assert json.loads((tmp_path / "dataset_info.json").read_text())["votes"]["file_name"] == "v.json"


def test_quiet_prints_nothing(cli, tmp_path):
    result = cli("convert", fixture("dpo_zh_demo.sample.json"), "-o", tmp_path / "o.json", "-q")
    assert result.exit_code == 0 and result.stderr == "" and result.stdout == ""


@pytest.mark.parametrize("args, code, message", [
    (["convert", "MISSING.json", "-o", "OUT/o.json"], 2, "missing.json: no such file"),
    (["convert", "SRC", "-o", "OUT/o.json", "--from", "nope"], 2, "unknown format 'nope' for --from"),
    (["convert", "SRC", "-o", "OUT/o.json", "--to", "dpo"], 2, "unknown output format 'dpo' for --to"),
    (["convert", "SRC", "-o", "SRC"], 2, "is also the input"),
    (["convert", "EMPTY", "-o", "OUT/o.json", "--from", "trl"], 2, "no records in the input"),
    (["convert", "SRC", "-o", "OUT/o.json", "--map", "nonsense"], 2, "--map 'nonsense': expected FIELD=COLUMN"),
    (["convert", "SRC", "-o", "OUT/o.json", "--pairing", "best"], 2, "unknown pairing strategy 'best'"),
    (["convert", "SRC", "-o", "OUT/o.json", "--register", "x"], 2, "--register needs --dataset-dir"),
    (["convert", "SFT", "-o", "OUT/o.json"], 2, "cannot detect the format"),
    (["convert", "BROKEN", "-o", "OUT/o.json"], 2, "line 2: invalid JSON in record 1"),
    (["register", "x", "--file", "MISSING.json", "--dataset-dir", "OUT"], 2, "missing.json: no such file"),
    (["register", "--dataset-dir", "OUT"], 2, "give NAME and --file (or --check)"),
])
def test_errors_are_one_line_with_exit_code(cli, tmp_path, args, code, message):
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "broken.json").write_text('[{"a": 1},\n{"a": }]')
    subst = {"SRC": fixture("dpo_zh_demo.sample.json"), "SFT": fixture("sharegpt_sft.sample.json"),
             "EMPTY": str(tmp_path / "empty.jsonl"), "BROKEN": str(tmp_path / "broken.json")}
    argv = [subst.get(a, a.replace("OUT", str(tmp_path)).replace("MISSING", str(tmp_path / "missing"))) for a in args]
    result = cli(*argv)
    assert result.exit_code == code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.output


def test_register_check_exit_codes(cli, tmp_path):
    (tmp_path / "dataset_info.json").write_text(json.dumps({"a": {"file_name": "nope.json"}}))
    result = cli("register", "--check", "--dataset-dir", tmp_path)
    assert result.exit_code == 1
    assert "a: file_name 'nope.json' does not exist" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"Error: 1 problem(s) in {tmp_path}/dataset_info.json"
    (tmp_path / "dataset_info.json").write_text("{}")
    assert cli("register", "--check", "--dataset-dir", tmp_path).exit_code == 0


def test_register_conflict_then_force(cli, tmp_path):
    for name in ("a.json", "b.json"):
        (tmp_path / name).write_bytes(open(fixture("dpo_zh_demo.sample.json"), "rb").read())
    assert cli("register", "d", "--file", tmp_path / "a.json", "--dataset-dir", tmp_path).exit_code == 0
    result = cli("register", "d", "--file", tmp_path / "b.json", "--dataset-dir", tmp_path)
    assert result.exit_code == 2 and "pass --force" in result.stderr
    assert cli("register", "d", "--file", tmp_path / "b.json", "--dataset-dir", tmp_path, "--force").exit_code == 0


def test_internal_errors_are_one_line_and_debug_shows_the_traceback(cli, tmp_path, monkeypatch):
    import sys

    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    # No real input makes prefkit crash (odd records become rejects), so force a bug outside any record.
    monkeypatch.setattr(sys.modules["prefkit.pipeline.convert"], "convert", broken)
    result = cli("convert", fixture("dpo_zh_demo.sample.json"), "-o", tmp_path / "o.json")
    assert result.exit_code == 1
    assert result.stderr.strip() == ("Error: internal error: ZeroDivisionError: boom (run with --debug for the "
                                     "traceback and please report it)")
    with pytest.raises(ZeroDivisionError):
        cli("--debug", "convert", fixture("dpo_zh_demo.sample.json"), "-o", tmp_path / "o.json")
