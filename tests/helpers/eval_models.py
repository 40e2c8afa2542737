"""Inference YAMLs served by the stand-in llamafactory-cli (tests/handoff/fake_llamafactory_cli.py, "fake answer"),
and a registered dataset of prompts: what prefkit eval needs, in a second, without a model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from prefkit import convert

ROOT = Path(__file__).resolve().parents[2]


def fake_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: Path | None = None) -> dict[str, str]:
    """{"config": the model's infer.yaml, "baseline": the base model's, "data": the dataset dir (dataset "pairs")};
    the stand-in records what it did in ``tmp_path/state`` (FAKE_STATE)."""
    cli_path = tmp_path / "llamafactory-cli"
    cli_path.write_text(f"#!/bin/sh\nexec {sys.executable} {ROOT / 'tests/handoff/fake_llamafactory_cli.py'} \"$@\"\n")
    cli_path.chmod(0o755)
    configs = {}
    for side in ("model", "base"):
        (tmp_path / side).mkdir(exist_ok=True)
        configs[side] = tmp_path / f"infer_{side}.yaml"
        configs[side].write_text(f"model_name_or_path: {tmp_path / side}\ntemplate: qwen\n")
    for key, value in {"PREFKIT_LLAMAFACTORY_CLI": str(cli_path), "FAKE_STATE": str(tmp_path / "state"),
                       "PYTHONPATH": str(ROOT)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("API_KEY", raising=False)
    if data is None:
        data = tmp_path / "data"
        data.mkdir()
        convert([str(ROOT / "tests" / "fixtures" / "dpo_en_demo.sample.json")], str(data / "pairs.json"),
                register="pairs", dataset_dir=str(data))
    return {"config": str(configs["model"]), "baseline": str(configs["base"]), "data": str(data)}
