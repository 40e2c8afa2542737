"""Polish (issue): a JSON object of record lists read as records with their group; validate's prompt_repeated and
answers_inside_prompt; train --dry-run --eval-split prints the prefkit line that works; findings counted by the
records they stand for; re-registering an identical entry says "unchanged"; the registry's lock file is kept."""

import json
import re

import pytest

from conftest import load_output, write_jsonl
from prefkit import validate
from prefkit.checks.content import holds_both, repeated_half
from prefkit.checks.findings import Findings
from prefkit.errors import InputError
from prefkit.io import sources
from prefkit.io.sources import iter_rows
from prefkit.registry.add import registration

GROUPED = {
    "length bias": [
        {"prompt": "What is 2+2? Answer briefly.", "response_a": "4", "response_b": "Four, as two and two make four.",
         "verdict": "a"},
        {"prompt": "Capital of France?", "response_a": "Paris", "response_b": "Rome", "verdict": "tie"},
    ],
    "concreteness": [
        {"prompt": "Name a color", "response_a": "red", "response_b": "blue", "verdict": "b", "group": "own"},
        {"prompt": "Name a fruit", "response_a": "apple", "response_b": "stone", "verdict": "x"},
    ],
}


def grouped_file(tmp_path, data=GROUPED, name="judge.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


# --- 1. a JSON object of record lists ------------------------------------------------------------------------------

def test_convert_reads_every_list_in_order_with_its_key_as_group(cli, tmp_path):
    path = grouped_file(tmp_path)
    out = tmp_path / "pairs.jsonl"
    result = cli("convert", path, "--from", "pairwise", "-o", out)
    assert result.exit_code == 0, result.stderr
    assert [(r["conversations"][0]["value"], r["chosen"]["value"]) for r in load_output(out)] == [
        ("What is 2+2? Answer briefly.", "4"), ("Name a color", "blue")]
    # The sharegpt writer keeps no metadata: the group is seen where the record is kept whole, in the rejects
    rejects = load_output(tmp_path / "pairs.rejects.jsonl")
    assert [(r["index"], r["line"], r["reason"], r["record"]["group"]) for r in rejects] == [
        (1, 9, "tie", "length bias"), (3, 24, "unknown_verdict", "concreteness")]


def test_grouped_rows_stream_with_any_chunk_size_and_keep_an_own_group(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "CHUNK", 5)  # keys and elements straddle buffer refills
    path = grouped_file(tmp_path, {"é \"k\"": [], **GROUPED, "last": [{"n": float("nan")}, 3]})
    rows = list(iter_rows(str(path), groups=True))
    assert [(r.index, r.data.get("group") if isinstance(r.data, dict) else r.data, r.reason if r.error else None)
            for r in rows[:4]] == [(0, "length bias", None), (1, "length bias", None), (2, "own", None),
                                   (3, "concreteness", None)]
    assert [(r.index, r.reason, r.data) for r in rows[4:]] == [(4, "non_finite_number", rows[4].data),
                                                               (5, "invalid_json", 3)]
    assert rows[4].error == "NaN is not a JSON number (NaN and Infinity are not allowed)" and rows[5].error is None
    lines = path.read_text().splitlines()
    assert all(lines[r.line - 1].strip().startswith("{") for r in rows[:4])


@pytest.mark.parametrize("data, message", [
    ({"a": [{"x": 1}], "b": 3}, "line 7: the value of 'b' is not a list of records"),
    ({"prompt": "x", "chosen": "y"}, "expected a JSON array of records; for one record a line, name the file .jsonl"),
    ({"messages": [{"role": "user", "content": "hi"}]}, "expected a JSON array of records; for one record a line"),
    ({"tags": ["a", "b"]}, "expected a JSON array of records; for one record a line"),
    ({"a": []}, "expected a JSON array of records; for one record a line"),
])
def test_an_object_that_is_not_record_lists_keeps_todays_error(tmp_path, data, message):
    path = grouped_file(tmp_path, data)
    with pytest.raises(InputError, match=re.escape(message)):
        list(iter_rows(str(path), groups=True))


def test_content_after_the_object_is_a_trailing_content_row(tmp_path):
    path = tmp_path / "t.json"
    path.write_text('{"g": [{"a": 1}]}\n]')
    rows = list(iter_rows(str(path), groups=True))
    assert [(r.index, r.reason if r.error else None) for r in rows] == [(0, None), (1, "trailing_content")]
    assert rows[1].error == "line 2: content after the closing '}' of the JSON object of record lists"


def test_validate_and_register_refuse_it_with_a_line_that_says_to_convert(cli, tmp_path):
    path = grouped_file(tmp_path)
    expected = (f"{path}: a JSON object of record lists (the first under 'length bias'): LLaMA-Factory reads it as "
                f"one record whose columns are the keys; convert it first (prefkit convert {path} -o OUT.jsonl reads "
                "every list, keeping its key as \"group\")")
    with pytest.raises(InputError) as err:
        list(iter_rows(str(path)))
    assert str(err.value) == expected
    for args in (["validate", path], ["register", "g", "--file", path, "--dataset-dir", tmp_path]):
        result = cli(*args)
        assert result.exit_code == 2 and " ".join(result.stderr.split()) == f"Error: {expected}"


# --- 2. prompt_repeated, answers_inside_prompt ---------------------------------------------------------------------

def pair(prompt, chosen="A good answer, with detail.", rejected="A bad answer, vague."):
    return {"conversations": [{"from": "human", "value": prompt}], "chosen": {"from": "gpt", "value": chosen},
            "rejected": {"from": "gpt", "value": rejected}}


JUDGE = ("Which answer is better?\n[Answer A]\nA good answer, with detail.\n[Answer B]\nA bad answer, vague.\n"
         "Reply A or B.")


def test_repeated_prompts_and_answers_inside_the_prompt_are_warned(tmp_path):
    rows = [
        pair("Summarize the article."),                                          # 0 clean
        pair("Summarize the article.\nSummarize the article."),                  # 1 X\nX
        pair("Summarize the article. Summarize the article."),                   # 2 X X
        pair("bye bye"),                                                         # 3 too short to be a mistake
        pair(JUDGE),                                                             # 4 a judge's prompt
        pair('Is "A good answer, with detail." better than "A bad answer, vague."?'),  # 5 quoted in a sentence
        pair("Repeat: A good answer, with detail.", rejected="with detail."),   # 6 short, inside the other
        pair("Say this:\nA good answer, with detail, really.", rejected="with detail, really."),  # 7 inside the other
    ]
    report = validate(write_jsonl(tmp_path / "p.jsonl", rows))
    found = [(f.code, f.index, f.path, f.level) for f in report.findings.items
             if f.code in ("prompt_repeated", "answers_inside_prompt")]
    assert found == [("prompt_repeated", 1, "prompt[0]", "warning"), ("prompt_repeated", 2, "prompt[0]", "warning"),
                     ("answers_inside_prompt", 4, "prompt[0]", "warning")]
    messages = {f.index: f.message for f in report.findings.items if f.index in (1, 4)}
    assert messages[1] == ("the turn is one 22-character text twice, joined by '\\n': one column may feed two fields "
                           "(e.g. instruction and input hold the same text)")
    assert messages[4] == ("the turn holds both the chosen and the rejected answer word for word: a judge's prompt "
                           "(answers to compare) used as training data?")
    assert report.findings.counts()["warning"] == {"prompt_repeated": 2, "answers_inside_prompt": 1}


def test_alpaca_instruction_equal_to_input_is_a_repeated_prompt(tmp_path):
    rows = [{"instruction": "Translate to French: good morning", "input": "Translate to French: good morning",
             "chosen": "Bonjour", "rejected": "Bonsoir"},
            {"instruction": "Translate to French:", "input": "good morning", "chosen": "Bonjour", "rejected": "Bonsoir"}]
    report = validate(write_jsonl(tmp_path / "a.jsonl", rows))
    assert [(f.code, f.index, f.path) for f in report.findings.items] == [("prompt_repeated", 0, "prompt[0]")]


def test_repeated_half_and_holds_both():
    assert repeated_half("  Tell me a joke.\n\nTell me a joke. ") == "Tell me a joke."
    assert repeated_half("Tell me a joke.\nTell me a joke!") == ""
    assert repeated_half("Tell me a joke.Tell me a joke.") == ""  # no blank between: not two copies joined
    assert holds_both(JUDGE, "A good answer, with detail.", "A bad answer, vague.") is True
    assert holds_both(JUDGE, "A good answer, with detail.", "Not there at all, anywhere.") is False


# --- 3. train --dry-run --eval-split --------------------------------------------------------------------------------

def test_dry_run_with_eval_split_prints_the_prefkit_line_that_trains(cli, tmp_path, monkeypatch):
    import prefkit.handoff.train
    from prefkit.handoff.train import TrainResult

    seen = {}

    def fake_train(dataset, dataset_dir, model, **kwargs):
        seen.update(kwargs)
        return TrainResult(config_path="out/train_dpo.yaml", command=["llamafactory-cli", "train", "out/train_dpo.yaml"],
                           config={"dataset": f"{dataset}_train", "eval_dataset": f"{dataset}_eval"})

    monkeypatch.setattr(prefkit.handoff.train, "train", fake_train)
    result = cli("train", "--dataset", "pairs", "--dataset-dir", "my data", "--model", "m", "--template", "qwen",
                 "--eval-split", "0.25", "--set", "max_steps=4", "--set", "lora_rank=16", "--no-validate",
                 "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert seen["dry_run"] is True and seen["eval_split"] == 0.25
    assert result.stderr.splitlines()[-1] == (
        "dry run: nothing was registered; the config names 'pairs_train' and 'pairs_eval', which only a real run "
        "writes and registers, so llamafactory-cli cannot run it yet. To split and train: prefkit train --dataset "
        "pairs --dataset-dir 'my data' --model m --template qwen --eval-split 0.25 --set max_steps=4 --set "
        "lora_rank=16 --no-validate")
    assert "llamafactory-cli train" not in result.stderr
    result = cli("train", "--dataset", "pairs", "--dataset-dir", "d", "--model", "m", "--dry-run")
    assert result.stderr.splitlines()[-1] == "dry run; to train: llamafactory-cli train out/train_dpo.yaml"


def test_dry_run_with_eval_split_end_to_end(cli, tmp_path, tiny_model):
    from prefkit import convert

    rows = [{"instruction": f"Question {i}?", "chosen": f"Answer {i}.", "rejected": "No."} for i in range(8)]
    convert([write_jsonl(tmp_path / "raw.jsonl", rows)], str(tmp_path / "pairs.jsonl"), register="pairs",
            dataset_dir=str(tmp_path))
    before = (tmp_path / "dataset_info.json").read_text()
    result = cli("train", "--dataset", "pairs", "--dataset-dir", tmp_path, "--model", tiny_model, "--template", "qwen",
                 "--cutoff-len", "256", "--eval-split", "0.25", "--output-dir", tmp_path / "out", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[-1].endswith(
        f"To split and train: prefkit train --dataset pairs --dataset-dir {tmp_path} --model {tiny_model} --template "
        f"qwen --cutoff-len 256 --eval-split 0.25 --output-dir {tmp_path / 'out'}")
    assert (tmp_path / "dataset_info.json").read_text() == before  # nothing registered
    assert not (tmp_path / "pairs_train.jsonl").exists()


# --- 4. small inconsistencies ---------------------------------------------------------------------------------------

def test_a_summary_finding_counts_the_records_it_stands_for():
    findings = Findings()
    findings.add("truncated", "warning", None, "", "2 of 5 pairs (truncated) at cutoff_len 8", records=2)
    findings.add("length_bias", "warning", None, "", "chosen is longer")
    findings.add("duplicate_pair", "warning", 3, "", "an identical pair appears earlier")
    findings.add("duplicate_pair", "warning", 3, "x", "again, same record")
    assert findings.counts()["warning"] == {"truncated": 2, "length_bias": 1, "duplicate_pair": 1}


def test_validate_table_counts_truncated_records(cli, tmp_path, qwen_tokenizer):
    long = "Let us reason it through carefully. " * 10
    rows = [pair("Why?", chosen=long + "Yes.", rejected=long + "No."), pair("Why not?", chosen=long + "No.",
                                                                           rejected=long + "Maybe."), pair("Hi?")]
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    report = validate(path, model=qwen_tokenizer, template="qwen", cutoff_len=64)
    assert report.tokens["truncated"] == 2 and report.findings.counts()["warning"]["truncated"] == 2
    result = cli("validate", path, "--model", qwen_tokenizer, "--template", "qwen", "--cutoff-len", "64")
    assert re.search(r"│ warning +│ truncated +│ 2 +│", result.stderr), result.stderr


def test_registering_an_identical_entry_says_unchanged(cli, tmp_path):
    write_jsonl(tmp_path / "p.jsonl", [{"instruction": "hi", "chosen": "a", "rejected": "b"}])
    entry = ("{'file_name': 'p.jsonl', 'formatting': 'alpaca', 'ranking': True, 'columns': {'prompt': 'instruction', "
             "'chosen': 'chosen', 'rejected': 'rejected'}}")
    said = [cli("register", "mine", "--file", tmp_path / "p.jsonl", "--dataset-dir", tmp_path).stderr.strip()
            for _ in range(2)]
    assert said == [f"registered 'mine': {entry}", f"unchanged 'mine' (already registered): {entry}"]
    assert registration("mine", str(tmp_path / "p.jsonl"), str(tmp_path))[1] == "unchanged"


def test_the_lock_file_is_kept_after_a_clean_run(tmp_path):
    """Removing it could let two registrations lock different inodes (registry.editing says why)."""
    write_jsonl(tmp_path / "p.jsonl", [{"instruction": "hi", "chosen": "a", "rejected": "b"}])
    assert registration("mine", str(tmp_path / "p.jsonl"), str(tmp_path))[1] == "added"
    lock = tmp_path / ".dataset_info.json.lock"
    assert lock.exists() and lock.read_bytes() == b""
