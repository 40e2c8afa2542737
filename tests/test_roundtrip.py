"""What convert writes validates clean in prefkit validate, for every LLaMA-Factory layout and container prefkit
writes (the TRL rows are a convert output only, for now: see the targets issue)."""

from __future__ import annotations

import json

import pytest

from conftest import fixture
from prefkit.convert import convert
from prefkit.validate import validate

SOURCES = [("dpo_en_demo.sample.json", "sharegpt"), ("kto_en_demo.sample.json", "sharegpt"),
           ("hh_rlhf.edge.jsonl", "hh-rlhf"), ("pairwise.edge.csv", "pairwise")]
TARGETS = ["sharegpt", "alpaca", "kto", "lf-v1"]
CONTAINERS = ["json", "jsonl", "parquet"]


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("to", TARGETS)
@pytest.mark.parametrize("source,fmt", SOURCES, ids=[s for s, _ in SOURCES])
def test_what_convert_writes_validates_with_no_error(tmp_path, source, fmt, to, container):
    if to in ("sharegpt", "alpaca", "lf-v1") and source.startswith("kto_"):
        pytest.skip("KTO examples give no pairs")
    out = tmp_path / f"out.{container}"
    report = convert([fixture(source)], str(out), fmt=fmt, to=to)
    assert report.pairs_written > 0
    checked = validate(str(out))
    errors = [f"{f.code} #{f.index} {f.path}: {f.message}" for f in checked.findings.by_level("error")]
    assert errors == [] and checked.records == report.pairs_written, json.dumps(errors[:3])
