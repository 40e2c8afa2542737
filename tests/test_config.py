"""validate --config: the user's training YAML as the trainer parses it (prefkit.config), checked against
LLaMA-Factory's own argument dataclasses and get_dataset row counts on both releases."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import fixture
from prefkit.config.lf import load_lf_config
from prefkit.config.lf_args import DATA_ARGUMENTS, OTHER_ARGUMENTS
from prefkit.errors import UsageError
from prefkit.handoff.train_config import build_config

# Run under a LLaMA-Factory venv: the training YAML through get_train_args, then get_dataset (stage rm).
LF_ROWS = """
import json, sys, yaml
from llamafactory.hparams import get_train_args
from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
from llamafactory.model import load_tokenizer
model_args, data_args, training_args, *_ = get_train_args(yaml.safe_load(open(sys.argv[1])))
module = load_tokenizer(model_args)
template = get_template_and_fix_tokenizer(module["tokenizer"], data_args)
out = get_dataset(template, model_args, data_args, training_args, stage="rm", **module)
print("ROWS", json.dumps({"train": len(out["train_dataset"]), "eval": len(out.get("eval_dataset") or [])}))
"""
LF_DEFAULTS = """
import dataclasses, json
from llamafactory.hparams import DataArguments, ModelArguments, FinetuningArguments
fields = lambda c: {f.name: f.default for f in dataclasses.fields(c)}
print("DEFAULTS", json.dumps({"data": fields(DataArguments), "model": fields(ModelArguments),
                              "finetuning": fields(FinetuningArguments)}, default=str))
"""


def two_datasets(base: Path) -> Path:
    """a: the 20 DPO demo pairs, b: its first 7, registered in base/data."""
    rows = json.loads(Path(fixture("dpo_en_demo.sample.json")).read_text())
    data = base / "data"
    data.mkdir()
    (data / "a.json").write_text(json.dumps(rows))
    (data / "b.json").write_text(json.dumps(rows[:7]))
    columns = {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}
    info = {n: {"file_name": f"{n}.json", "formatting": "sharegpt", "ranking": True, "columns": columns} for n in "ab"}
    (data / "dataset_info.json").write_text(json.dumps(info))
    return data


def write_config(path: Path, model: str, data: Path, **overrides) -> str:
    config = build_config(model, "a,b", str(data), method="dpo", finetuning="lora", template="qwen", cutoff_len=256,
                          gpu=False, output_dir=str(path.parent / "out"), overrides=overrides)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return str(path)


def lf_run(python: Path, script: str, *args: str, env: dict[str, str]) -> dict:
    proc = subprocess.run([str(python), "-c", script, *args], capture_output=True, text=True, timeout=600,
                          env={**env, "PATH": "/usr/bin:/bin"})
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith(("ROWS ", "DEFAULTS "))), None)
    assert line, proc.stderr[-3000:]
    return json.loads(line.split(" ", 1)[1])


@pytest.mark.parametrize("mix", [{"mix_strategy": "concat"}, {"mix_strategy": "interleave_under"},
                                 {"mix_strategy": "interleave_over", "interleave_probs": "0.7,0.3"}])
def test_max_samples_and_a_two_dataset_mix_count_what_llamafactory_reads(tmp_path, tiny_model, lf_python, offline_env,
                                                                          cli, mix):
    version, python = lf_python
    data = two_datasets(tmp_path)
    config = write_config(tmp_path / "train.yaml", tiny_model, data, max_samples=12, val_size=0.2, **mix)
    report_path = tmp_path / "report.json"
    result = cli("validate", "--config", config, "--report-json", report_path)
    assert result.exit_code in (0, 1), result.output  # 1: the data has errors
    report = json.loads(report_path.read_text())
    got = report["config"]["mix"]
    assert got["datasets"]["a"] == {"file": str(data / "a.json"), "read": 12, "in_file": 20,
                                    "in_mix": got["datasets"]["a"]["in_mix"]}
    assert report["samples"]["a"]["never_trained"] == 8 and report["samples"]["b"]["never_trained"] == 0
    assert "max_samples 12 reads 12 of 20 pairs: 8 are never trained on (a)" in result.output
    assert report["records"] == 19  # measured: the rows read, not the 27 in the files
    lf = lf_run(python, LF_ROWS, config, env=offline_env)
    assert (got["train"], got["eval"]) == (lf["train"], lf["eval"]), (version, mix, got, lf)


def test_an_unknown_or_unmodelled_data_argument_is_named_never_ignored(tmp_path, qwen_tokenizer, cli):
    data = two_datasets(tmp_path)
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump({"model_name_or_path": qwen_tokenizer, "stage": "dpo", "dataset": "b",
                                      "dataset_dir": str(data), "template": "qwen", "cutoff_len": 512,
                                      "tool_format": "glm4", "neat_packing": True, "max_sample": 3,
                                      "learning_rate": 1e-5, "overwrite_cache": True}))
    report_path = tmp_path / "r.json"
    result = cli("validate", "--config", config, "--report-json", report_path)
    assert result.exit_code in (0, 1), result.output  # 1: the data has errors
    findings = {f["code"]: f["message"] for f in json.loads(report_path.read_text())["warnings"]
                + json.loads(report_path.read_text())["infos"]}
    assert "tool_format='glm4'" in findings["config_not_modelled"] and "neat_packing=True" in findings["config_not_modelled"]
    assert "max_sample is no LLaMA-Factory data argument: did you mean max_samples?" in findings["config_unknown_key"]
    assert "learning_rate" in findings["config_not_read"] and "overwrite_cache" in findings["config_no_effect"]


def test_a_flag_beside_the_config_overrides_it_and_is_said(tmp_path, qwen_tokenizer, cli):
    data = two_datasets(tmp_path)
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump({"model_name_or_path": qwen_tokenizer, "stage": "dpo", "dataset": "a",
                                      "dataset_dir": str(data), "template": "qwen", "cutoff_len": 256}))
    report_path = tmp_path / "r.json"
    result = cli("validate", "--config", config, "--cutoff-len", "300", "--max-samples", "4", "--no-enable-thinking",
                 "--report-json", report_path)
    assert result.exit_code in (0, 1), result.output  # 1: the data has errors
    assert "overridden by a flag: cutoff_len 256 -> 300" in result.output
    report = json.loads(report_path.read_text())
    assert report["config"]["overridden"]["cutoff_len"] == {"file": 256, "flag": 300}
    assert report["config"]["values"]["enable_thinking"] is False and report["tokens"]["cutoff_len"] == 300
    assert report["records"] == 4 and report["samples"]["never_trained"] == 16
    assert report["config"]["file"] == str(config)


def test_train_dry_run_validates_the_yaml_it_writes(tmp_path, tiny_model, offline_env, monkeypatch):
    from prefkit import validate
    from prefkit.handoff.train import train

    data = two_datasets(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = train("a", str(data), tiny_model, template="qwen", cutoff_len=128, output_dir=str(tmp_path / "out"),
                   sets={"max_samples": 5, "enable_thinking": False}, dry_run=True)
    assert result.config["max_samples"] == 5 and result.validation is not None
    again = validate(config=result.config_path).to_json()
    for key in ("records", "samples", "tokens", "counts"):
        assert again[key] == result.validation[key], key
    assert again["records"] == 5 and again["config"]["values"]["enable_thinking"] is False


def test_a_v1_config_reads_its_dataset_as_the_v1_target(tmp_path, qwen_tokenizer, cli):
    """A LLaMA-Factory v1 YAML (USE_V1=1: model, template, cutoff_len, train_dataset) gives the counts that
    validate --target lf-v1 gives on the same file with the same values."""
    long = "Take every detail of this into account before you answer. " * 12  # ~130 tokens: past the cutoff
    rows = [{"chosen": [{"role": "user", "content": prompt}, {"role": "assistant", "content": chosen}],
             "rejected": [{"role": "user", "content": prompt}, {"role": "assistant", "content": "No."}]}
            for prompt, chosen in [("Q?", "Yes."), (long, "Yes."), ("Tell me.", long), ("Why?", "Because.")]]
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    config = tmp_path / "v1.yaml"
    config.write_text(yaml.safe_dump({"model": qwen_tokenizer, "template": "qwen3_nothink", "cutoff_len": 100,
                                      "train_dataset": str(data)}))
    reports = []
    for args in (["--config", config], [data, "--target", "lf-v1", "--model", qwen_tokenizer, "--template",
                                        "qwen3_nothink", "--cutoff-len", "100"]):
        result = cli("validate", *args, "--report-json", tmp_path / "r.json")
        assert result.exit_code in (0, 1), result.output  # 1: the data has errors
        reports.append(json.loads((tmp_path / "r.json").read_text()))
    from_config, direct = reports
    assert from_config["config"]["file"] == str(config) and from_config["target"] == "lf-v1"
    assert from_config["records"] == 4 and from_config["tokens"]["truncated"] == 2
    assert [(d["index"], d["code"]) for d in from_config["would_drop"]] == [(1, "v1_no_supervised_tokens"),
                                                                            (2, "v1_no_rejected_tokens")]
    for key in ("records", "counts", "tokens", "would_drop", "errors", "warnings"):
        assert from_config[key] == direct[key], key


@pytest.mark.parametrize("text, key", [("cutoff_len: abc", "cutoff_len"), ("stage: sft", "stage"),
                                       ("interleave_probs: '0.5,0.5'", "interleave_probs"),
                                       ("streaming: true\nmax_samples: 3", "max_samples"), ("[1, 2]", "mapping")])
def test_a_bad_config_is_one_line_naming_the_file_and_key(tmp_path, cli, text, key):
    config = tmp_path / "train.yaml"
    base = "" if text.startswith("[") else "model_name_or_path: m\ndataset: a\n" + ("" if "stage" in text else
                                                                                    "stage: dpo\n")
    config.write_text(base + text + "\n" if base else text)
    result = cli("validate", "--config", config)
    assert result.exit_code == 2
    assert str(config) in result.output and key in result.output and "Traceback" not in result.output


def test_llamafactory_defaults_are_its_dataclasses(lf_python):
    version, python = lf_python
    found = lf_run(python, LF_DEFAULTS, env={"HF_HUB_OFFLINE": "1", "DISABLE_VERSION_CHECK": "1"})
    assert found["data"] == DATA_ARGUMENTS[version]
    every = {**found["model"], **found["finetuning"]}
    for key in ("model_name_or_path", "trust_remote_code", "image_max_pixels", "image_min_pixels", "stage",
                "pref_loss"):
        assert every[key] == OTHER_ARGUMENTS[key], key


def test_dataset_and_probs_are_split_as_llamafactory_splits_them(tmp_path):
    config = tmp_path / "t.yaml"
    config.write_text("model_name_or_path: m\nstage: dpo\npref_loss: simpo\ndataset: ' a ,b'\n"
                      "mix_strategy: interleave_over\ninterleave_probs: 0.2, 0.8\n")
    parsed = load_lf_config(str(config), release="0.9.3")
    assert parsed.datasets == ["a", "b"] and parsed.values["interleave_probs"] == [0.2, 0.8]
    assert parsed.method == "simpo" and parsed.stage == "rm" and parsed.values["media_dir"] == "data"
    with pytest.raises(UsageError, match="preserve_thinking"):
        config.write_text("model_name_or_path: m\nstage: kto\ndataset: a\npreserve_thinking: true\n")
        load_lf_config(str(config), release="0.9.3")


def test_a_trl_config_gives_the_limits(tmp_path, qwen_tokenizer, cli):
    rows = tmp_path / "pairs.jsonl"
    rows.write_text("".join(json.dumps({"prompt": f"Question {i}? " * 20, "chosen": "Yes. " * 30,
                                        "rejected": "No."}) + "\n" for i in range(4)))
    config = tmp_path / "dpo.yaml"
    config.write_text(yaml.safe_dump({"model_name_or_path": qwen_tokenizer, "dataset_name": str(rows),
                                      "max_length": 64, "max_prompt_length": 32, "truncation_mode": "keep_start",
                                      "beta": 0.1, "chat_template_kwargs": {"enable_thinking": False}}))
    report_path = tmp_path / "r.json"
    result = cli("validate", "--config", config, "--trl-version", "0.24", "--report-json", report_path)
    assert result.exit_code in (0, 1), result.output  # 1: the data has errors
    report = json.loads(report_path.read_text())
    tokens = report["tokens"]
    assert (tokens["max_length"], tokens["max_prompt_length"], tokens["truncation_mode"]) == (64, 32, "keep_start")
    assert report["target"] == "trl" and report["records"] == 4
    warned = {f["code"]: f["message"] for f in report["warnings"]}
    assert "chat_template_kwargs" in warned["config_not_modelled"]
