"""prefkit validate on LLaMA-Factory v1 pair data: detection, names in v1's dataset YAML, the row and entry
checks, Parquet and datasets folders, and (with a tokenizer) v1's cut at cutoff_len. Parity with v1 itself:
test_v1_parity.py."""

import json
import os

import pytest

from conftest import ROOT, fixture, write_jsonl
from prefkit import convert, validate
from prefkit.targets import lf_v1 as v1


def pair(prompt="Q?", chosen="A good answer.", rejected="A bad one.", system=None, **extra):
    head = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    return {"chosen": head + [{"role": "assistant", "content": chosen}],
            "rejected": head + [{"role": "assistant", "content": rejected}], **extra}


def codes(report):
    return sorted({(f.code, f.index) for f in report.findings.items if f.index is not None})


def test_lf_v1_output_is_detected_and_clean(tmp_path):
    out = tmp_path / "pairs.jsonl"
    convert([fixture("dpo_zh_demo.sample.json")], str(out), to="lf-v1")
    report = validate(str(out))
    assert report.entry == {"path": str(out), "source": "local", "converter": "pair"} and report.stage == "rm"
    assert report.records == 10 and report.findings.by_level("error") == [] and report.would_drop == []
    assert validate(str(out), layout="lf-v1").entry == report.entry


def test_v1_converted_rows_are_detected(tmp_path):
    report = validate(str(ROOT / "tests" / "fixtures" / "v1_dpo_demo.sample.jsonl"))
    assert "converter" not in report.entry and report.records == 5
    assert report.findings.by_level("error") == []


def test_names_are_found_in_either_registry(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    convert([fixture("dpo_zh_demo.sample.json")], str(data / "v1.jsonl"), to="lf-v1", register="zh",
            dataset_dir=str(data))
    report = validate("zh", str(data))
    assert report.dataset == "zh" and report.entry["converter"] == "pair" and report.records == 10
    assert report.findings.by_level("error") == []
    # a name in both: dataset_info.json first
    convert([fixture("dpo_zh_demo.sample.json")], str(data / "v0.json"), register="zh", dataset_dir=str(data))
    assert validate("zh", str(data)).entry["file_name"] == "v0.json"
    with pytest.raises(Exception, match="dataset_info.yaml"):
        validate("nope", str(data))


def test_row_checks(tmp_path):
    rows = [
        pair(),                                                                        # 0 clean
        {**pair(), "rejected": pair(prompt="Other?")["rejected"]},                     # 1 prompts differ
        {"chosen": pair()["chosen"][:1], "rejected": pair()["rejected"][:1]},          # 2 ends with the user turn
        {"chosen": pair()["chosen"][1:], "rejected": pair()["rejected"][1:]},          # 3 no user turn
        pair(system="Be brief.", chosen="Same.", rejected="Same."),                    # 4 identical answers
        {**pair(), "chosen": [{"role": "human", "content": "Q?"}, pair()["chosen"][1]]},  # 5 unknown role
        pair(tools="not json"),                                                        # 6 tools v1 drops
        pair(prompt=[{"type": "text", "value": "Q?"}]),                                # 7 typed parts: v1 raises
        {"chosen": "Q? A good answer.", "rejected": "Q? A bad one."},                  # 8 not messages
        pair(chosen=" "),                                                              # 9 empty answer
    ]
    report = validate(write_jsonl(tmp_path / "rows.jsonl", rows), layout="lf-v1")
    found = codes(report)
    for expected in [("v1_prompt_mismatch", 1), ("v1_no_answer", 2), ("v1_no_prompt", 3), ("identical_answers", 4),
                     ("v1_bad_role", 5), ("v1_invalid_tools", 6), ("breaks_loader", 7), ("breaks_loader", 8),
                     ("empty_answer", 9)]:
        assert expected in found, (expected, found)
    assert not [c for c in found if c[1] == 0]
    assert {f.level for f in report.findings.items if f.code == "v1_invalid_tools"} == {"warning"}
    assert report.would_drop == []  # without a tokenizer nothing is cut


def test_entry_checks(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    write_jsonl(data / "p.jsonl", [pair(), pair(prompt="Two?")])
    (data / "dataset_info.yaml").write_text(
        "p:\n  path: p.jsonl\n  source: local\n  converter: pair\n  size: 1\n  streaming: true\n  columns: {}\n")
    monkeypatch.chdir(tmp_path)  # v1 reads path from here: data/p.jsonl, not p.jsonl
    report = validate("p", "data")
    problems = [f.message for f in report.findings.items if f.code == "registry"]
    assert any("does not exist relative to the current directory" in p for p in problems)
    assert any("streaming" in p for p in problems) and any("'columns'" in p for p in problems)
    assert [(f.code, f.path) for f in report.findings.items if f.level == "warning"] == [("num_samples_cuts", "size")]
    (data / "dataset_info.yaml").write_text("p:\n  path: data/p.jsonl\n  source: local\n  converter: pair\n")
    assert validate("p", "data").findings.items == []
    (data / "dataset_info.yaml").write_text("p:\n  path: data/p.jsonl\n  source: local\n  converter: sharegpt\n")
    assert [f.code for f in validate("p", "data").findings.items] == ["not_a_preference_dataset"]


def test_parquet_and_datasets_folder(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    rows = [pair(), pair(prompt="Two?", system="Be brief.")]
    pq.write_table(pa.Table.from_pylist(rows), str(tmp_path / "p.parquet"))
    report = validate(str(tmp_path / "p.parquet"))
    assert report.entry["converter"] == "pair" and report.records == 2 and report.findings.by_level("error") == []
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "folder"))
    report = validate(str(tmp_path / "folder"))
    assert report.dataset == "folder" and report.entry["converter"] == "pair" and report.records == 2
    assert report.findings.by_level("error") == []


def test_cut_at_cutoff_len(tmp_path, qwen_tokenizer, cli):
    long = "Take every detail of this into account before you answer. " * 12  # ~130 tokens
    rows = [pair(),                                              # 0 kept whole
            pair(prompt=long),                                   # 1 no assistant token left
            pair(chosen=long),                                   # 2 the chosen side fills the cutoff
            pair(prompt="Tell me.", chosen="Yes. " * 20)]        # 3 (below: the rejected answer cut away)
    path = write_jsonl(tmp_path / "cut.jsonl", rows)
    report = validate(path, model=qwen_tokenizer, cutoff_len=100, lengths_path=str(tmp_path / "l.jsonl"))
    assert [(d["index"], d["code"]) for d in report.would_drop] == [(1, "v1_no_supervised_tokens"),
                                                                     (2, "v1_no_rejected_tokens")]
    assert report.tokens["template"] == v1.DEFAULT_TEMPLATE and report.tokens["pairs"] == 4
    assert report.tokens["truncated"] == 2
    lines = [json.loads(line) for line in (tmp_path / "l.jsonl").read_text().splitlines()]
    assert [line.get("dropped") for line in lines] == [None, "v1_no_supervised_tokens", "v1_no_rejected_tokens", None]
    whole = lines[0]
    assert whole["sequence"] == whole["sequence_kept"] == sum(whole[k] for k in ("prompt", "chosen", "rejected_prompt",
                                                                                 "rejected"))
    assert lines[1]["supervised_kept"] == 0 and lines[2]["sequence_kept"] == 100
    # a cutoff that keeps the chosen side and the rejected prompt, and nothing of the rejected answer
    row = lines[3]
    cutoff = row["prompt"] + row["chosen"] + row["rejected_prompt"]
    report = validate(path, model=qwen_tokenizer, cutoff_len=cutoff)
    assert ("v1_rejected_answer_cut", 3) in codes(report) and report.would_drop[-1]["index"] == 2
    result = cli("validate", path, "--model", qwen_tokenizer, "--cutoff-len", "100", "--template", "chatml", "-q")
    assert result.exit_code == 1
    result = cli("validate", path, "--model", qwen_tokenizer, "--cutoff-len", "100", "--template", "llama3")
    assert result.exit_code == 2 and "v1 template" in result.output
    assert os.path.exists(path)
