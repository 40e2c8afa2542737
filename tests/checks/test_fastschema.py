"""The compiled quick schema check answers exactly as jsonschema does."""

from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.mutations import ALPACA, KTO, OPENAI, SHAREGPT, datasets
from prefkit.checks.acceptance import Attr
from prefkit.checks.schema import row_validator
from prefkit.checks.schema_fast import compile_schema
from prefkit.checks.schema_files import load_schema, validator

ENTRIES = [SHAREGPT, KTO, ALPACA, OPENAI, {"formatting": "alpaca", "ranking": True},
           {"formatting": "sharegpt", "columns": {"messages": "conversations", "kto_tag": "kto_tag"}}]
KEYS = ["conversations", "messages", "chosen", "rejected", "from", "value", "role", "content", "label", "kto_tag",
        "instruction", "input", "system", "history", "question", "response_chosen", "response_rejected", "tools"]
VALUES = ["human", "gpt", "user", "assistant", "system", "tool", "observation", "function_call", "x", ""]
leaf = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.floats(allow_nan=False), st.sampled_from(VALUES))
values = st.recursive(leaf, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                    st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)),
                      max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(row=st.dictionaries(st.sampled_from(KEYS), values, max_size=5), which=st.integers(0, len(ENTRIES) - 1))
def test_quick_check_equals_jsonschema(row, which):
    full = row_validator(Attr.from_entry(ENTRIES[which]))
    assert compile_schema(full.schema)(row) == full.is_valid(row)


def test_real_rows_and_the_dataset_info_schema():
    for entry, rows in datasets().values():
        full = row_validator(Attr.from_entry(entry))
        quick = compile_schema(full.schema)
        for row in rows:
            assert quick(row) == full.is_valid(row)
    info = {"a": {"file_name": "a.json", "ranking": "yes"}, "b": {"hf_hub_url": "x/y", "columns": {"prompt": "q"}}}
    assert compile_schema(load_schema("dataset_info"))(info) is False is validator("dataset_info").is_valid(info)
