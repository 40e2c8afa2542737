"""What real third-party files taught (issue 10): verdicts that are numbers or a continuous scale, KTO labels that
contradict, outputs with no rows, auto-detection hints, --map, register's acceptance check, dataset names and
validate's summary."""

from __future__ import annotations

import json

import pytest

from conftest import write_jsonl
from prefkit import convert
from prefkit.errors import DataError, RegistryError
from prefkit.pipeline.validate import validate
from prefkit.registry.add import register


def vote(prompt: str, verdict: object, a: str = "first answer", b: str = "second answer", key: str = "winner") -> dict:
    return {"prompt": prompt, "response_a": a, "response_b": b, key: verdict}


# --- verdicts -------------------------------------------------------------------------------------------------

def test_numeric_verdicts_are_never_guessed(cli, tmp_path):
    src = write_jsonl(tmp_path / "v.jsonl", [vote("p1", 1), vote("p2", 2), vote("p3", "2"), vote("p4", 0),
                                             vote("p5", "error")])
    out = tmp_path / "v.json"
    result = cli("convert", src, "-o", out)
    assert result.exit_code == 2 and not out.exists()
    assert "numeric verdicts 2 (2), 1 (1), 0 (1) have no default meaning" in result.output
    # the form to fill in, with the values seen: never a fixed example that copied as written gives wrong pairs
    assert "--verdict a=VALUE b=VALUE [tie=VALUE] [failed=VALUE], each VALUE 0 or 1 or 2" in result.output
    assert "a=1 b=2" not in result.output
    # the space-separated form of --verdict (and --map) is one option with several values
    result = cli("convert", src, "-o", out, "--verdict", "a=1", "b=2", "tie=0", "--report-json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["accepted"], report["rejected_by_reason"]) == (3, {"tie": 1, "failed_verdict": 1})
    chosen = [r["chosen"]["value"] for r in json.loads(out.read_text())]
    assert chosen == ["first answer", "second answer", "second answer"]


def test_a_continuous_preference_with_a_tie_band(tmp_path):
    rows = [vote(f"p{i}", v, key="preference") for i, v in enumerate([1.0, 1.2, 1.5, 1.55, 1.9, 2.0, None, 2.5])]
    src = write_jsonl(tmp_path / "s.jsonl", rows)
    report = convert([src], str(tmp_path / "s.json"), preference_scale=(1.0, 2.0), tie_band=0.1)
    pairs = json.loads((tmp_path / "s.json").read_text())
    assert [p["chosen"]["value"] for p in pairs] == ["first answer"] * 2 + ["second answer"] * 2
    assert report.rejected_by_reason == {"tie": 2, "no_verdict": 1, "unknown_verdict": 1}
    rejects = [json.loads(x) for x in (tmp_path / "s.rejects.jsonl").read_text().splitlines()]
    assert [r["index"] for r in rejects] == [2, 3, 6, 7] and "outside --preference-scale" in rejects[-1]["message"]
    # HIGH:LOW flips the sides: values nearer the first number still prefer response A
    convert([src], str(tmp_path / "f.json"), preference_scale=(2.0, 1.0))
    flipped = json.loads((tmp_path / "f.json").read_text())
    assert flipped[0]["chosen"]["value"] == "second answer"


@pytest.mark.parametrize("args, message", [
    (["--preference-scale", "1"], "expected LOW:HIGH"),
    (["--preference-scale", "2:2"], "two different numbers"),
    (["--tie-band", "0.2"], "--tie-band 0.2"),
    (["--preference-scale", "1:2", "--tie-band", "-1"], "--tie-band -1"),
])
def test_scale_options_are_checked(cli, tmp_path, args, message):
    src = write_jsonl(tmp_path / "s.jsonl", [vote("p", 1.2, key="preference")])
    result = cli("convert", src, "-o", tmp_path / "s.json", *args)
    assert result.exit_code == 2 and message in result.output


# --- KTO labels ----------------------------------------------------------------------------------------------

def test_contradictory_kto_labels_are_rejected_in_convert_and_flagged_in_validate(tmp_path):
    rows = [vote("p1", "a", "x", "y"), vote("p1", "a", "y", "x"), vote("p2", "b", "u", "v")]
    report = convert([write_jsonl(tmp_path / "k.jsonl", rows)], str(tmp_path / "k.json"), to="kto")
    examples = json.loads((tmp_path / "k.json").read_text())
    assert [(e["conversations"][-1]["value"], e["kto_tag"]) for e in examples] == \
        [("x", True), ("y", False), ("v", True), ("u", False)]
    assert report.rejected_by_reason == {"contradictory_label": 2}
    assert "record 0 labels the same prompt and answer" in (tmp_path / "k.rejects.jsonl").read_text()
    # a KTO file written by hand with one answer labelled both ways
    both = examples[:2] + [{**examples[0], "kto_tag": False}]
    (tmp_path / "hand.json").write_text(json.dumps(both))
    result = validate(str(tmp_path / "hand.json"), layout="kto")
    found = [(f.index, f.level) for f in result.findings.items if f.code == "contradictory_kto_label"]
    assert found == [(2, "error")]


# --- outputs with no rows ------------------------------------------------------------------------------------

def test_an_output_with_no_rows_fails_and_replaces_nothing(cli, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "dataset_info.json").write_text("{}")
    out = data / "ties.json"
    out.write_text("[]")  # a previous output stays as it was
    src = write_jsonl(tmp_path / "t.jsonl", [vote("p1", "tie"), vote("p2", "tie"), {"prompt": "p3"}])
    result = cli("convert", src, "-o", out, "--register", "ties", "--dataset-dir", data)
    assert result.exit_code == 1
    assert "no rows to write: all 3 records were rejected (tie 2, missing_field 1)" in result.output
    assert "record 0: winner: the verdict is a tie" in result.output
    assert out.read_text() == "[]" and json.loads((data / "dataset_info.json").read_text()) == {}


@pytest.mark.parametrize("encoding, hint", [("latin-1", "not UTF-8, perhaps latin-1"),
                                            ("utf-16-le", "UTF-16 without a byte-order mark")])
def test_every_record_invalid_json_hints_at_the_encoding(cli, tmp_path, encoding, hint):
    path = tmp_path / "v.jsonl"
    path.write_bytes("".join(json.dumps(vote(f"café {i}", "a"), ensure_ascii=False) + "\n"
                             for i in range(3)).encode(encoding))
    result = cli("convert", path, "-o", tmp_path / "v.json", "--from", "pairwise")
    assert result.exit_code == 1 and "(invalid_json " in result.output and hint in result.output
    result = cli("convert", path, "-o", tmp_path / "v.json")  # auto-detection says the same
    assert result.exit_code == 2 and hint in result.output


# --- auto-detection and --map --------------------------------------------------------------------------------

def test_detection_failure_names_what_is_missing_and_a_line_that_works(cli, tmp_path):
    rows = [{"id": i, "question": f"q{i}", "output_1": "yes", "output_2": "no", "pref": "a"} for i in range(3)]
    src = write_jsonl(tmp_path / "m.jsonl", rows)
    result = cli("convert", src, "-o", tmp_path / "m.json")
    assert result.exit_code == 2
    assert "keys seen: id, output_1, output_2, pref, question; closest: pairwise lacks response_a" in result.output
    line = "--from pairwise --map response_a=output_1 response_b=output_2 verdict=pref"
    assert f"try: {line}" in result.output
    result = cli("convert", src, "-o", tmp_path / "m.json", *line.split())  # the suggested line works
    assert result.exit_code == 0 and len(json.loads((tmp_path / "m.json").read_text())) == 3


def test_detection_failure_without_a_working_line(cli, tmp_path):
    src = write_jsonl(tmp_path / "sft.jsonl", [{"conversations": [{"from": "human", "value": "hi"}]}])
    result = cli("convert", src, "-o", tmp_path / "o.json")
    assert result.exit_code == 2 and "sharegpt lacks chosen, rejected" in result.output
    assert "no --from/--map line reads the sample" in result.output


def test_map_refuses_a_field_no_reader_knows(cli, tmp_path):
    src = write_jsonl(tmp_path / "v.jsonl", [vote("p", "a")])
    result = cli("convert", src, "-o", tmp_path / "o.json", "--map", "winnner=x")
    assert result.exit_code == 2 and "no reader has a field 'winnner'" in result.output and "verdict" in result.output
    result = cli("convert", src, "-o", tmp_path / "o.json", "--from", "pairwise", "--map", "chosen=x")
    assert result.exit_code == 2 and "--from pairwise has no field 'chosen'; fields: prompt, system, query" in result.output
    result = cli("convert", "--help")
    assert "annotator<N>" in result.output


def test_map_takes_several_pairs_after_one_flag(cli, tmp_path):
    rows = [{"q": "p", "left": "x", "right": "y", "w": "b"}]
    src = write_jsonl(tmp_path / "v.jsonl", rows)
    result = cli("convert", "--from", "pairwise", "--map", "prompt=q", "response_a=left", "response_b=right",
                 "verdict=w", "-o", tmp_path / "o.json", src)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "o.json").read_text())[0]["chosen"]["value"] == "y"


def test_a_system_column_is_the_system_prompt_of_pairwise_and_ratings_rows(tmp_path):
    rows = [{**vote("p", "a"), "system": "Be brief."},
            {"prompt": [{"role": "system", "content": "Own."}, {"role": "user", "content": "q"}], "system": "Column.",
             "response_a": "x", "response_b": "y", "winner": "b"}]
    convert([write_jsonl(tmp_path / "v.jsonl", rows)], str(tmp_path / "o.json"), fmt="pairwise")
    heads = [p["conversations"][0] for p in json.loads((tmp_path / "o.json").read_text())]
    assert heads == [{"from": "system", "value": "Be brief."}, {"from": "system", "value": "Own."}]


# --- register ------------------------------------------------------------------------------------------------

def test_register_refuses_a_file_llamafactory_would_drop(cli, tmp_path):
    (tmp_path / "dataset_info.json").write_text("{}")
    rows = [{"conversations": [{"from": "human", "value": "hi"}], "chosen": "a", "rejected": "b"}]
    (tmp_path / "strings.json").write_text(json.dumps(rows))
    with pytest.raises(DataError, match="not registered: LLaMA-Factory would drop every sampled record .1. .*not_pairwise"):
        register("strings", str(tmp_path / "strings.json"), str(tmp_path), layout="sharegpt")
    assert json.loads((tmp_path / "dataset_info.json").read_text()) == {}
    entry = {"file_name": "strings.json", "formatting": "sharegpt", "ranking": True,
             "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}}
    (tmp_path / "dataset_info.json").write_text(json.dumps({"strings": entry}))
    result = cli("register", "--check", "--dataset-dir", tmp_path)
    assert result.exit_code == 1 and "strings: LLaMA-Factory would drop every sampled record" in result.output
    assert "prefkit validate" in result.output


@pytest.mark.parametrize("name", ["a,b", "../up", "sub/name", "tab\there", "bell\x07", ".."])
def test_dataset_names_llamafactory_would_misread_are_refused(cli, tmp_path, name):
    (tmp_path / "dataset_info.json").write_text("{}")
    src = write_jsonl(tmp_path / "v.jsonl", [vote("p", "a")])
    with pytest.raises(RegistryError, match="dataset name"):
        convert([src], str(tmp_path / "o.json"), register=name, dataset_dir=str(tmp_path))
    assert not (tmp_path / "o.json").exists()
    result = cli("train", "--dataset", name, "--dataset-dir", tmp_path, "--model", tmp_path, "--dry-run")
    assert result.exit_code == 2 and "dataset name" in result.output


# --- validate ------------------------------------------------------------------------------------------------

def test_validate_cutoff_needs_a_model_and_counts_records_not_findings(cli, tmp_path):
    pair = {"conversations": [{"from": "human", "value": "<|im_end|> hi"}],
            "chosen": {"from": "gpt", "value": "<|im_end|> a"}, "rejected": {"from": "gpt", "value": "b"}}
    (tmp_path / "d.json").write_text(json.dumps([pair, pair]))
    result = cli("validate", tmp_path / "d.json", "--cutoff-len", "64")
    assert result.exit_code == 2 and "--cutoff-len needs --model" in result.output
    report = validate(str(tmp_path / "d.json"))
    assert len([f for f in report.findings.items if f.code == "special_token_in_text"]) == 4  # two per record
    assert report.findings.counts()["warning"]["special_token_in_text"] == 2  # two records


def test_schema_messages_do_not_quote_whole_answers(tmp_path):
    pair = {"conversations": [{"from": "human", "value": "q"}], "chosen": {"from": "gpt", "value": "long " * 500},
            "rejected": ["not", "a", "message", "long " * 500]}
    (tmp_path / "d.json").write_text(json.dumps([pair]))
    report = validate(str(tmp_path / "d.json"), layout="sharegpt", report_json=str(tmp_path / "r.json"))
    messages = [f["message"] for f in json.loads((tmp_path / "r.json").read_text())["errors"]]
    assert messages and max(map(len, messages)) < 300 and any("characters)" in m for m in messages)
    assert report.findings.items


def test_convert_and_validate_count_prompt_duplicates_alike(tmp_path):
    rows = [{"prompt": "same", "completions": [{"response": r, "score": s} for r, s in (("a", 3), ("b", 2), ("c", 1))]},
            vote("same", "a"), vote("other", "b")]
    src = write_jsonl(tmp_path / "r.jsonl", rows[:1])
    src2 = write_jsonl(tmp_path / "v.jsonl", rows[1:])
    out = tmp_path / "o.json"
    convert([src], str(tmp_path / "a.json"), fmt="ratings", pairing_strategy="all-pairs")
    report = convert([str(tmp_path / "a.json"), src2], str(out), fmt="auto")
    checked = validate(str(out))
    assert report.prompt_duplicates == checked.findings.counts()["info"]["duplicate_prompt"] == 3


def test_validate_with_a_tokenizer_prints_no_torch_advice_and_no_none(qwen_tokenizer, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    good = {"conversations": [{"from": "human", "value": "hi"}], "chosen": {"from": "gpt", "value": "a"},
            "rejected": {"from": "gpt", "value": "b"}}
    dropped = {**good, "chosen": "a string LLaMA-Factory cannot read as a message"}
    prefkit = str(Path(sys.executable).parent / "prefkit")
    for rows, name in (([good], "one.json"), ([dropped], "none.json")):
        (tmp_path / name).write_text(json.dumps(rows))
        proc = subprocess.run([prefkit, "validate", str(tmp_path / name), "--model", qwen_tokenizer, "--template",
                               "qwen", "--cutoff-len", "64"], capture_output=True, text=True, timeout=300)
        assert "PyTorch was not found" not in proc.stderr and "None" not in proc.stderr, proc.stderr
        assert proc.returncode == (0 if name == "one.json" else 1), proc.stderr
