"""Real CPU training with llamafactory-cli on a tiny Qwen2 model: dpo, orpo, simpo, kto and rm with LoRA on
datasets made by prefkit convert (LLaMA-Factory 0.9.5), dpo and kto on 0.9.3 from the same YAMLs."""

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import LF_PYTHONS, fixture
from helpers.signals import as_in_a_terminal
from prefkit import convert
from prefkit.handoff.train import train

SHORT = {"max_steps": 2, "logging_steps": 1, "gradient_accumulation_steps": 1, "save_steps": 2}
pytestmark = [pytest.mark.llamafactory, pytest.mark.slow]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    convert([fixture("dpo_en_demo.sample.json")], str(data / "pairs.json"), register="pairs", dataset_dir=str(data))
    convert([fixture("kto_en_demo.sample.json")], str(data / "kto.json"), to="kto", register="kto", dataset_dir=str(data))
    return data


def _check_run(result, out, steps: int = 2) -> None:
    assert (out / "adapter_model.safetensors").exists() and (out / "training_loss.png").exists()
    log = [json.loads(x) for x in (out / "trainer_log.jsonl").read_text().splitlines()]
    assert log and log[-1]["current_steps"] == steps
    assert "train_loss" in result.summary
    assert json.loads((out / "prefkit_summary.json").read_text()) == result.summary
    infer, base = (yaml.safe_load(open(p)) for p in result.infer_configs)
    assert infer["adapter_name_or_path"] == str(out) and "adapter_name_or_path" not in base
    assert infer["template"] == base["template"] == "qwen"


@pytest.mark.parametrize("method", ["orpo", "simpo", "kto", "rm"])
def test_each_method_trains_and_hands_off(data_dir, tmp_path, tiny_model, offline_env, method):
    out = tmp_path / "out"
    result = train("kto" if method == "kto" else "pairs", str(data_dir), tiny_model, method=method, template="qwen",
                   cutoff_len=256, output_dir=str(out), sets=SHORT, validate_first=False, env=offline_env)
    assert result.exit_code == 0, (out / "llamafactory.log").read_text()[-3000:]
    _check_run(result, out)


def test_dpo_trains_on_a_prompt_disjoint_split_and_evaluates(trained_dpo):
    data, result, _ = trained_dpo
    _check_run(result, Path(result.config["output_dir"]))
    assert result.config["dataset"] == "pairs_train" and result.config["eval_dataset"] == "pairs_eval"
    assert "eval_rewards/accuracies" in result.summary and "eval_rewards/margins" in result.summary
    info = json.loads((data / "dataset_info.json").read_text())
    train_rows = json.loads((data / info["pairs_train"]["file_name"]).read_text())
    eval_rows = json.loads((data / info["pairs_eval"]["file_name"]).read_text())
    prompts = lambda rows: {json.dumps(r["conversations"]) for r in rows}  # noqa: E731
    assert len(train_rows) + len(eval_rows) == 20 and not prompts(train_rows) & prompts(eval_rows)


@pytest.mark.parametrize("dataset, method", [("pairs", "dpo"), ("kto", "kto")])
def test_the_same_yaml_trains_on_llamafactory_093(data_dir, tmp_path, tiny_model, offline_env, dataset, method):
    python = LF_PYTHONS["0.9.3"]
    if not python.exists():
        pytest.skip("LLaMA-Factory 0.9.3 venv not set up")
    out = tmp_path / "out"
    result = train(dataset, str(data_dir), tiny_model, method=method, template="qwen", cutoff_len=256,
                   output_dir=str(out), sets=SHORT, dry_run=True, validate_first=False)
    cli = python.parent / "llamafactory-cli"
    proc = subprocess.run([str(cli), "train", result.config_path], capture_output=True, text=True, timeout=600,
                          env={**offline_env, "PATH": f"{python.parent}:/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "adapter_model.safetensors").exists()


def test_ctrl_c_is_forwarded_and_train_exits_130(data_dir, tmp_path, tiny_model, offline_env):
    import os
    import signal
    import time

    from conftest import ROOT

    out = tmp_path / "out"
    proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "prefkit"), "train", "--dataset", "pairs", "--dataset-dir",
                             str(data_dir), "--model", tiny_model, "--template", "qwen", "--cutoff-len", "256",
                             "--output-dir", str(out), "--no-validate", "--set", "max_steps=100000",
                             "--set", "logging_steps=1", "--set", "gradient_accumulation_steps=1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **offline_env},
                            preexec_fn=as_in_a_terminal)
    deadline = time.monotonic() + 300
    while not (out / "trainer_log.jsonl").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert proc.poll() is None, proc.stderr.read()[-2000:]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "llamafactory-cli train exited with 130" in err
