"""--executor ray on a real local Ray cluster: the same bytes and figures as the local executor, a worker
that dies mid-run changes nothing, and what can go wrong is one line with exit code 2."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import ROOT, fixture
from prefkit.cli import app
from prefkit.pipeline import executors

pytestmark = pytest.mark.ray
ray = pytest.importorskip("ray", reason="Ray is not installed (make setup installs prefkit[scale])")

SOURCES = [  # (fixture, --from, --to): several readers and every writer
    ("dpo_en_demo.sample.json", "sharegpt", "sharegpt"),
    ("dpo_zh_demo.sample.json", "auto", "alpaca"),
    ("oasst_en_tree.sample.jsonl", "oasst", "sharegpt"),
    ("oasst_en_tree.sample.jsonl", "oasst", "kto"),
    ("hh_rlhf.edge.jsonl", "hh-rlhf", "sharegpt"),
    ("pandalm.sample.json", "pairwise", "unlabeled"),
    ("ratings.sample.jsonl", "ratings", "sharegpt"),
    ("pairwise.edge.csv", "pairwise", "sharegpt"),
    ("medicalgpt_dpo_zh.sample.jsonl", "auto", "sharegpt"),
    ("openai_logs.sample.jsonl", "openai-logs", "kto"),  # groups rows: runs in the driver
    ("trl.sample.jsonl", "trl", "sharegpt"),
]


def _start_ray() -> None:
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)


@pytest.fixture
def ray_local():
    """A real local Ray (2 CPUs, 127.0.0.1), started once and kept between tests; prefkit --executor ray
    uses it as it would use any running cluster."""
    _start_ray()
    yield


@pytest.fixture(scope="session", autouse=True)
def _stop_ray_at_the_end():
    yield
    if ray.is_initialized():
        ray.shutdown()


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(executors, "BLOCK_ROWS", 3)  # many blocks, so order and dedup across blocks are tested
    monkeypatch.setattr(executors, "RANGE_BYTES", 700)  # JSONL: a few lines per range


def _convert(tmp_path: Path, name: str, source: str, fmt: str, to: str, *extra: str) -> dict[str, bytes]:
    out = tmp_path / name
    out.mkdir()
    result = CliRunner().invoke(app, ["convert", fixture(source), "--from", fmt, "--to", to, "-o", str(out / "o.jsonl"),
                                      "--rejects", str(out / "r.jsonl"), "--report-json", str(out / "report.json"), "-q",
                                      *extra])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    for key in ("output", "rejects_file"):
        report.pop(key)
    report["dataset_info_entry"] = None if report["dataset_info_entry"] is None else "entry"
    return {"rows": (out / "o.jsonl").read_bytes(), "rejects": (out / "r.jsonl").read_bytes(),
            "report": json.dumps(report, sort_keys=True).encode()}


@pytest.mark.parametrize("source, fmt, to", SOURCES, ids=[f"{s[0]}-{s[2]}" for s in SOURCES])
def test_convert_on_ray_writes_the_same_bytes(tmp_path, ray_local, small_blocks, source, fmt, to):
    local = _convert(tmp_path, "local", source, fmt, to)
    remote = _convert(tmp_path, "ray", source, fmt, to, "--executor", "ray")
    assert local == remote
    assert local["rows"]  # something was written: the comparison is not of two empty files


def test_duplicates_are_found_across_blocks(tmp_path, ray_local, small_blocks):
    rows = [{"prompt": f"q{i % 4}", "response_a": "a" if i % 2 else "b", "response_b": "c", "winner": "model_a"}
            for i in range(20)]
    src = tmp_path / "dups.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    reports = []
    for executor in ("local", "ray"):
        out = tmp_path / f"{executor}.jsonl"
        result = CliRunner().invoke(app, ["convert", str(src), "-o", str(out), "--dedup", "--report-json",
                                          str(tmp_path / f"{executor}.json"), "-q", "--executor", executor,
                                          ])
        assert result.exit_code == 0, result.output
        reports.append(json.loads((tmp_path / f"{executor}.json").read_text()))
    assert reports[0]["exact_duplicates"] == reports[1]["exact_duplicates"] == 16  # 4 distinct rows of 20
    assert reports[0]["prompt_duplicates"] == reports[1]["prompt_duplicates"]


@pytest.mark.llamafactory
def test_validate_on_ray_gives_the_same_lengths_and_report(tmp_path, ray_local, small_blocks, qwen_tokenizer):
    outputs = {}
    for executor in ("local", "ray"):
        args = ["validate", fixture("dpo_en_demo.sample.json"), "--model", qwen_tokenizer, "--template", "qwen",
                "--cutoff-len", "256", "--lengths", str(tmp_path / f"{executor}.lengths.jsonl"), "--report-json",
                str(tmp_path / f"{executor}.json"), "-q", "--executor", executor]
        result = CliRunner().invoke(app, args)
        assert result.exit_code in (0, 1), result.output
        outputs[executor] = [(tmp_path / f"{executor}{s}").read_bytes() for s in (".lengths.jsonl", ".json")]
    assert outputs["local"] == outputs["ray"]
    report = json.loads(outputs["ray"][1])
    assert report["tokens"]["pairs"] == 20 and report["tokens"]["truncated"] > 0  # real lengths were measured


def test_a_worker_that_dies_mid_run_changes_nothing(tmp_path, ray_local, small_blocks, monkeypatch):
    marker = tmp_path / "killed"
    local = _convert(tmp_path, "local", "dpo_en_demo.sample.json", "sharegpt", "kto")
    monkeypatch.setenv("PREFKIT_KILL_ONE_WORKER", str(marker))
    ray.shutdown()  # a new local Ray: its workers inherit the variable
    _start_ray()
    try:
        remote = _convert(tmp_path, "ray", "dpo_en_demo.sample.json", "sharegpt", "kto", "--executor", "ray")
    finally:
        ray.shutdown()
    assert marker.exists(), "no worker was killed"
    assert local == remote


def test_an_unreachable_cluster_is_one_line(tmp_path):
    if ray.is_initialized():
        ray.shutdown()
    result = CliRunner().invoke(app, ["convert", fixture("trl.sample.jsonl"), "-o", str(tmp_path / "o.jsonl"),
                                      "--executor", "ray", "--ray-address", "127.0.0.1:1"])
    assert result.exit_code == 2
    assert result.output.startswith("Error: --executor ray: cannot reach the Ray cluster at 127.0.0.1:1")
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "o.jsonl").exists()


def test_ray_missing_and_bad_options_are_usage_errors(tmp_path, monkeypatch):
    args = ["convert", fixture("trl.sample.jsonl"), "-o", str(tmp_path / "o.jsonl")]
    result = CliRunner().invoke(app, args + ["--workers", "2"])
    assert result.exit_code == 2 and "--workers and --ray-address go with --executor ray" in result.output
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    result = CliRunner().invoke(app, args + ["--executor", "ray"])
    assert result.exit_code == 2 and "pip install 'prefkit[scale]'" in result.output


def test_a_worker_that_cannot_import_the_reader_is_one_line(tmp_path, ray_local, monkeypatch):
    """A reader from a module only this process can import: the workers fail to build the map."""
    module = tmp_path / "only_here"
    module.mkdir()
    (module / "my_reader.py").write_text("from prefkit.readers import trl\n\n\ndef read(rows, options):\n"
                                         "    return trl.read(rows, options)\n")
    monkeypatch.syspath_prepend(str(module))
    import my_reader  # noqa: F401

    from prefkit.readers import register_reader

    register_reader("only-here-test", my_reader.read)
    try:
        result = CliRunner().invoke(app, ["convert", fixture("trl.sample.jsonl"), "--from", "only-here-test", "-o",
                                          str(tmp_path / "o.jsonl"), "--executor", "ray"])
    finally:
        from prefkit.readers import READERS

        READERS.pop("only-here-test")
        shutil.rmtree(module)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: --executor ray: a worker failed:") and "my_reader" in result.output
    assert not (tmp_path / "o.jsonl").exists()


def test_root_is_importable_by_workers():
    """Workers import prefkit from this checkout (executors._runtime_env), installed or not."""
    env = executors._runtime_env()["env_vars"]
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(ROOT)
