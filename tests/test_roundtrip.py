"""What convert writes validates clean in prefkit validate, for every target's layout (LLaMA-Factory v0 and v1, TRL)
and every container prefkit writes (JSON, JSON lines, Parquet, a `datasets` folder); the target is recognised from
the rows. The trainers' own loaders keep every row: tests/test_llamafactory_loader.py (v0), test_targets_load.py."""

from __future__ import annotations

import json

import pytest

from conftest import fixture
from prefkit.pipeline.convert import convert
from prefkit.pipeline.validate import validate
from prefkit.writers import get_writer

SOURCES = [("dpo_en_demo.sample.json", "sharegpt"), ("kto_en_demo.sample.json", "sharegpt"),
           ("hh_rlhf.edge.jsonl", "hh-rlhf"), ("pairwise.edge.csv", "pairwise")]
WRITERS = ["sharegpt", "alpaca", "kto", "lf-v1", "trl", "trl-kto"]
CONTAINERS = ["json", "jsonl", "parquet", "save_to_disk"]


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("to", WRITERS)
@pytest.mark.parametrize("source,fmt", SOURCES, ids=[s for s, _ in SOURCES])
def test_what_convert_writes_validates_with_no_error(tmp_path, source, fmt, to, container):
    if to in ("sharegpt", "alpaca", "lf-v1", "trl") and source.startswith("kto_"):
        pytest.skip("KTO examples give no pairs")
    disk = container == "save_to_disk"
    out = tmp_path / ("out.jsonl" if disk else f"out.{container}")
    report = convert([fixture(source)], str(out), fmt=fmt, to=to, save_to_disk=str(tmp_path / "folder") if disk else None)
    assert report.pairs_written > 0
    checked = validate(str(tmp_path / "folder" if disk else out))
    errors = [f"{f.code} #{f.index} {f.path}: {f.message}" for f in checked.findings.by_level("error")]
    assert errors == [] and checked.records == report.pairs_written, json.dumps(errors[:3])
    assert checked.target == get_writer(to).target and checked.would_drop == []
