"""Property tests: no input record makes a reader raise; each one is written or rejected exactly once."""

import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.badinput import RawJSON, dumps
from prefkit.errors import PrefkitError
from prefkit.io.sources import Row, iter_rows
from prefkit.names import READER_NAMES, WRITER_NAMES
from prefkit.pipeline.convert import convert
from prefkit.readers import READERS, ReadOptions, detect
from prefkit.records import KtoExample, Note, PreferencePair, Reject

KEYS = ["conversations", "messages", "chosen", "rejected", "prompt", "instruction", "input", "output", "history",
        "system", "tools", "kto_tag", "label", "from", "value", "role", "content", "response_a", "response_b",
        "response1", "response2", "winner", "verdict", "votes", "annotator1", "annotator2", "completions",
        "responses", "scores", "score", "response", "text", "rank", "replies", "request", "response",
        "feedback", "choices", "message", "preferred", "thumbs", "tool_calls", "function", "question",
        "chosen_messages", "rejected_messages", "type"]
VALUES = ["human", "gpt", "user", "assistant", "system", "prompter", "tool", "observation", "function_call",
          "a", "b", "tie", "model_a", "1", "2", "0", "up", "down", "\n\nHuman: hi\n\nAssistant: yo", "", " "]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True),
                    st.sampled_from(VALUES), st.text(max_size=8))
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)),
    max_leaves=25,
)
records = st.one_of(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6), json_values)


def rows_from(values: list) -> list[Row]:
    rows = []
    for i, value in enumerate(values):
        if isinstance(value, str) and value.startswith("!"):
            rows.append(Row("prop.jsonl", i, i + 1, value, error="invalid JSON: test"))
        else:
            rows.append(Row("prop.jsonl", i, i + 1, value))
    return rows


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(st.one_of(records, st.just("!broken")), min_size=1, max_size=6),
       reader=st.sampled_from(sorted(READERS)), target=st.sampled_from(["sharegpt", "kto"]))
def test_readers_account_for_every_row(values, reader, target):
    if reader.endswith("-test"):
        return  # test-only readers registered by other tests
    rows = rows_from(values)
    items = list(READERS[reader](iter(rows), ReadOptions(target=target)))
    assert all(isinstance(i, (PreferencePair, KtoExample, Reject, Note)) for i in items)
    rejected = Counter(i.index for i in items if isinstance(i, Reject))
    written = {idx for i in items if isinstance(i, (PreferencePair, KtoExample))
               for idx in (i.provenance.index, *i.provenance.merged)}
    for row in rows:
        assert (row.index in written) != (rejected[row.index] == 1), (reader, row)
        assert rejected[row.index] <= 1


@settings(max_examples=60, deadline=None)
@given(values=st.lists(records, min_size=1, max_size=5))
def test_detection_either_names_a_format_or_fails_clearly(values):
    from prefkit.errors import InputError

    try:
        assert detect(rows_from(values), "x.jsonl") in READERS
    except InputError as err:
        assert "x.jsonl" in str(err)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.binary(max_size=40), min_size=1, max_size=6))
def test_any_bytes_in_a_jsonl_file_become_rows_not_crashes(tmp_path, lines):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b"\n".join(line.replace(b"\n", b" ") for line in lines))
    rows = list(iter_rows(str(path)))
    assert len(rows) == sum(1 for line in lines if line.replace(b"\n", b" ").strip())


# --- the whole pipeline, from file bytes to output files ------------------------------------------------
odd = st.sampled_from([RawJSON("NaN"), RawJSON("-Infinity"), RawJSON("1e999"), RawJSON("9" * 400),
                       RawJSON("7" * 5000), RawJSON("[" * 2000 + "]" * 2000), RawJSON('"\\ud800"')])
file_values = st.recursive(
    st.one_of(scalars.filter(lambda v: not (isinstance(v, float) and v != v)), odd),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)),
    max_leaves=25,
)
file_records = st.one_of(st.dictionaries(st.sampled_from(KEYS), file_values, max_size=6), file_values)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(file_records, min_size=1, max_size=6), reader=st.sampled_from(READER_NAMES),
       to=st.sampled_from(WRITER_NAMES), container=st.sampled_from(["json", "jsonl"]))
def test_the_pipeline_never_raises_and_always_balances(values, reader, to, container):
    folder = Path(tempfile.mkdtemp())
    try:
        source = folder / f"in.{container}"
        texts = [dumps(v) for v in values]
        source.write_text("\n".join(texts) + "\n" if container == "jsonl" else "[" + ",\n".join(texts) + "]",
                          encoding="utf-8", errors="surrogatepass")
        try:
            report = convert([str(source)], str(folder / "out.jsonl"), fmt=reader, to=to)
        except PrefkitError as err:  # only for a whole file that cannot be used: named, and nothing written
            assert str(source) in str(err) and not (folder / "out.jsonl").exists()
            return
        assert report.input_records == len(values) == report.accepted + report.rejected
        written = (folder / "out.jsonl").read_text().splitlines()
        rejects = folder / "out.rejects.jsonl"
        assert len(written) == report.pairs_written
        assert report.rejected <= (len(rejects.read_text().splitlines()) if rejects.exists() else 0)
        assert [p for p in os.listdir(folder) if p.endswith(".tmp")] == []
    finally:
        shutil.rmtree(folder)
