"""hh-rlhf transcripts with turn markers written inline (issue #10): the marker rule, the reader's rejects."""

import json

import pytest

from conftest import load_output, read, write_jsonl
from prefkit.speakers import speaker_marker, split_inline


def hh(*turns: str) -> str:
    """A transcript in HH layout from alternating Human/Assistant turns, written with blank lines."""
    return "".join(f"\n\n{'Human' if i % 2 == 0 else 'Assistant'}: {t}" for i, t in enumerate(turns))


@pytest.mark.parametrize("text, where", [
    ("That is all I know.  Human: and then what?", 21),   # two spaces
    ("That is all I know. Human: and then what?", 20),    # one space after a sentence's end
    ("It said \"stop!\" Assistant: ok", 16),             # a closing quote between the two
    ("Fine\nHuman: more", 5),                             # a line break
    ("Human: starts the answer", 0),                      # the start of the text
    ("   Assistant: after leading blanks", 3),
])
def test_markers_at_a_turn_boundary_are_found(text, where):
    found = speaker_marker(text)
    assert found is not None and found.start() == where


@pytest.mark.parametrize("text", [
    "Fill in the Human: column and the Assistant: column.",  # one space, no sentence end
    "The label human: is lower case.  human: again",         # case-sensitive
    "x.Human: glued to the stop",                            # no whitespace before it
    "(Assistant: in brackets)",
    "HumanResources: not a marker.  Humane: neither",
])
def test_prose_is_not_a_turn_boundary(text):
    assert speaker_marker(text) is None


def test_split_inline_cuts_at_each_boundary_and_keeps_the_first_role():
    parts = split_inline("assistant", "all I know.  Human: and then what?\nAssistant: this.")
    assert parts == [("assistant", "all I know."), ("user", "and then what?"), ("assistant", "this.")]
    assert split_inline("user", "a plain turn") == [("user", "a plain turn")]


def test_inline_markers_give_divergent_history_or_malformed_transcript(tmp_path):
    inline = "Someone wrote it, that is all I know.  Human: and then what?"  # no blank line before Human:
    rows = [
        # 0: the record: an inline Human turn, then a later answer; rejected answered the first turn.
        # Merging the two Assistant turns would hide that the two sides differ at turn 1.
        {"chosen": hh("Who wrote it?", inline) + "\n\nAssistant: A sequel.", "rejected": hh("Who wrote it?", "No idea.")},
        # 1: both sides share the inline turn: the history agrees but each answer holds a fake user turn.
        {"chosen": hh("Who wrote it?", inline) + "\n\nAssistant: A sequel.",
         "rejected": hh("Who wrote it?", inline) + "\n\nAssistant: Nothing."},
        # 2: the rejected answer runs on into a turn the model made up.
        {"chosen": hh("Hi", "Hello."), "rejected": hh("Hi", "Hey.\nHuman: thanks")},
        # 3: histories differ only in whitespace: one conversation, accepted.
        {"chosen": hh("Tell me   a joke.", "Why?", "Because.", "Ha."),
         "rejected": hh("Tell me a joke.", "Why?", "Because.", "Meh.")},
        # 4: prose that mentions the roles is an ordinary answer.
        {"chosen": hh("Columns?", "Use the Human: column and the Assistant: column."), "rejected": hh("Columns?", "No.")},
        # 5: an inline turn in the history of one side, written with blank lines on the other: one history.
        {"chosen": hh("Q?", "A.  Human: and then?") + "\n\nAssistant: B." + hh("Next?", "Good."),
         "rejected": hh("Q?", "A.", "and then?", "B.", "Next?", "Bad.")},
        # 6: histories that really differ, with no inline marker anywhere (as before).
        {"chosen": hh("Bake bread?", "Knead."), "rejected": hh("Cook pasta?", "Boil.")},
    ]
    records, rejects, _ = read(write_jsonl(tmp_path / "hh.jsonl", rows), "hh-rlhf")
    reasons = {r.index: (r.reason, r.message) for r in rejects}
    assert {i: reason for i, (reason, _) in reasons.items()} == {
        0: "divergent_history", 1: "malformed_transcript", 2: "malformed_transcript", 6: "divergent_history"}
    assert "differ at turn 1" in reasons[0][1] and "differ at turn 0" in reasons[6][1]
    assert reasons[1][1].startswith("chosen: the final answer holds a 'Human:' turn marker")
    assert reasons[2][1].startswith("rejected: the final answer holds a 'Human:' turn marker at character 5")
    assert [r.provenance.index for r in records] == [3, 4, 5]
    assert [m.content for m in records[0].prompt] == ["Tell me   a joke.", "Why?", "Because."]  # chosen's side
    assert records[1].chosen.content == "Use the Human: column and the Assistant: column."
    assert (records[2].chosen.content, records[2].rejected.content) == ("Good.", "Bad.")
    for record in records:
        assert speaker_marker(record.chosen.content) is None and speaker_marker(record.rejected.content) is None


def test_the_cli_writes_no_answer_with_a_fake_turn(cli, tmp_path):
    good = {"chosen": hh("Hi", "Hello."), "rejected": hh("Hi", "Go away.")}
    bad = {"chosen": hh("Hi", "Hello.  Human: and then what?") + "\n\nAssistant: Then nothing.",
           "rejected": hh("Hi", "Hello.  Human: and then what?") + "\n\nAssistant: Bye."}
    src = write_jsonl(tmp_path / "in.jsonl", [good, bad, good | {"rejected": hh("Hi", "Go.")}])
    result = cli("convert", src, "--from", "hh-rlhf", "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 0, result.output
    written = load_output(tmp_path / "out.jsonl")
    assert [row["rejected"]["value"] for row in written] == ["Go away.", "Go."]
    rejects = [json.loads(line) for line in (tmp_path / "out.rejects.jsonl").read_text().splitlines()]
    assert [(r["index"], r["reason"]) for r in rejects] == [(1, "malformed_transcript")]
