"""One odd record never ends the run: it becomes that record's reject, with a reason of its own, and
the same value gets the same reason in every container (JSON array, JSONL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prefkit import errors
from prefkit.errors import DataError
from prefkit.io.sources import iter_rows
from prefkit.pipeline.convert import convert

GOOD = json.dumps({"prompt": "2+2?", "response_a": "4", "response_b": "5", "winner": "model_a"})
SCORED = '{{"prompt": "Q", "responses": ["a", "b"], "scores": [{}, 1]}}'


def _both(tmp_path: Path, middle: str) -> list[dict]:
    """Convert [GOOD, middle, GOOD] as a JSON array and as JSONL; return both reports."""
    (tmp_path / "in.json").write_text(f"[{GOOD},\n{middle},\n{GOOD}]")
    (tmp_path / "in.jsonl").write_text(f"{GOOD}\n{middle}\n{GOOD}\n")
    return [convert([str(tmp_path / f"in.{ext}")], str(tmp_path / f"out_{ext}.jsonl"), fmt="auto").to_json()
            for ext in ("json", "jsonl")]


@pytest.mark.parametrize("middle, reason", [
    ('{"prompt": NaN}', "non_finite_number"),
    ('{"prompt": -Infinity}', "non_finite_number"),
    ('{"prompt": 1e999}', "number_out_of_range"),
    ("[" * 5000 + "]" * 5000, "too_deep"),
    ('{"prompt": ' + "9" * 5000 + "}", "number_out_of_range"),
    ('{"prompt": "x", "response_a": "a" "b"}', None),  # a syntax error: no record to count in a JSON array
])
def test_the_same_value_gets_the_same_reason_in_every_container(tmp_path, middle, reason):
    if reason is None:
        (tmp_path / "in.jsonl").write_text(f"{GOOD}\n{middle}\n{GOOD}\n")
        report = convert([str(tmp_path / "in.jsonl")], str(tmp_path / "o.jsonl"), fmt="pairwise")
        assert report.rejected_by_reason == {"invalid_json": 1}
        return
    for report in _both(tmp_path, middle):
        assert (report["input_records"], report["accepted"]) == (3, 2)
        assert report["rejected_by_reason"] == {reason: 1}


@pytest.mark.parametrize("score, reason", [("9" * 400, "number_out_of_range"), ('"nan"', "non_finite_number"),
                                           ("[1]", "bad_type")])
def test_odd_scores_are_rejected_with_their_field(tmp_path, score, reason):
    (tmp_path / "r.jsonl").write_text(SCORED.format(score) + "\n" + SCORED.format(5) + "\n")
    report = convert([str(tmp_path / "r.jsonl")], str(tmp_path / "o.jsonl"), fmt="ratings")
    assert report.accepted == 1 and report.rejected_by_reason == {reason: 1}
    reject = json.loads((tmp_path / "o.rejects.jsonl").read_text())
    assert "scores[0]" in reject["message"]


def test_a_nan_score_does_not_change_the_pair_by_its_position(tmp_path):
    rows = [{"prompt": "Q", "completions": [{"response": r, "score": s} for r, s in order]}
            for order in ([("a", 9), ("b", float("nan")), ("c", 1)], [("b", float("nan")), ("a", 9), ("c", 1)],
                          [("a", 9), ("c", 1)])]
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "r.parquet")
    report = convert([str(tmp_path / "r.parquet")], str(tmp_path / "o.jsonl"), fmt="ratings")
    assert report.rejected_by_reason == {"non_finite_number": 2}


def test_an_unexpected_exception_is_the_records_reject_naming_the_field(tmp_path, monkeypatch):
    from prefkit.readers import pairwise

    def broken(row, options):
        pairwise.get(row, options, "prompt", "prompt")
        raise KeyError("boom")

    monkeypatch.setattr(pairwise, "_responses", broken)  # a bug met mid-record (a stand-in for one)
    monkeypatch.setitem(__import__("prefkit.readers", fromlist=["READERS"]).READERS, "pairwise",
                        pairwise.per_row("pairwise", pairwise._convert))
    (tmp_path / "v.jsonl").write_text(GOOD + "\n")
    with pytest.raises(DataError, match="no rows to write.*unexpected_value 1.*field 'prompt': KeyError"):
        convert([str(tmp_path / "v.jsonl")], str(tmp_path / "o.jsonl"), fmt="pairwise")
    assert not (tmp_path / "o.jsonl").exists()
    monkeypatch.setattr(errors, "DEBUG", True)  # prefkit --debug: the bug shows itself
    with pytest.raises(KeyError):
        convert([str(tmp_path / "v.jsonl")], str(tmp_path / "o2.jsonl"), fmt="pairwise")


def test_an_unclosed_csv_quote_loses_only_its_own_row(tmp_path):
    (tmp_path / "v.csv").write_text('prompt,response_a,response_b,winner\n"a,b,c,model_a\nq2,x,y,model_b\n'
                                    "q3,x,y,model_a\n")
    rows = list(iter_rows(str(tmp_path / "v.csv")))
    assert [(r.line, r.error is None) for r in rows] == [(2, False), (3, True), (4, True)]
    assert rows[1].data["prompt"] == "q2"


def test_a_bom_on_jsonl_is_read_as_datasets_reads_it(tmp_path):
    (tmp_path / "b.jsonl").write_bytes(b"\xef\xbb\xbf" + GOOD.encode() + b"\n")
    assert [r.error for r in iter_rows(str(tmp_path / "b.jsonl"))] == [None]


def test_content_after_the_array_is_a_counted_record(tmp_path):
    (tmp_path / "t.json").write_text(f"[{GOOD}]\n{GOOD}\n")
    report = convert([str(tmp_path / "t.json")], str(tmp_path / "o.jsonl"), fmt="pairwise")
    assert (report.input_records, report.rejected_by_reason) == (2, {"trailing_content": 1})


def test_a_deep_oasst_tree_is_read(tmp_path):
    node: dict = {"message_id": "last", "text": "end", "role": "assistant", "rank": 0}
    for depth in range(240):
        role = "prompter" if depth % 2 else "assistant"
        node = {"message_id": f"m{depth}", "text": f"t{depth}", "role": role, "rank": 0,
                "replies": [node, {"message_id": f"x{depth}", "text": f"other {depth}", "role": "assistant",
                                   "rank": 1}] if role == "prompter" else [node]}
    tree = {"message_tree_id": "t", "prompt": {**node, "role": "prompter"}}
    (tmp_path / "o.jsonl").write_text(json.dumps(tree) + "\n")
    report = convert([str(tmp_path / "o.jsonl")], str(tmp_path / "out.jsonl"), fmt="oasst")
    assert report.accepted == 1 and report.pairs_written >= 100
