"""The formats of the Hugging Face and LLaMA-Factory v1 ecosystems (issue 13): datasets folders and hf:// in,
Parquet, TRL rows, v1 pair rows and datasets folders out, v1's dataset YAML."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import yaml

from conftest import fixture, load_output, read
from prefkit import convert
from prefkit.errors import RegistryError, UsageError

datasets = pytest.importorskip("datasets")


def pairs_of(path) -> list[tuple]:
    """(prompt, chosen, rejected) of a sharegpt output, for comparing two runs."""
    rows = pq.read_table(path).to_pylist() if str(path).endswith(".parquet") else load_output(path)
    return [(json.dumps(r["conversations"]), r["chosen"]["value"], r["rejected"]["value"]) for r in rows]


# --- datasets inputs -----------------------------------------------------------------------------------------

def test_save_to_disk_folders_convert_like_the_file(tmp_path):
    rows = load_output(fixture("dpo_en_demo.sample.json"))
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "one"))
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows[:5]),
                          "test": datasets.Dataset.from_list(rows[5:8])}).save_to_disk(str(tmp_path / "dict"))
    convert([fixture("dpo_en_demo.sample.json")], str(tmp_path / "file.json"))
    report = convert([str(tmp_path / "one")], str(tmp_path / "one.json"))
    assert report.sources[0].format == "sharegpt" and report.accepted == len(rows)
    assert pairs_of(tmp_path / "one.json") == pairs_of(tmp_path / "file.json")
    convert([str(tmp_path / "dict")], str(tmp_path / "test.json"), split="test")
    assert pairs_of(tmp_path / "test.json") == pairs_of(tmp_path / "file.json")[5:8]
    with pytest.raises(Exception, match="no split 'dev'; it has train, test"):
        convert([str(tmp_path / "dict")], str(tmp_path / "dev.json"), split="dev")


def test_a_folder_laid_out_like_a_hub_repository(cli, tmp_path):
    hub = tmp_path / "org__votes"
    (hub / "data").mkdir(parents=True)
    rows = [{"prompt": f"q{i}", "response_a": "yes", "response_b": "no", "winner": "model_b"} for i in range(6)]
    datasets.Dataset.from_list(rows[:4]).to_parquet(str(hub / "data" / "train-00000-of-00001.parquet"))
    datasets.Dataset.from_list(rows[4:]).to_parquet(str(hub / "data" / "test-00000-of-00001.parquet"))
    (hub / "README.md").write_text("---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n"
                                   "    path: data/train-*\n  - split: test\n    path: data/test-*\n---\n# votes\n")
    result = cli("convert", hub, "-o", tmp_path / "train.jsonl")
    assert result.exit_code == 0, result.output
    assert [r["conversations"][0]["value"] for r in load_output(tmp_path / "train.jsonl")] == ["q0", "q1", "q2", "q3"]
    result = cli("convert", hub, "--split", "test", "-o", tmp_path / "test.jsonl")
    assert result.exit_code == 0 and len(load_output(tmp_path / "test.jsonl")) == 2
    result = cli("convert", hub, "--split", "valid", "-o", tmp_path / "v.jsonl")
    assert result.exit_code == 2 and "valid" in result.output and "Traceback" not in result.output


def test_hf_offline_with_nothing_cached_is_one_line(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    result = cli("convert", "hf://datasets/someone/votes@main", "-o", tmp_path / "o.json")
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "offline" in result.output and "hf://datasets/someone/votes@main" in result.output
    result = cli("convert", "hf://models/x", "-o", tmp_path / "o.json")
    assert result.exit_code == 2 and "expected hf://datasets/ORG/NAME" in result.output


# --- Parquet and datasets outputs ----------------------------------------------------------------------------

@pytest.mark.parametrize("to", ["sharegpt", "alpaca", "kto", "trl", "trl-kto", "lf-v1"])
def test_parquet_holds_the_same_rows_as_jsonl(tmp_path, to):
    src = fixture("dpo_en_demo.sample.json") if to not in ("kto", "trl-kto") else fixture("kto_en_demo.sample.json")
    convert([src], str(tmp_path / "o.jsonl"), to=to)
    convert([src], str(tmp_path / "o.parquet"), to=to, save_to_disk=str(tmp_path / "ds"))
    table = pq.read_table(tmp_path / "o.parquet")
    strip = lambda value: {k: strip(v) for k, v in value.items() if v is not None} if isinstance(value, dict) \
        else [strip(v) for v in value] if isinstance(value, list) else value  # noqa: E731  (nulls: absent keys)
    assert strip(table.to_pylist()) == load_output(tmp_path / "o.jsonl")
    assert strip(datasets.load_from_disk(str(tmp_path / "ds")).to_list()) == load_output(tmp_path / "o.jsonl")


def test_parquet_is_written_in_row_groups(tmp_path, monkeypatch):
    from prefkit.io import files as io

    monkeypatch.setattr(io.ParquetRows, "GROUP_BYTES", 20_000)
    convert([fixture("dpo_en_demo.sample.json")], str(tmp_path / "o.parquet"))
    meta = pq.ParquetFile(tmp_path / "o.parquet").metadata
    assert meta.num_row_groups > 2 and meta.num_rows == 20


def test_unlabeled_pairs_are_json_only_and_save_to_disk_is_checked(tmp_path):
    with pytest.raises(UsageError, match="--to unlabeled writes JSON only"):
        convert([fixture("pandalm.sample.json")], str(tmp_path / "u.parquet"), to="unlabeled")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me")
    with pytest.raises(UsageError, match="did not write"):
        convert([fixture("dpo_en_demo.sample.json")], str(tmp_path / "o.json"), save_to_disk=str(tmp_path / "notes"))
    assert (tmp_path / "notes" / "mine.txt").read_text() == "keep me" and not (tmp_path / "o.json").exists()


# --- TRL rows --------------------------------------------------------------------------------------------------

def test_trl_rows_have_an_explicit_prompt_and_one_assistant_turn(tmp_path):
    convert([fixture("openai_tools.sample.jsonl")], str(tmp_path / "t.jsonl"), to="trl")
    originals, _, _ = read("openai_tools.sample.jsonl", "openai")
    rows = load_output(tmp_path / "t.jsonl")
    assert len(rows) == len(originals)
    for row, original in zip(rows, originals, strict=True):
        assert row["prompt"][-1]["role"] in ("user", "tool")
        for side, answer in (("chosen", original.chosen), ("rejected", original.rejected)):
            if answer.role == "function":  # a tool call answers: TRL's assistant message with tool_calls
                calls = row[side][0]["tool_calls"]
                assert [c["function"]["name"] for c in calls] == [c["name"] for c in json.loads(answer.content)]
            else:
                assert row[side] == [{"role": "assistant", "content": answer.content}]
    calls = [m for r in rows for m in r["prompt"] if "tool_calls" in m]
    assert calls and all(isinstance(c["function"]["arguments"], dict) for m in calls for c in m["tool_calls"])
    assert all(isinstance(r["tools"], list) for r in rows if "tools" in r)
    convert([fixture("kto_en_demo.sample.json")], str(tmp_path / "k.jsonl"), to="trl-kto")
    kto = load_output(tmp_path / "k.jsonl")
    assert {type(r["label"]) for r in kto} == {bool} and all(r["completion"][0]["role"] == "assistant" for r in kto)
    with pytest.raises(UsageError, match="TRL rows, which LLaMA-Factory does not read"):
        convert([fixture("kto_en_demo.sample.json")], str(tmp_path / "r.jsonl"), to="trl-kto", register="x",
                dataset_dir=str(tmp_path))


@pytest.mark.llamafactory  # TRL comes with LLaMA-Factory
def test_trl_rows_pass_trls_own_checks(tmp_path):
    trl_data = pytest.importorskip("trl.data_utils")
    convert([fixture("dpo_en_demo.sample.json")], str(tmp_path / "t.jsonl"), to="trl")
    for row in load_output(tmp_path / "t.jsonl"):
        assert trl_data.is_conversational(row)
        assert trl_data.maybe_extract_prompt(row) == row  # the prompt is already explicit
        implicit = {"chosen": row["prompt"] + row["chosen"], "rejected": row["prompt"] + row["rejected"]}
        assert trl_data.maybe_extract_prompt(implicit) == {k: row[k] for k in ("prompt", "chosen", "rejected")}


# --- LLaMA-Factory v1 -----------------------------------------------------------------------------------------

def test_lf_v1_rows_and_their_dataset_yaml(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dataset_info.yaml").write_text("sft_demo:\n  path: llamafactory/v1-sft-demo\n")
    src = fixture("dpo_en_demo.sample.json")
    report = convert([src], "data/pairs.jsonl", to="lf-v1", register="pairs", dataset_dir="data", weight=0.5)
    rows = load_output(tmp_path / "data" / "pairs.jsonl")
    originals, _, _ = read("dpo_en_demo.sample.json", "sharegpt")
    for row, original in zip(rows, originals, strict=True):
        assert row["chosen"][:-1] == row["rejected"][:-1]  # one conversation, two endings
        assert row["chosen"][-1] == {"role": "assistant", "content": original.chosen.content}
        assert row["rejected"][-1] == {"role": "assistant", "content": original.rejected.content}
        assert (row["chosen"][0]["role"] == "system") == bool(original.system)
    info = yaml.safe_load((tmp_path / "data" / "dataset_info.yaml").read_text())
    assert list(info) == ["sft_demo", "pairs"]
    assert info["pairs"] == {"path": "data/pairs.jsonl", "source": "local", "converter": "pair", "weight": 0.5}
    assert report.dataset_info_entry == info["pairs"]
    again = convert([src], "data/pairs.jsonl", to="lf-v1", register="pairs", dataset_dir="data", weight=0.5)
    assert again.registered == "pairs"  # the same entry again: unchanged
    with pytest.raises(RegistryError, match="a different entry named 'pairs'"):
        convert([src], "data/other.jsonl", to="lf-v1", register="pairs", dataset_dir="data")
    convert([src], "data/other.jsonl", to="lf-v1", register="pairs", dataset_dir="data", force=True, size=10)
    assert yaml.safe_load((tmp_path / "data" / "dataset_info.yaml").read_text())["pairs"]["size"] == 10
    assert not (tmp_path / "data" / "dataset_info.json").exists()  # v0's registry is left alone
    with pytest.raises(UsageError, match="--weight is a key of LLaMA-Factory v1's dataset YAML: use it with --to lf-v1"):
        convert([src], "data/x.jsonl", weight=2.0)
    tools = convert([fixture("openai_tools.sample.jsonl")], "data/tools.jsonl", to="lf-v1")
    assert tools.rejected_by_reason == {"lf_v1_cannot_hold_tools": 2}


@pytest.mark.llamafactory
def test_lf_v1_output_loads_whole_in_v1s_data_engine(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("USE_V1", "1")
    data_engine = pytest.importorskip("llamafactory.v1.core.data_engine")
    (tmp_path / "data").mkdir()
    src = [fixture("dpo_en_demo.sample.json"), fixture("medicalgpt_dpo_zh.sample.jsonl")]
    report = convert(src, "data/pairs.parquet", to="lf-v1", register="pairs", dataset_dir="data")
    engine = data_engine.DataEngine("data/dataset_info.yaml")
    assert len(engine) == report.pairs_written > 30
    for i in range(len(engine)):
        sample = engine[i]
        chosen, rejected = sample["chosen_messages"], sample["rejected_messages"]
        assert chosen[:-1] == rejected[:-1] and chosen[-1]["role"] == rejected[-1]["role"] == "assistant"
        # v1 weighs every assistant turn, earlier ones of the history too, and nothing else
        assert all(m["loss_weight"] == (1.0 if m["role"] == "assistant" else 0.0) for m in chosen)
        assert all(part["type"] == "text" for m in chosen for part in m["content"])
