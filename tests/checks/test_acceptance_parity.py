"""prefkit's prediction of what LLaMA-Factory keeps equals LLaMA-Factory's own converter, row for row,
on real data and mutated copies, for 0.9.5 and 0.9.3."""

import json
import subprocess

import pytest

from conftest import ROOT
from helpers.mutations import datasets, openai_datasets, write
from prefkit.checks.acceptance import Attr, LoaderFailure, align
from prefkit.registry.info import load


def _norm(value):
    return "" if value is None else value


@pytest.mark.llamafactory
def test_acceptance_matches_llamafactory_row_for_row(tmp_path, lf_python):
    version, python = lf_python
    sets = datasets() | (openai_datasets() if version == "0.9.5" else {})
    write(tmp_path, sets)
    proc = subprocess.run([str(python), str(ROOT / "tests" / "tools" / "lf_align.py"), str(tmp_path), *sets],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    theirs = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{"name"')]
    info = load(str(tmp_path))
    compared = dropped = 0
    for lf in theirs:
        row = sets[lf["name"]][1][lf["index"]]
        ours = align(row, Attr.from_entry(info[lf["name"]]))
        assert (ours.drop is None) == lf["kept"], (lf["name"], lf["index"], ours.drop)
        if ours.drop is None:
            assert ours.prompt == lf["prompt"] and ours.response == lf["response"], (lf["name"], lf["index"])
            assert _norm(ours.system) == _norm(lf["system"]) and _norm(ours.tools) == _norm(lf["tools"])
        dropped += ours.drop is not None
        compared += 1
    assert compared == sum(len(rows) for _, rows in sets.values())
    assert 0 < dropped < compared  # the mutations really made LLaMA-Factory drop rows


def test_drop_reasons_and_warnings():
    sets = datasets()
    attr = Attr.from_entry(sets["en"][0])
    reasons = {name: {align(row, Attr.from_entry(entry)).drop for row in rows} for name, (entry, rows) in sets.items()}
    assert reasons["en"] == {None}
    assert reasons["en_wrong_role"] == {None, "bad_role_order"}
    assert reasons["en_even_count"] == {None, "bad_message_count"}
    assert reasons["en_string_answers"] == {"not_pairwise"}
    assert reasons["kto_string_label"] == {"not_kto"}
    wrong_answer = align(sets["en_answer_role"][1][0], attr)
    assert wrong_answer.drop is None and wrong_answer.warnings[0][0] == "answer_role"
    with pytest.raises(LoaderFailure):
        align({"conversations": None}, attr)
