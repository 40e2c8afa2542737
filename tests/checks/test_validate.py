"""prefkit validate: each check tripped by a record made for it, registered names, token reports, the CLI."""

import json

import pytest

from conftest import fixture, raw, write_jsonl
from helpers.mutations import KTO, datasets, write
from prefkit import validate
from prefkit.errors import InputError, UsageError
from prefkit.targets.lf import infer_seqlen


def pair(prompt="Q?", chosen="A good answer.", rejected="A bad one.", system=None, **extra):
    convo = ([{"from": "system", "value": system}] if system else []) + [{"from": "human", "value": prompt}]
    return {"conversations": convo, "chosen": {"from": "gpt", "value": chosen},
            "rejected": {"from": "gpt", "value": rejected}, **extra}


def codes(report, level=None):
    return sorted({(f.code, f.index) for f in report.findings.items if level in (None, f.level)},
                  key=lambda c: (c[0], -1 if c[1] is None else c[1]))


def test_content_checks_each_trip_on_their_record(tmp_path):
    rows = [
        pair(),                                                    # 0 clean
        pair(chosen="same  text", rejected="same text"),           # 1 identical
        pair(chosen="   "),                                        # 2 empty answer
        pair(prompt=" "),                                          # 3 empty prompt
        pair(),                                                    # 4 duplicate of 0
        pair(chosen="A bad one.", rejected="A good answer."),      # 5 contradicts 0
        pair(prompt="Say <|im_end|> now"),                         # 6 special token
        pair(chosen="bad \x07 bell"),                              # 7 control character
        pair(system="You are terse."),                             # 8 another system prompt
    ]
    report = validate(write_jsonl(tmp_path / "c.jsonl", rows))
    assert report.records == 9 and report.would_drop == []
    found = codes(report)
    for expected in [("identical_answers", 1), ("empty_answer", 2), ("empty_prompt", 3), ("duplicate_pair", 4),
                     ("duplicate_prompt", 4), ("contradictory_preference", 5), ("special_token_in_text", 6),
                     ("control_character", 7), ("mixed_system_prompts", None)]:
        assert expected in found, expected
    assert not [c for c in found if c[1] == 0]


def test_length_bias_is_a_dataset_warning(tmp_path):
    rows = [pair(prompt=f"q{i}", chosen="long answer " * 10, rejected="short") for i in range(30)]
    report = validate(write_jsonl(tmp_path / "b.jsonl", rows))
    assert ("length_bias", None) in codes(report, "warning")
    assert report.content["chosen_longer_share"] == 1.0


def test_schema_reports_every_violation_and_would_drop(tmp_path):
    rows = [pair(), {"conversations": [{"from": "bot", "value": 3}], "chosen": {"from": "gpt"}}]
    report = validate(write_jsonl(tmp_path / "s.jsonl", rows), layout="sharegpt")
    paths = {f.path for f in report.findings.items if f.code == "schema"}
    assert {"conversations[0].from", "conversations[0].value", "chosen"} <= paths
    assert [d["index"] for d in report.would_drop] == [1]


def test_registered_names_use_their_columns_tags_and_registry_checks(tmp_path):
    sets = {k: v for k, v in datasets().items() if k in ("kto", "kto_string_label", "en_wrong_role")}
    write(tmp_path, sets)
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    info["kto"]["num_samples"] = 5
    info["kto"]["columns"]["system"] = "sys_prompt"  # a mapped column absent from the file
    (tmp_path / "dataset_info.json").write_text(json.dumps(info))
    kto = validate("kto", dataset_dir=str(tmp_path))
    assert kto.stage == "kto" and kto.would_drop == []
    assert ("num_samples_cuts", None) in codes(kto, "warning")
    assert any(f.code == "registry" and "sys_prompt" in f.message for f in kto.findings.items)
    labels = validate("kto_string_label", dataset_dir=str(tmp_path))
    assert {d["code"] for d in labels.would_drop} == {"not_kto"} and len(labels.would_drop) == 20
    assert any(f.code == "schema" and f.path == "label" for f in labels.findings.items)
    wrong = validate("en_wrong_role", dataset_dir=str(tmp_path))
    assert [d["index"] for d in wrong.would_drop] == list(range(0, 20, 3))
    with pytest.raises(InputError, match="no dataset of that name"):
        validate("nope", dataset_dir=str(tmp_path))
    assert KTO["tags"]["role_tag"] == "role"


def test_column_type_conflict_and_broken_rows(tmp_path):
    rows = [pair(), pair(chosen="x") | {"chosen": "plain string"}, {"conversations": None}]
    report = validate(write_jsonl(tmp_path / "t.jsonl", rows), layout="sharegpt")
    found = codes(report, "error")
    assert ("column_type_conflict", 1) in found and ("not_pairwise", 1) in found and ("breaks_loader", 2) in found


def test_tokens_report_lengths_file_and_recommendations(tmp_path, qwen_tokenizer):
    shared = "Let us reason it through carefully. " * 30
    rows = [pair(prompt="Why?", chosen=shared + " Yes.", rejected=shared + " No."),
            pair(prompt=" "),  # kept by LLaMA-Factory (an empty prompt is not dropped), flagged by prefkit
            {"conversations": [{"from": "gpt", "value": "x"}], "chosen": {"from": "gpt", "value": "a"},
             "rejected": {"from": "gpt", "value": "b"}}] + [pair(prompt=f"p{i}" * (i * 20 + 1)) for i in range(20)]
    lengths = tmp_path / "lengths.jsonl"
    report = validate(write_jsonl(tmp_path / "k.jsonl", rows), model=qwen_tokenizer, template="qwen",
                      cutoff_len=128, lengths_path=str(lengths))
    lines = [json.loads(x) for x in lengths.read_text().splitlines()]
    assert [x["index"] for x in lines] == list(range(len(rows)))
    assert lines[2] == {"index": 2, "dropped": "bad_role_order"}
    tokens = report.tokens
    assert tokens["cutoff_len"] == 128 and tokens["pairs"] == len(rows) - 1
    assert tokens["identical_after_truncation"] == 1 and ("identical_after_truncation", 0) in codes(report, "error")
    whole = [x for x in lines if "dropped" not in x]
    assert tokens["truncated"] == sum((x["prompt_kept"], x["chosen_kept"], x["rejected_kept"])
                                      != (x["prompt"], x["chosen"], x["rejected"]) for x in whole) > 0
    assert tokens["lost_eos"] == sum(x["chosen_kept"] < x["chosen"] or x["rejected_kept"] < x["rejected"] for x in whole)
    best = tokens["recommended_cutoff_len"]["100%"]
    assert best == max(x["prompt"] + max(x["chosen"], x["rejected"]) for x in whole)
    for x in whole:
        response = max(x["chosen"], x["rejected"])
        total = x["prompt"] + response
        assert infer_seqlen(x["prompt"], response, best) == (x["prompt"], response)
        assert infer_seqlen(x["prompt"], response, total - 1) != (x["prompt"], response)
        kept = (x["prompt_kept"], x["chosen_kept"], x["rejected_kept"])
        assert (kept != (x["prompt"], x["chosen"], x["rejected"])) == (total > 128)


def test_template_choice_and_mismatch(tmp_path, qwen_tokenizer):
    from prefkit.targets.lf import default_template

    assert default_template("Qwen/Qwen2.5-7B-Instruct") == "qwen"
    assert default_template("/models/my-finetune") is None
    src = fixture("dpo_zh_demo.sample.json")
    assert ("template_mismatch", None) in codes(validate(src, model=qwen_tokenizer, template="llama3", cutoff_len=512))
    assert ("template_mismatch", None) not in codes(validate(src, model=qwen_tokenizer, template="qwen", cutoff_len=512))
    with pytest.raises(UsageError, match="no default template"):
        validate(src, model=qwen_tokenizer, template="auto", cutoff_len=512)
    with pytest.raises(UsageError, match="unknown template 'nope'"):
        validate(src, model=qwen_tokenizer, template="nope", cutoff_len=512)
    with pytest.raises(UsageError, match="cannot load a tokenizer"):
        validate(src, model=str(tmp_path), template="qwen", cutoff_len=512)
    with pytest.raises(UsageError, match="--model needs --cutoff-len"):
        validate(src, model=qwen_tokenizer)


def test_cli_exit_codes_and_report_json(cli, tmp_path, qwen_tokenizer):
    clean = fixture("dpo_zh_demo.sample.json")
    result = cli("validate", clean, "--report-json", tmp_path / "r.json", "--model", qwen_tokenizer,
                 "--template", "qwen", "--cutoff-len", "1024")
    assert result.exit_code == 0, result.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    for key in ("records", "errors", "warnings", "would_drop", "tokens"):
        assert key in data
    for key in ("cutoff_len", "truncated", "truncated_prompt", "truncated_chosen", "truncated_rejected",
                "identical_after_truncation", "lost_eos", "percentiles", "recommended_cutoff_len"):
        assert key in data["tokens"]
    assert "cutoff_len that keeps pairs whole" in result.stderr
    bad = write_jsonl(tmp_path / "bad.jsonl", [pair(), pair(chosen="x", rejected="x")])
    result = cli("validate", bad)
    assert result.exit_code == 1 and result.stderr.strip().splitlines()[-1].startswith("Error: bad.jsonl: 1 error(s)")
    assert cli("validate", bad, "--fail-on", "error", "-q").exit_code == 1
    warn_only = write_jsonl(tmp_path / "w.jsonl", [pair(), pair()])
    assert cli("validate", warn_only, "-q").exit_code == 0
    assert cli("validate", warn_only, "-q", "--fail-on", "warning").exit_code == 1
    for args, message in [(["validate", tmp_path / "none.json"], "no such file"),
                          (["validate", clean, "--fail-on", "fatal"], "--fail-on 'fatal'"),
                          (["validate", clean, "--model", tmp_path, "--cutoff-len", "8", "--template", "qwen"],
                           "cannot load a tokenizer")]:
        result = cli(*args)
        assert result.exit_code == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_html_report_is_self_contained_and_names_the_problems(cli, tmp_path, qwen_tokenizer):
    rows = [pair(), pair(chosen="same", rejected="same"), {"conversations": [{"from": "gpt", "value": "x"}],
                                                            "chosen": {"from": "gpt", "value": "a"},
                                                            "rejected": {"from": "gpt", "value": "b"}}]
    src = write_jsonl(tmp_path / "h.jsonl", rows)
    result = cli("validate", src, "--html", tmp_path / "report.html", "--model", qwen_tokenizer, "--template", "qwen",
                 "--cutoff-len", "16")
    assert result.exit_code == 1
    page = (tmp_path / "report.html").read_text()
    assert "http" not in page and "src=" not in page and "<link" not in page and "<script" not in page
    for expected in ("identical_answers", "bad_role_order", "<svg", "cutoff_len 16", "would be dropped"):
        assert expected in page
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_kto_token_lengths_and_records_that_break_the_run(tmp_path, qwen_tokenizer):
    """KTO examples are measured (the parity test compares them with LLaMA-Factory); a record the converter
    empties is not just dropped: the next record's KL answer is missing and LLaMA-Factory fails."""
    rows = raw("kto_en_demo.sample.json")
    rows[1]["messages"].pop()  # an odd message count: dropped, and no answer for record 2's KL example
    lengths = tmp_path / "lengths.jsonl"
    report = validate(write_jsonl(tmp_path / "k.jsonl", rows), model=qwen_tokenizer, template="qwen", cutoff_len=256,
                      lengths_path=str(lengths))
    assert report.stage == "kto"
    assert {("bad_message_count", 1), ("breaks_loader", 1)} <= set(codes(report, "error"))
    lines = [json.loads(x) for x in lengths.read_text().splitlines()]
    assert lines[1] == {"index": 1, "dropped": "bad_message_count"}
    whole = [x for x in lines if "dropped" not in x]
    tokens = report.tokens
    assert tokens["pairs"] == len(whole) == len(rows) - 1 and tokens["identical_after_truncation"] == 0
    assert tokens["truncated"] == sum((x["prompt_kept"], x["answer_kept"]) != (x["prompt"], x["answer"])
                                      for x in whole) > 0
    assert tokens["truncated_chosen"] + tokens["truncated_rejected"] == tokens["lost_eos"] == sum(
        x["answer_kept"] < x["answer"] for x in whole)
    assert tokens["truncated_rejected"] == sum(x["answer_kept"] < x["answer"] for x in whole if not x["desirable"])
    assert tokens["recommended_cutoff_len"]["100%"] == max(x["prompt"] + x["answer"] for x in whole)
    for x in whole:
        assert (x["prompt_kept"], x["answer_kept"]) == infer_seqlen(x["prompt"], x["answer"], 256)
    assert "examples (truncated) at cutoff_len 256" in next(f.message for f in report.findings.items
                                                          if f.code == "truncated")
    rows[1] = raw("kto_en_demo.sample.json")[1]
    rows[1]["label"] = None  # not a KTO example: dropped, but its answer still serves record 2's KL example
    report = validate(write_jsonl(tmp_path / "n.jsonl", rows))
    assert ("not_kto", 1) in codes(report, "error") and ("breaks_loader", 1) not in codes(report)


def test_token_lengths_need_a_preference_dataset(tmp_path, qwen_tokenizer):
    write_jsonl(tmp_path / "sft.jsonl", raw("sharegpt_sft.sample.json"))
    (tmp_path / "dataset_info.json").write_text(json.dumps({"sft": {"file_name": "sft.jsonl", "formatting": "sharegpt"}}))
    report = validate("sft", str(tmp_path), model=qwen_tokenizer, template="qwen", cutoff_len=256)
    assert report.tokens is None and ("tokens_not_measured", None) in codes(report, "info")
    with pytest.raises(UsageError, match="ranking .*and KTO"):
        validate("sft", str(tmp_path), model=qwen_tokenizer, template="qwen", cutoff_len=256,
                 lengths_path=str(tmp_path / "l.jsonl"))


@pytest.mark.parametrize("lf", ["0.9.5", "0.9.3"])
def test_the_validate_command_counts_tokens_without_torch(tmp_path, qwen_tokenizer, lf):
    """The console script keeps torch out of validate's process (transformers' tokenizer-only mode and
    LLaMA-Factory's templates without their torch imports); the lengths parity test proves the same ids."""
    import subprocess
    import sys

    from conftest import LF_PYTHONS

    python = LF_PYTHONS[lf]
    if not python.exists():
        pytest.skip(f"LLaMA-Factory {lf} venv not set up")
    probe = ("import atexit, sys; from prefkit.cli import main; "
             "atexit.register(lambda: print('TORCH', sys.modules.get('torch') is not None, 'LF_DATA', "
             "'llamafactory.data' in sys.modules)); sys.argv = ['prefkit'] + sys.argv[1:]; main()")
    args = ["validate", fixture("dpo_en_demo.sample.json"), "--model", qwen_tokenizer, "--template", "qwen",
            "--cutoff-len", "512", "--report-json", str(tmp_path / "r.json"), "-q"]
    proc = subprocess.run([str(python), "-c", probe, *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "TORCH False LF_DATA False" in proc.stdout
    assert json.loads((tmp_path / "r.json").read_text())["tokens"]["cutoff_len"] == 512
    assert sys.modules.get("torch", "absent") is not None  # this process is untouched
