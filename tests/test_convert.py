"""The convert pipeline: accounting, rejects file, duplicates, atomic output, round trips."""

import json
import os

import pytest

from conftest import PANDALM_VERDICTS, fixture, load_output, read, write_jsonl
from prefkit import convert
from prefkit.errors import DataError, InputError, UsageError
from prefkit.readers import register_reader
from prefkit.readers.base import per_row, provenance
from prefkit.records import PreferencePair


def test_accounting_and_rejects_file(tmp_path):
    out = tmp_path / "pairs.jsonl"
    report = convert([fixture("hh_rlhf.edge.jsonl"), fixture("pairwise.edge.csv")], str(out))
    assert report.input_records == 17 == report.accepted + report.rejected
    assert (report.accepted, report.rejected, report.pairs_written) == (7, 10, 7)
    assert [s.format for s in report.sources] == ["hh-rlhf", "pairwise"]
    rejects = load_output(tmp_path / "pairs.rejects.jsonl")
    assert len(rejects) == 10 and report.rejects_file == str(tmp_path / "pairs.rejects.jsonl")
    assert set(rejects[0]) == {"source", "line", "index", "reason", "message", "record"}
    assert sum(report.rejected_by_reason.values()) == 10
    csv_reject = next(r for r in rejects if r["reason"] == "unknown_verdict")
    assert csv_reject["record"]["winner"] == "maybe" and csv_reject["line"] == 7


def test_no_rejects_means_no_default_rejects_file_and_stale_one_removed(tmp_path):
    out = tmp_path / "en.json"
    (tmp_path / "en.rejects.jsonl").write_text("stale\n")
    report = convert([fixture("dpo_zh_demo.sample.json")], str(out))
    assert report.rejected == 0 and report.rejects_file is None
    assert not (tmp_path / "en.rejects.jsonl").exists()


def test_duplicates_are_counted_and_dropped_with_dedup(tmp_path):
    report = convert([fixture("dpo_en_demo.sample.json")], str(tmp_path / "a.json"))
    assert (report.exact_duplicates, report.prompt_duplicates, report.pairs_written) == (1, 1, 20)
    report = convert([fixture("dpo_en_demo.sample.json")], str(tmp_path / "b.json"), dedup=True)
    assert report.pairs_written == 19 and report.rejected_by_reason == {"duplicate_pair": 1}
    assert report.input_records == report.accepted + report.rejected == 20


def test_pairs_become_kto_and_kto_cannot_become_pairs(tmp_path):
    report = convert([fixture("pairwise.edge.csv")], str(tmp_path / "k.json"), to="kto")
    rows = load_output(tmp_path / "k.json")
    assert report.pairs_written == 8 and [r["kto_tag"] for r in rows[:2]] == [True, False]
    with pytest.raises(DataError, match="no rows to write: all 20 records were rejected .kto_example_not_a_pair 20"):
        convert([fixture("kto_en_demo.sample.json")], str(tmp_path / "p.json"), to="sharegpt")
    assert not (tmp_path / "p.json").exists()


def test_alpaca_target_rejects_tool_records_but_keeps_the_rest(tmp_path):
    report = convert([fixture("openai_tools.sample.jsonl")], str(tmp_path / "a.json"), to="alpaca")
    assert report.rejected_by_reason == {"alpaca_cannot_hold_tools": 2} and report.pairs_written == 1


@pytest.mark.parametrize("name, fmt", [("dpo_en_demo.sample.json", "sharegpt"), ("openai_tools.sample.jsonl", "openai"),
                                       ("medicalgpt_dpo_zh.sample.jsonl", "alpaca"), ("pandalm.sample.json", "pairwise")])
def test_round_trip_records_to_sharegpt_and_back(tmp_path, name, fmt):
    verdicts = PANDALM_VERDICTS if name.startswith("pandalm") else None
    original, _, _ = read(name, fmt, verdicts=verdicts)
    convert([fixture(name)], str(tmp_path / "rt.json"), fmt=fmt, verdicts=verdicts)
    again, rejects, _ = read(str(tmp_path / "rt.json"), "sharegpt")
    assert not rejects
    strip = lambda r: (r.system, r.tools, r.prompt, r.chosen, r.rejected)  # noqa: E731
    assert [strip(r) for r in again] == [strip(r) for r in original]


def test_round_trip_through_alpaca_and_kto(tmp_path):
    original, _, _ = read("dpo_en_demo.sample.json", "sharegpt")
    convert([fixture("dpo_en_demo.sample.json")], str(tmp_path / "a.jsonl"), to="alpaca")
    again, _, _ = read(str(tmp_path / "a.jsonl"), "alpaca")
    assert [(r.system, r.prompt, r.chosen) for r in again] == [(r.system, r.prompt, r.chosen) for r in original]
    convert([fixture("kto_en_demo.sample.json")], str(tmp_path / "k.json"), to="kto")
    kto, _, _ = read(str(tmp_path / "k.json"), "sharegpt")
    first, _, _ = read("kto_en_demo.sample.json", "openai")
    assert [(k.prompt, k.completion, k.label) for k in kto] == [(k.prompt, k.completion, k.label) for k in first]


def test_usage_and_input_errors(tmp_path):
    src = fixture("dpo_zh_demo.sample.json")
    with pytest.raises(UsageError, match="is also the input"):
        convert([src], src)
    with pytest.raises(UsageError, match="must be .json"):
        convert([src], str(tmp_path / "x.txt"))
    with pytest.raises(UsageError, match="unknown format 'nope'"):
        convert([src], str(tmp_path / "x.json"), fmt="nope")
    with pytest.raises(UsageError, match="unknown output format"):
        convert([src], str(tmp_path / "x.json"), to="dpo")
    with pytest.raises(InputError, match="no such file"):
        convert([str(tmp_path / "none.json")], str(tmp_path / "x.json"))
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(InputError, match="no records in the input"):
        convert([str(tmp_path / "empty.jsonl")], str(tmp_path / "x.json"), fmt="trl")
    assert not (tmp_path / "x.json").exists()


def test_an_interrupted_run_leaves_no_half_file(tmp_path):
    def explode(row, options):
        if row.index == 3:
            raise KeyboardInterrupt
        yield PreferencePair.model_validate({"prompt": [{"role": "user", "content": "q"}],
                                             "chosen": {"role": "assistant", "content": "a"},
                                             "rejected": {"role": "assistant", "content": "b"},
                                             "provenance": provenance(row, "boom")})

    register_reader("boom-test", per_row("boom-test", explode))
    out = tmp_path / "out.json"
    out.write_text("previous good file")
    src = write_jsonl(tmp_path / "in.jsonl", [{"x": i} for i in range(10)])
    with pytest.raises(KeyboardInterrupt):
        convert([src], str(out), fmt="boom-test")
    assert out.read_text() == "previous good file"
    assert sorted(os.listdir(tmp_path)) == ["in.jsonl", "out.json"]


def test_a_reader_that_loses_a_record_is_caught(tmp_path):
    def lossy(rows, options):
        for row in rows:
            if row.index != 1:
                yield PreferencePair.model_validate({"prompt": [{"role": "user", "content": "q"}],
                                                     "chosen": {"role": "assistant", "content": f"a{row.index}"},
                                                     "rejected": {"role": "assistant", "content": "b"},
                                                     "provenance": provenance(row, "lossy")})

    register_reader("lossy-test", lossy)
    src = write_jsonl(tmp_path / "in.jsonl", [{"x": i} for i in range(3)])
    with pytest.raises(RuntimeError, match="3 records read but 2 written"):
        convert([src], str(tmp_path / "o.json"), fmt="lossy-test")


def test_report_json_shape(tmp_path):
    report = convert([fixture("pandalm.sample.json")], str(tmp_path / "p.json"), verdicts=PANDALM_VERDICTS)
    data = json.loads(json.dumps(report.to_json()))
    for key in ("input_records", "accepted", "rejected", "pairs_written", "rejected_by_reason", "notes"):
        assert key in data
    assert data["dataset_info_entry"]["formatting"] == "sharegpt"


def test_convert_options_one_value_or_keywords(tmp_path):
    from prefkit.pipeline.convert import convert as convert_files
    from prefkit.pipeline.convert import preview
    from prefkit.pipeline.convert_options import ConvertOptions

    src = fixture("dpo_en_demo.sample.json")
    by_keyword = convert_files([src], str(tmp_path / "a.json"), to="alpaca", dedup=True)
    options = ConvertOptions(to="alpaca", dedup=True)
    by_value = convert_files([src], str(tmp_path / "b.json"), options)
    assert load_output(tmp_path / "a.json") == load_output(tmp_path / "b.json")
    assert by_keyword.accepted == by_value.accepted
    assert convert_files([src], str(tmp_path / "c.json"), options, to="sharegpt").to == "sharegpt"  # keywords win
    assert len(preview([src], 1, options)) == 1
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        convert_files([src], str(tmp_path / "d.json"), colour="red")
    with pytest.raises(TypeError, match="by keyword"):
        convert_files([src], str(tmp_path / "d.json"), "pairwise")  # fmt was the third argument once
    with pytest.raises(UsageError, match="--tie-band -1"):
        ConvertOptions(tie_band=-1, preference_scale=(1, 2)).check()
