"""validate's reasoning findings (prefkit/checks/reasoning.py): thoughts in one answer only, unclosed and
closing-only thoughts, thoughts the template will or will not strip by their whitespace, history thoughts the
setting strips, a reasoning template without thoughts and thoughts without one; each code documented."""

import re

import pytest

from conftest import ROOT, write_jsonl
from prefkit import validate
from prefkit.checks.reasoning import CODES

EXACT = "<think>\nadd them\n</think>\n\n"  # as 0.9.5's qwen3 thought words write it: stripped
Q = {"from": "human", "value": "What is two plus two?"}


def _pair(chosen: str, rejected: str, *history: str) -> dict:
    turns = [Q]
    for answer in history:
        turns += [{"from": "gpt", "value": answer}, {"from": "human", "value": "And again?"}]
    return {"conversations": turns, "chosen": {"from": "gpt", "value": chosen},
            "rejected": {"from": "gpt", "value": rejected}}


ROWS = [
    _pair(EXACT + "4", "5"),  # 0: chosen only
    _pair("4", EXACT + "5"),  # 1: rejected only
    _pair(EXACT + "4", EXACT + "5"),  # 2: both
    _pair("<think>\nadd them and 4", "5"),  # 3: unclosed (and chosen only)
    _pair("4", "added.\n</think>\n\n5"),  # 4: closing-only (and rejected only)
    _pair("4", "5", EXACT + "4"),  # 5: a history thought the template strips
    _pair("4", "5", "<think>\nadd them\n</think>\n4"),  # 6: one it does not strip (one newline)
    _pair("<think>x</think>4", "<think>y</think>5"),  # 7: inline in both
    _pair("4", "5"),  # 8: no thought
]


def found(report, code: str) -> dict[int, tuple[str, str]]:
    return {f.index: (f.path, f.message) for f in report.findings.items if f.code == code}


def checked(path: str, enable=True, preserve=False, **options):
    """validate with these data arguments (LLaMA-Factory's enable_thinking and preserve_thinking)."""
    return validate(path, enable_thinking=enable, preserve_thinking=preserve, **options)


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    return write_jsonl(tmp_path_factory.mktemp("think") / "pairs.jsonl", ROWS)


def test_without_a_model_the_template_free_findings(rows):
    report = validate(rows)
    one = found(report, "thought_in_one_answer")
    assert {i: path for i, (path, _) in one.items()} == {0: "chosen", 1: "rejected", 3: "chosen", 4: "rejected"}
    assert "DPO learns the thought itself as the preference" in one[0][1]
    assert found(report, "thought_unclosed").keys() == {3} and found(report, "thought_closing_only").keys() == {4}
    assert not found(report, "history_thought_stripped") and not found(report, "thought_not_stripped")


@pytest.mark.llamafactory
def test_reasoning_template_defaults(rows, qwen_tokenizer):
    report = checked(rows, model=qwen_tokenizer, template="qwen3", cutoff_len=1024)
    assert report.tokens["enable_thinking"] is True
    assert "gives the rejected answer an empty thought" in found(report, "thought_in_one_answer")[0][1]
    assert found(report, "history_thought_stripped") == {5: ("prompt[1]", found(report, "history_thought_stripped")[5][1])}
    assert found(report, "thought_not_stripped").keys() == {6}
    path, message = found(report, "thought_not_stripped")[6]
    assert path == "prompt[1]" and "stays in the prompt" in message
    assert not found(report, "thought_stripped")  # enable_thinking true trains the answers' thoughts
    assert not found(report, "reasoning_template_without_thoughts")


@pytest.mark.llamafactory
def test_enable_thinking_false_strips_by_whitespace(rows, qwen_tokenizer):
    report = checked(rows, False, model=qwen_tokenizer, template="qwen3", cutoff_len=1024)
    stripped = found(report, "thought_stripped")
    assert set(stripped) == {0, 1, 2} and stripped[0][0] == "chosen"
    assert "'4'" in stripped[0][1] and "empty thought goes into the masked prompt" in stripped[0][1]
    not_stripped = found(report, "thought_not_stripped")
    assert {7, 6} <= not_stripped.keys() and "stays in the trained answer" in not_stripped[7][1]
    # once stripped, neither answer of rows 0 and 1 thinks: no preference for thinking
    assert found(report, "thought_in_one_answer").keys() == {3, 4}


@pytest.mark.llamafactory
def test_answers_that_differ_only_by_their_thought(tmp_path, qwen_tokenizer):
    """With enable_thinking: false both answers train as '4', untruncated: an error, not only per-side warnings."""
    rows = write_jsonl(tmp_path / "same.jsonl", [_pair(EXACT + "4", "4"), _pair(EXACT + "4", "<think>\nx\n</think>\n\n4"),
                                                 _pair(EXACT + "4", "5")])
    report = checked(rows, False, model=qwen_tokenizer, template="qwen3", cutoff_len=1024)
    same = found(report, "identical_after_thought_stripped")
    assert set(same) == {0, 1} and same[0][0] == "chosen" and "'4' for both" in same[0][1]
    assert {f.code for f in report.findings.by_level("error")} == {"identical_after_thought_stripped"}
    assert report.tokens["truncated"] == 0 and not found(report, "identical_after_truncation")
    assert not found(report, "thought_in_one_answer").keys() & {0, 1}
    kept = checked(rows, True, model=qwen_tokenizer, template="qwen3", cutoff_len=1024)  # thoughts trained
    assert not found(kept, "identical_after_thought_stripped") and found(kept, "thought_in_one_answer").keys() == {0, 2}


@pytest.mark.llamafactory
def test_preserve_thinking_keeps_history(rows, qwen_tokenizer):
    report = checked(rows, True, True, model=qwen_tokenizer, template="qwen3", cutoff_len=1024)
    assert report.tokens["preserve_thinking"] is True
    assert not found(report, "history_thought_stripped") and not found(report, "thought_not_stripped")


@pytest.mark.llamafactory
def test_template_and_data_disagree(tmp_path, rows, qwen_tokenizer):
    plain = write_jsonl(tmp_path / "plain.jsonl", [_pair("4", "5"), _pair("6", "7")])
    report = checked(plain, model=qwen_tokenizer, template="qwen3", cutoff_len=1024)
    (finding,) = [f for f in report.findings.items if f.code == "reasoning_template_without_thoughts"]
    assert finding.index is None and finding.records == 2 and "qwen3_nothink" in finding.message
    report = checked(rows, model=qwen_tokenizer, template="qwen", cutoff_len=1024)
    (finding,) = [f for f in report.findings.items if f.code == "thoughts_without_reasoning_template"]
    assert finding.records == 8 and "records 0, 1, 2, 3, 4, 5, 6, 7" in finding.message
    assert not found(report, "history_thought_stripped")  # a plain template strips nothing


def test_every_reasoning_code_is_documented():
    page = (ROOT / "docs" / "reasoning.md").read_text(encoding="utf-8")
    table = (ROOT / "docs" / "commands" / "validate.md").read_text(encoding="utf-8")
    for code in CODES:
        assert re.search(rf"\| `{code}`", page), f"docs/reasoning.md has no row for {code}"
        assert f"`{code}`" in table, f"docs/commands/validate.md does not list {code}"


@pytest.mark.llamafactory
def test_kto_examples(tmp_path, qwen_tokenizer):
    examples = [{"conversations": [Q, {"from": "gpt", "value": EXACT + "4"}], "kto_tag": True},
                {"conversations": [Q, {"from": "gpt", "value": "<think>\nguess 5"}], "kto_tag": False}]
    report = checked(write_jsonl(tmp_path / "kto.jsonl", examples), False, model=qwen_tokenizer, template="qwen3",
                     cutoff_len=1024)
    assert report.stage == "kto" and found(report, "thought_stripped") == {0: ("answer", found(report, "thought_stripped")[0][1])}
    assert "strips the answer's thought" in found(report, "thought_stripped")[0][1]
    assert found(report, "thought_unclosed").keys() == {1} and not found(report, "thought_in_one_answer")
