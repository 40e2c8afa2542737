"""Training YAMLs: every method x fine-tuning type is accepted by LLaMA-Factory's own argument parser
(0.9.5 and 0.9.3); unknown keys are refused by it; prefkit's own refusals."""

import json
import subprocess

import pytest
import yaml

from conftest import ROOT, fixture
from prefkit import convert
from prefkit.errors import RegistryError, UsageError
from prefkit.handoff.train import train
from prefkit.handoff.train_config import FINETUNING, METHODS, build_config, dump_yaml, parse_sets


def test_method_keys_and_defaults():
    for method, keys in METHODS.items():
        config = build_config("Qwen/Qwen2.5-7B-Instruct", "pairs", "data", method=method, template="qwen")
        assert {k: config[k] for k in keys} == keys
        assert config["output_dir"] == f"saves/Qwen2.5-7B-Instruct/lora/{method}/pairs"
        assert config["bf16"] is False and "max_samples" not in config
    assert build_config("m", "d", "data", gpu=True)["bf16"] is True
    assert build_config("m", "d", "data", finetuning="full")["finetuning_type"] == "full"
    assert build_config("m", "d", "data", overrides={"learning_rate": 1e-4})["learning_rate"] == 1e-4
    with pytest.raises(UsageError, match="qlora needs a CUDA GPU"):
        build_config("m", "d", "data", finetuning="qlora")
    with pytest.raises(UsageError, match="unknown --method 'ppo'"):
        build_config("m", "d", "data", method="ppo")


def test_set_values_keep_their_types_and_names_have_no_blanks(tmp_path):
    assert parse_sets(["max_steps=4", "bf16=false", "lora_target=q_proj,v_proj", "x=null"]) == {
        "max_steps": 4, "bf16": False, "lora_target": "q_proj,v_proj", "x": None}
    with pytest.raises(UsageError):
        parse_sets(["novalue"])
    with pytest.raises(UsageError, match="must not contain blanks"):
        dump_yaml({"a": 1}, str(tmp_path / "my config.yaml"))
    config = build_config("My Models/tiny model", "my data", "data")
    assert " " not in config["output_dir"]


@pytest.mark.llamafactory
def test_llamafactory_parser_accepts_every_method_and_finetuning(tmp_path, lf_python, tiny_model):
    version, python = lf_python
    combos = [(m, f) for m in METHODS for f in FINETUNING if f != "qlora"]
    configs = [build_config(tiny_model, "pairs", str(tmp_path), method=m, finetuning=f, template="qwen",
                            output_dir=str(tmp_path / f"{m}-{f}")) for m, f in combos]
    configs.append(build_config(tiny_model, "pairs", str(tmp_path), overrides={"not_an_argument": 1}))
    (tmp_path / "configs.json").write_text(json.dumps(configs))
    proc = subprocess.run([str(python), str(ROOT / "tests" / "tools" / "lf_parse_args.py"), str(tmp_path / "configs.json")],
                          capture_output=True, text=True, timeout=600)
    results = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith('{"ok"')]
    assert len(results) == len(configs), proc.stderr[-2000:]
    for combo, result in zip(combos, results, strict=False):
        assert result["ok"], (combo, result)
    assert results[-1]["ok"] is False and "not_an_argument" in results[-1]["error"]


def test_train_refuses_what_cannot_work(tmp_path, tiny_model):
    convert([fixture("dpo_zh_demo.sample.json")], str(tmp_path / "pairs.json"), register="pairs", dataset_dir=str(tmp_path))
    with pytest.raises(UsageError, match="holds ranking pairs; --method kto needs KTO examples"):
        train("pairs", str(tmp_path), tiny_model, method="kto", template="qwen", cutoff_len=256, dry_run=True)
    with pytest.raises(UsageError, match="no default template"):
        train("pairs", str(tmp_path), tiny_model, template="auto", cutoff_len=256, dry_run=True)
    with pytest.raises(RegistryError, match="no dataset 'nope'"):
        train("nope", str(tmp_path), tiny_model, template="qwen", dry_run=True)


def test_dry_run_auto_cutoff_and_validation_gate(cli, tmp_path, tiny_model):
    convert([fixture("dpo_zh_demo.sample.json")], str(tmp_path / "pairs.json"), register="pairs", dataset_dir=str(tmp_path))
    result = cli("train", "--dataset", "pairs", "--dataset-dir", tmp_path, "--model", tiny_model, "--template", "qwen",
                 "--output-dir", tmp_path / "out", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "99% of pairs fit in" in result.stderr and "dry run; to train:" in result.stderr
    config = yaml.safe_load((tmp_path / "out" / "train_dpo.yaml").read_text())
    assert config["cutoff_len"] % 128 == 0 and config["dataset"] == "pairs" and config["template"] == "qwen"
    rows = json.loads((tmp_path / "pairs.json").read_text())
    rows[0]["rejected"] = rows[0]["chosen"]  # identical answers: a validation error
    (tmp_path / "pairs.json").write_text(json.dumps(rows))
    result = cli("train", "--dataset", "pairs", "--dataset-dir", tmp_path, "--model", tiny_model, "--template", "qwen",
                 "--cutoff-len", "256", "--dry-run")
    assert result.exit_code == 1 and "identical_answers" in result.stderr and "--no-validate" in result.stderr


def test_dry_run_auto_cutoff_for_kto(cli, tmp_path, tiny_model):
    """--cutoff-len auto (the default) measures KTO examples as it does pairs: the 99% length, rounded up."""
    from prefkit import validate

    convert([fixture("kto_en_demo.sample.json")], str(tmp_path / "kto.json"), to="kto", register="kto",
            dataset_dir=str(tmp_path))
    result = cli("train", "--dataset", "kto", "--dataset-dir", tmp_path, "--model", tiny_model, "--template", "qwen",
                 "--method", "kto", "--output-dir", tmp_path / "out", "--dry-run")
    assert result.exit_code == 0, result.stderr
    p99 = validate("kto", str(tmp_path), model=tiny_model, template="qwen",
                   cutoff_len=1 << 20).tokens["recommended_cutoff_len"]["99%"]
    assert f"99% of examples fit in {p99} tokens" in " ".join(result.stderr.split())
    config = yaml.safe_load((tmp_path / "out" / "train_kto.yaml").read_text())
    assert config["stage"] == "kto" and config["cutoff_len"] == -(-p99 // 128) * 128 >= p99


def test_config_check_uses_llamafactory_parser_before_launch(tmp_path, tiny_model):
    convert([fixture("dpo_zh_demo.sample.json")], str(tmp_path / "pairs.json"), register="pairs", dataset_dir=str(tmp_path))
    with pytest.raises(UsageError, match="LLaMA-Factory rejects the training config: .*not_an_argument"):
        train("pairs", str(tmp_path), tiny_model, template="qwen", cutoff_len=256, dry_run=True, validate_first=False,
              output_dir=str(tmp_path / "out"), sets={"not_an_argument": 1})
    assert not (tmp_path / "out" / "train_dpo.yaml").exists()
    result = train("pairs", str(tmp_path), tiny_model, template="qwen", cutoff_len=256, dry_run=True,
                   validate_first=False, output_dir=str(tmp_path / "out"), sets={"max_samples": 3})
    assert any("max_samples 3 trains on only 3 of the 10 records" in n for n in result.notes)


def test_a_bad_set_value_is_a_usage_error_not_a_crash():
    from prefkit.handoff.train_config import parse_sets

    assert parse_sets(["learning_rate=5e-6", "bf16=false", "name=a: b"]) == {"learning_rate": 5e-6, "bf16": False,
                                                                            "name": "a: b"}
    with pytest.raises(UsageError, match="--set 'x=\\[1, 2': the value is not a YAML scalar"):
        parse_sets(["x=[1, 2"])
    with pytest.raises(UsageError, match="expected KEY=VALUE"):
        parse_sets(["novalue"])


def test_eval_split_never_replaces_files_or_entries_it_did_not_write(tmp_path):
    from prefkit.handoff.train import split_eval

    convert([fixture("dpo_en_demo.sample.json")], str(tmp_path / "pairs.json"), register="pairs",
            dataset_dir=str(tmp_path))
    (tmp_path / "pairs_eval.json").write_text("[]\n")  # someone else's file
    entry = json.loads((tmp_path / "dataset_info.json").read_text())["pairs"]
    with pytest.raises(UsageError, match="pairs_eval.json"):
        split_eval("pairs", str(tmp_path), entry, 0.25)
    assert (tmp_path / "pairs_eval.json").read_text() == "[]\n" and not (tmp_path / "pairs_train.json").exists()
    split_eval("pairs", str(tmp_path), entry, 0.25, dry_run=True, force=True)  # a dry run writes nothing
    assert (tmp_path / "pairs_eval.json").read_text() == "[]\n"
    split_eval("pairs", str(tmp_path), entry, 0.25, force=True)
    first = (tmp_path / "pairs_eval.json").read_text()
    assert first != "[]\n" and "pairs_eval" in json.loads((tmp_path / "dataset_info.json").read_text())
    split_eval("pairs", str(tmp_path), entry, 0.25)  # the same split again: nothing to refuse
    assert (tmp_path / "pairs_eval.json").read_text() == first
