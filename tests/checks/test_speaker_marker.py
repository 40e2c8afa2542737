"""validate's speaker_marker_in_answer warning (issue #10): an answer that holds a Human:/Assistant: turn."""

import pytest

from conftest import write_jsonl
from prefkit import validate


def sharegpt(chosen: str, rejected: str, prompt: str = "Q?") -> dict:
    return {"conversations": [{"from": "human", "value": prompt}], "chosen": {"from": "gpt", "value": chosen},
            "rejected": {"from": "gpt", "value": rejected}}


def alpaca(chosen: str, rejected: str, prompt: str = "Q?") -> dict:
    return {"instruction": prompt, "input": "", "chosen": chosen, "rejected": rejected}


def kto(answer: str, label: bool, prompt: str = "Q?") -> dict:
    return {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}], "label": label}


def warnings(report) -> list[tuple[int | None, str]]:
    return [(f.index, f.path) for f in report.findings.items if f.code == "speaker_marker_in_answer"]


@pytest.mark.parametrize("make", [sharegpt, alpaca])
def test_pairs_get_the_warning_on_the_answer_that_holds_a_turn(tmp_path, make):
    inline = "That is all I know.  Human: and then what?"  # the inline turn
    rows = [make("Use the Human: column.", "No.", "q0"),  # prose: no warning
            make(inline, "No.", "q1"),
            make("Fine.", "Sure.\nAssistant: more", "q2"),
            make("Human: hi", "Ok. Assistant: again", "q3"),                  # both answers
            make("A plain answer.", "Another one.", "q4")]
    report = validate(write_jsonl(tmp_path / "d.jsonl", rows))
    assert report.stage == "rm"
    assert warnings(report) == [(1, "chosen"), (2, "rejected"), (3, "chosen"), (3, "rejected")]
    found = [f for f in report.findings.items if f.code == "speaker_marker_in_answer"]
    assert {f.level for f in found} == {"warning"} and "'Human:'" in found[0].message
    assert f"character {inline.index('Human:')})" in found[0].message


def test_kto_answers_get_the_warning(tmp_path):
    rows = [kto("Sure. Human: thanks", True, "q0"), kto("Fine", False, "q1"), kto("Ok.  Assistant: x", False, "q2")]
    report = validate(write_jsonl(tmp_path / "k.jsonl", rows))
    assert report.stage == "kto"
    assert warnings(report) == [(0, "completion"), (2, "completion")]


def test_markers_in_the_prompt_are_not_answers(tmp_path):
    rows = [sharegpt("Yes.", "No.", prompt="Transcript:\nHuman: hi\nAssistant: hello")]
    assert warnings(validate(write_jsonl(tmp_path / "p.jsonl", rows))) == []
