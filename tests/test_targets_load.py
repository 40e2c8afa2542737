"""Each target's own loader keeps every row convert writes, in every container: TRL's dataset preparation (0.24 in
.venv, 1.x in .venv-trl) and LLaMA-Factory v1's DataEngine. (LLaMA-Factory v0's get_dataset, both versions:
tests/test_llamafactory_loader.py; that prefkit validate finds no error in any of them: tests/test_roundtrip.py.)"""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import ROOT, fixture
from prefkit.pipeline.convert import convert

PYTHONS = {"0.24": ROOT / ".venv" / "bin" / "python", "1": ROOT / ".venv-trl" / "bin" / "python"}
SOURCES = ["dpo_en_demo.sample.json", "hh_rlhf.edge.jsonl"]
CONTAINERS = ["parquet", "save_to_disk"]  # JSON lines: the parity test (tests/checks/test_trl_parity.py)


def _write(folder, to: str, container: str) -> tuple[str, int]:
    """convert's output of the sources, as one file (or a `datasets` folder), and its row count."""
    disk = container == "save_to_disk"
    out = folder / ("rows.jsonl" if disk else f"rows.{container}")
    report = convert([fixture(s) for s in SOURCES], str(out), to=to, save_to_disk=str(folder / "rows") if disk else None)
    return str(folder / "rows" if disk else out), report.pairs_written


@pytest.mark.llamafactory
@pytest.mark.parametrize("version", list(PYTHONS))
@pytest.mark.parametrize("to,method", [("trl", "dpo"), ("trl-kto", "kto")])
def test_trl_keeps_every_row(tmp_path, qwen_tokenizer, version, to, method):
    python = PYTHONS[version]
    if not python.exists():
        pytest.skip(f"TRL {version} venv not set up (make setup)")
    written = {}
    for container in CONTAINERS:
        folder = tmp_path / container
        folder.mkdir()
        rows, written[rows] = _write(folder, to, container)
    proc = subprocess.run([str(python), str(ROOT / "tests" / "tools" / "trl_oracle.py"), "--model", qwen_tokenizer,
                           "--rows", *written, "--method", method, "--max-length", "4096"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout[-1000:], proc.stderr[-2000:])
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    for rows, count in written.items():
        kept = [line for line in lines if line["rows"] == rows]
        assert len(kept) == count > 0 and not any(line["dropped"] for line in kept), rows


V1_LOAD = """
import json, os, sys, tempfile
os.environ["HF_HOME"] = tempfile.mkdtemp(); os.environ["HF_HUB_OFFLINE"] = "1"
from llamafactory.v1.core.data_engine import DataEngine
for yaml in sys.argv[1:]:
    engine = DataEngine(yaml)
    print(json.dumps({"yaml": yaml, "rows": len(engine), "first": sorted(engine[0])}))
"""


@pytest.mark.llamafactory
def test_llamafactory_v1_keeps_every_row(tmp_path):
    if not (ROOT / ".venv" / "lib").exists():
        pytest.skip("LLaMA-Factory 0.9.5 venv not set up (make setup)")
    yamls, written = [], {}
    for container in ("json", "jsonl", "parquet"):
        folder = tmp_path / container
        folder.mkdir()
        rows, written[container] = _write(folder, "lf-v1", container)
        yaml = folder / "dataset_info.yaml"
        yaml.write_text(f"pairs:\n  path: {rows}\n  source: local\n  converter: pair\n")
        yamls.append(str(yaml))
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-c", V1_LOAD, *yamls], capture_output=True,
                          text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [r["rows"] for r in results] == [written[c] for c in ("json", "jsonl", "parquet")]
    assert all("chosen_messages" in r["first"] and "rejected_messages" in r["first"] for r in results)
