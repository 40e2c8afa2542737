"""Writers: LLaMA-Factory rows valid against schemas/, entries generated from the same columns."""

import pytest

from conftest import fixture, load_output
from prefkit import convert
from prefkit.checks.schema_files import errors as schema_errors
from prefkit.errors import UsageError
from prefkit.records import KtoExample, Message, PreferencePair, Provenance, RowProblem
from prefkit.writers import get_writer

SCHEMA = {"sharegpt": "sharegpt_ranking", "alpaca": "alpaca_ranking", "kto": "kto"}


@pytest.mark.parametrize("to", ["sharegpt", "alpaca", "kto"])
@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_written_rows_satisfy_the_schema_and_the_entry_names_their_columns(tmp_path, to, suffix):
    out = tmp_path / f"out{suffix}"
    report = convert([fixture("dpo_en_demo.sample.json")], str(out), to=to)
    rows = load_output(out)
    assert len(rows) == report.pairs_written == (40 if to == "kto" else 20)
    for row in rows:
        assert schema_errors(SCHEMA[to], row) == []
    columns = report.dataset_info_entry["columns"]
    for column in columns.values():
        assert any(column in row for row in rows)
    if to == "alpaca":  # system and history appear because the sample has both
        assert {"system", "history"} <= set(columns)
        assert all(len(turn) == 2 for row in rows for turn in row.get("history", []))
    assert report.dataset_info_entry["file_name"] == f"out{suffix}"


def test_schema_reports_every_violation_with_its_path():
    problems = schema_errors("sharegpt_ranking", {"conversations": [{"from": "bot", "value": 1}],
                                                  "chosen": {"from": "gpt"}})
    paths = [p for p, _ in problems]
    assert "conversations[0].from" in paths and "conversations[0].value" in paths
    assert "chosen" in paths and "(record)" in paths  # chosen.value missing, rejected missing


def _pair(**kw):
    base = dict(prompt=[Message(role="user", content="q")], chosen=Message(role="assistant", content="a"),
                rejected=Message(role="assistant", content="b"), provenance=Provenance(source="s", index=0))
    return PreferencePair(**{**base, **kw})


def test_alpaca_refuses_what_it_cannot_hold():
    writer = get_writer("alpaca")
    with pytest.raises(RowProblem) as err:
        writer.row(_pair(tools='[{"name": "f"}]'))
    assert err.value.reason == "alpaca_cannot_hold_tools"
    with pytest.raises(RowProblem):
        writer.row(_pair(prompt=[Message(role="user", content="q"), Message(role="function", content="{}"),
                                 Message(role="observation", content="r")]))


def test_sharegpt_inline_system_and_tools_column():
    writer = get_writer("sharegpt")
    row = writer.row(_pair(system="sys", tools="[]x"))
    writer.seen.update(row)  # as the pipeline does for every row it writes
    assert row["conversations"][0] == {"from": "system", "value": "sys"} and row["tools"] == "[]x"
    assert writer.entry("f.json")["columns"]["tools"] == "tools"
    kto = get_writer("kto").row(KtoExample(prompt=[Message(role="user", content="q")], label=False,
                                           completion=Message(role="assistant", content="a"),
                                           provenance=Provenance(source="s", index=0)))
    assert kto == {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}], "kto_tag": False}


@pytest.mark.parametrize("to", ["trl-kto", "axolotl-kto"])
def test_every_writer_of_kto_examples_reads_the_kto_signal(tmp_path, to):
    """Thumbs up/down are a KTO signal: every --to whose writer writes KTO examples uses it (ReadOptions.kto from the
    writer's record_type), as --to kto does, instead of making pairs and splitting them."""
    labels, reasons = {}, {}
    for name in ("kto", to):
        report = convert([fixture("openai_logs.sample.jsonl")], str(tmp_path / f"{name}.jsonl"), fmt="openai-logs",
                         to=name)
        reasons[name] = report.rejected_by_reason
        rows = load_output(tmp_path / f"{name}.jsonl")
        labels[name] = sorted((r["conversations"][-1]["value"], r["kto_tag"]) if name == "kto" else
                              (_text(r["completion"]), r["label"]) for r in rows)
    assert labels[to] == labels["kto"] and reasons[to] == reasons["kto"] == {"no_kto_signal": 3}


def _text(completion: str | list[dict[str, str]]) -> str:
    return completion if isinstance(completion, str) else completion[-1]["content"]


def test_an_option_goes_to_the_writers_that_take_it():
    assert get_writer("lf-v1", weight=0.5, size=3).entry("f.jsonl") == {"path": "f.jsonl", "source": "local",
                                                                         "converter": "pair", "weight": 0.5, "size": 3}
    assert get_writer("trl", parquet=True).json_text and not get_writer("trl").json_text
    with pytest.raises(UsageError, match="--size is a key of LLaMA-Factory v1's dataset YAML: use it with --to lf-v1, "
                                         "not --to trl"):
        get_writer("trl", size=3)
    with pytest.raises(UsageError, match="--weight 0.0: expected a finite number above 0"):
        get_writer("lf-v1", weight=0.0)
