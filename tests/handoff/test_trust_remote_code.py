"""A model folder's own Python code (``auto_map``) runs only with --trust-remote-code: validate, train and serve
refuse such a folder without it in one line, and the YAMLs carry ``trust_remote_code: true`` only when it is given."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, fixture
from prefkit import convert
from prefkit.errors import UsageError
from prefkit.handoff.infer import write_infer_configs
from prefkit.handoff.train_config import build_config

PREFKIT = [sys.executable, "-c", "from prefkit.cli import main; main()"]
MARKER_CODE = """
open({marker!r}, "a").write("the folder's code ran\\n")
from transformers import PreTrainedTokenizerFast, Qwen2Config


class MarkerConfig(Qwen2Config):
    pass


class MarkerTokenizer(PreTrainedTokenizerFast):
    pass
"""


@pytest.fixture
def remote_model(tmp_path, tiny_model) -> tuple[str, Path]:
    """(a model folder whose config and tokenizer map to its own marker_code.py, the file that code writes)."""
    folder = tmp_path / f"remote-{tmp_path.name}"  # transformers caches a folder's code under its name
    folder.mkdir()
    marker = tmp_path / "EXECUTED"
    for name in ("tokenizer.json", "tokenizer_config.json", "config.json"):
        shutil.copy(Path(tiny_model) / name, folder)
    (folder / "marker_code.py").write_text(MARKER_CODE.format(marker=str(marker)))
    for name, auto_map in (("tokenizer_config.json", {"AutoTokenizer": [None, "marker_code.MarkerTokenizer"]}),
                           ("config.json", {"AutoConfig": "marker_code.MarkerConfig",
                                            "AutoTokenizer": [None, "marker_code.MarkerTokenizer"]})):
        data = json.loads((folder / name).read_text())
        (folder / name).write_text(json.dumps({**data, "auto_map": auto_map}))
    return str(folder), marker


@pytest.fixture
def pairs(tmp_path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    convert([fixture("dpo_en_demo.sample.json")], str(data / "pairs.json"), register="pairs", dataset_dir=str(data))
    return data


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_yamls_carry_trust_remote_code_only_when_asked(tmp_path):
    off = build_config("m", "d", "data", output_dir=str(tmp_path / "off"))
    on = build_config("m", "d", "data", output_dir=str(tmp_path / "on"), trust_remote_code=True)
    assert "trust_remote_code" not in off and on["trust_remote_code"] is True
    for config, expected in ((off, None), (on, True)):
        for path in write_infer_configs(config):
            assert yaml.safe_load(Path(path).read_text()).get("trust_remote_code") is expected


@pytest.mark.llamafactory
def test_llamafactory_default_is_off(lf_python):
    """Why an absent key is enough: LLaMA-Factory's own default does not run a folder's code."""
    _, python = lf_python
    code = ("import dataclasses; from llamafactory.hparams.model_args import ModelArguments; "
            "print([f.default for f in dataclasses.fields(ModelArguments) if f.name == 'trust_remote_code'])")
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip().splitlines()[-1] == "[False]", proc.stderr[-2000:]


def test_validate_runs_the_folders_code_only_with_the_flag(remote_model, pairs, tmp_path):
    model, marker = remote_model
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    command = [*PREFKIT, "validate", str(pairs / "pairs.json"), "--model", model, "--template", "qwen",
               "--cutoff-len", "256"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, **env})
    line = _one_error_line(proc.stderr)
    assert proc.returncode == 2 and line.startswith(f"Error: --model {model}: ") and "--trust-remote-code" in line
    assert "auto_map in tokenizer_config.json (AutoTokenizer)" in line
    assert not marker.exists()
    proc = subprocess.run([*command, "--trust-remote-code", "-q"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert marker.exists()


def test_train_refuses_such_a_folder_and_writes_the_flag_only_when_given(cli, remote_model, tiny_model, pairs, tmp_path):
    model, marker = remote_model
    common = ("train", "--dataset", "pairs", "--dataset-dir", pairs, "--template", "qwen", "--cutoff-len", "256",
              "--no-validate", "--dry-run")
    result = cli(*common, "--model", model, "--output-dir", tmp_path / "refused")
    assert result.exit_code == 2 and "--trust-remote-code" in _one_error_line(result.stderr)
    assert not (tmp_path / "refused").exists() and not marker.exists()
    result = cli(*common, "--model", model, "--output-dir", tmp_path / "trusted", "--trust-remote-code")
    assert result.exit_code == 0, result.stderr
    assert yaml.safe_load((tmp_path / "trusted" / "train_dpo.yaml").read_text())["trust_remote_code"] is True
    result = cli(*common, "--model", tiny_model, "--output-dir", tmp_path / "plain")
    assert result.exit_code == 0, result.stderr
    assert "trust_remote_code" not in yaml.safe_load((tmp_path / "plain" / "train_dpo.yaml").read_text())


def test_serve_refuses_such_a_folder_before_starting_anything(cli, remote_model, tmp_path, monkeypatch):
    from prefkit.serving.serve import launch

    model, marker = remote_model
    config = tmp_path / "infer.yaml"
    config.write_text(yaml.safe_dump({"model_name_or_path": model, "template": "qwen", "trust_remote_code": True}))
    monkeypatch.setenv("PREFKIT_LLAMAFACTORY_CLI", str(tmp_path / "must-not-run"))
    result = cli("serve", config)
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f"note: {config} sets trust_remote_code: true") and len(lines) == 2
    assert lines[1].startswith(f"Error: {config}: model {model}: ") and "--trust-remote-code" in lines[1]
    with pytest.raises(UsageError, match="--trust-remote-code"):
        launch(str(config))
    result = cli("eval", "--dataset", "x", "--dataset-dir", tmp_path, "--model-config", config, "--baseline-config",
                 config, "--help")
    assert "--trust-remote-code" in result.stdout
    assert not marker.exists() and not list(tmp_path.glob("api_*.log"))
