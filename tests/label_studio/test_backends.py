"""The label guarantees on both backends (the ``labeler`` fixture: real argilla-server and real Label Studio):
push / status / pull round trip with split votes, ties and unanswered records to the rejects, the A/B order undone,
re-push adding only what is missing, hostile texts byte for byte, and images."""

from __future__ import annotations

import json

from conftest import load_output, write_jsonl
from helpers.images import make_image
from helpers import labelers
from prefkit.label.backends import connect
from prefkit.label.pull import pull
from prefkit.label.push import push
from prefkit.label.status import status

label_studio, labeler = labelers.label_studio, labelers.labeler  # the fixtures


def pairs_to_label(n: int, start: int = 0) -> list[dict]:
    """Pairwise rows with no verdict; the good answer is always response_a in the input."""
    return [{"prompt": f"Question {i}: what is {i} + {i}?", "response_a": f"good {i}: {2 * i}",
             "response_b": f"bad {i}: {2 * i + 1}"} for i in range(start, start + n)]


def good_side(record: dict) -> str:
    return "a" if record["fields"]["response_a"].startswith("good") else "b"


def index(record: dict) -> int:
    return int(record["fields"]["conversation"][0]["content"].split(":")[0].split()[1])


def test_round_trip_split_votes_ties_and_unanswered(labeler, cli, tmp_path):
    src = write_jsonl(tmp_path / "todo.jsonl", pairs_to_label(10))
    result = cli("label", "push", src, "--dataset", labeler.dataset, *labeler.workspace, "--min-submitted", "2",
                 "--report-json", tmp_path / "push.json")
    assert result.exit_code == 0, result.output
    pushed = json.loads((tmp_path / "push.json").read_text())
    assert (pushed["created"], pushed["already_present"], pushed["failed"], pushed["dataset_created"]) == (10, 0, 0, True)
    assert labeler.key not in result.output

    other = {"a": "b", "b": "a"}
    # 0-3 agree; 4: ann1 and ann2 split, ann3 breaks it; 5: split; 6: tie; 7: both bad; 8: only ann1; 9: nobody
    plan = {"ann1": lambda r: None if index(r) == 9 else {6: "tie", 7: "both_bad"}.get(index(r), good_side(r)),
            "ann2": lambda r: (None if index(r) >= 8 else other[good_side(r)] if index(r) in (4, 5) else
                               {6: "tie", 7: "both_bad"}.get(index(r), good_side(r))),
            "ann3": lambda r: good_side(r) if index(r) == 4 else None}
    for name, decide in plan.items():
        labeler.annotate(name, labeler.dataset, decide)

    result = cli("label", "status", "--dataset", labeler.dataset, *labeler.workspace, "--report-json", tmp_path / "st.json")
    assert result.exit_code == 0, result.output
    st = json.loads((tmp_path / "st.json").read_text())
    assert (st["total"], st["completed"], st["pending"], st["min_submitted"]) == (10, 8, 2, 2)
    assert {n: c.get("submitted", 0) for n, c in st["annotators"].items()} == {"ann1": 9, "ann2": 8, "ann3": 1}
    # agreement and the position check as a default pull counts them: 0-4 and 8 (ann1 alone) decided for A or B
    assert st["agreement"]["method"] == "krippendorff_alpha" and st["agreement"]["records"] == 8
    assert st["chosen_shown_as_a"] + st["chosen_shown_as_b"] == 6 and st["position_biased"] is False
    assert "agreement: krippendorff_alpha" in result.output and "position check: the side shown as A won" in result.output

    result = cli("label", "pull", "--dataset", labeler.dataset, *labeler.workspace, "-o", tmp_path / "labeled.json",
                 "--min-annotations", "2", "--report-json", tmp_path / "pull.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "pull.json").read_text())
    out = load_output(tmp_path / "labeled.json")
    assert sorted(int(r["conversations"][0]["value"].split(":")[0].split()[1]) for r in out) == [0, 1, 2, 3, 4]
    # the A/B order is undone: the good answer is chosen whichever side it was shown on
    assert all(r["chosen"]["value"].startswith("good") and r["rejected"]["value"].startswith("bad") for r in out)
    assert report["rejected_by_reason"] == {"too_few_annotations": 2, "split_vote": 1, "tie": 1, "both_bad": 1}
    assert report["agreement"]["method"] == "krippendorff_alpha" and report["agreement"]["records"] == 8
    assert report["agreement"] == st["agreement"]  # status and pull: one computation
    assert report["chosen_shown_as_a"] + report["chosen_shown_as_b"] == 5
    assert len(load_output(report["rejects_file"])) == 5


def test_repush_adds_only_what_is_missing(labeler, tmp_path):
    first = push([write_jsonl(tmp_path / "a.jsonl", pairs_to_label(6))], labeler.dataset, connect(None, None, None),
                 **labeler.kwargs)
    rows = pairs_to_label(9)
    rows.append({**rows[7], "response_a": rows[7]["response_b"], "response_b": rows[7]["response_a"]})  # new, twice
    second = push([write_jsonl(tmp_path / "b.jsonl", rows)], labeler.dataset, connect(None, None, None), **labeler.kwargs)
    assert (first.created, first.already_present, first.dataset_created) == (6, 0, True)
    assert (second.created, second.already_present, second.duplicates, second.dataset_created) == (3, 6, 1, False)


def test_position_bias_is_undone_and_reported(labeler, tmp_path):
    push([write_jsonl(tmp_path / "todo.jsonl", pairs_to_label(40))], labeler.dataset, connect(None, None, None), **labeler.kwargs)
    labeler.annotate("ann1", labeler.dataset, lambda r: "a")  # always the side shown first
    report = pull(labeler.dataset, str(tmp_path / "lazy.json"), connect(None, None, None), **labeler.kwargs)
    out = load_output(tmp_path / "lazy.json")
    assert (report.chosen_shown_as_a, report.chosen_shown_as_b, report.position_biased) == (40, 0, True)
    st = status(labeler.dataset, connect(None, None, None), **labeler.kwargs)  # status sees the bias before any pull
    assert (st.chosen_shown_as_a, st.chosen_shown_as_b, st.position_share, st.position_biased) == (40, 0, 1.0, True)
    assert st.agreement == {"method": None, "value": None, "records": 0, "annotators": 1}
    assert 8 <= sum(r["chosen"]["value"].startswith("good") for r in out) <= 32


HOSTILE = ["<think>plan</think>\nanswer", "#include <stdio.h> & List<String> &amp; &lt;", "  lead\tand trail  \n\n",
           "emoji 🙂 and RTL \u202eevil\u202c, zwsp <\u200b here", "<script>alert(1)</script>", "**bold** `code`\r\nCRLF"]


def test_hostile_texts_come_back_byte_for_byte(labeler, tmp_path):
    rows = [{"prompt": [{"role": "system", "content": f"sys {i} <b>"}, {"role": "user", "content": f"q{i} {text}"}],
             "response_a": f"good {text}", "response_b": f"bad {i} {text}"} for i, text in enumerate(HOSTILE)]
    push([write_jsonl(tmp_path / "todo.jsonl", rows)], labeler.dataset, connect(None, None, None), **labeler.kwargs)
    labeler.annotate("ann1", labeler.dataset, lambda r: good_side(r))
    report = pull(labeler.dataset, str(tmp_path / "out.jsonl"), connect(None, None, None), **labeler.kwargs)
    assert report.rows_written == len(HOSTILE)
    got = {r["conversations"][-1]["value"]: r for r in load_output(tmp_path / "out.jsonl")}
    for i, text in enumerate(HOSTILE):
        row = got[f"q{i} {text}"]
        assert (row["conversations"][0]["value"], row["chosen"]["value"], row["rejected"]["value"]) == \
            (f"sys {i} <b>", f"good {text}", f"bad {i} {text}")


def test_images_are_shown_and_their_paths_come_back(labeler, tmp_path):
    make_image(tmp_path / "red.png", (16, 16), color=(200, 30, 30))
    rows = [{"conversations": [{"from": "human", "value": "<image>What colour?"}], "images": ["red.png"],
             "chosen": {"from": "gpt", "value": "good: red"}, "rejected": {"from": "gpt", "value": "bad: blue"}}]
    report = push([write_jsonl(tmp_path / "img.jsonl", rows)], labeler.dataset, connect(None, None, None), **labeler.kwargs)
    assert (report.created, report.failed) == (1, 0), report.first_failure
    shown: list[dict] = []
    labeler.annotate("ann1", labeler.dataset, lambda r: shown.append(r) or good_side(r))
    pull(labeler.dataset, str(tmp_path / "out.json"), connect(None, None, None), **labeler.kwargs)
    out = load_output(tmp_path / "out.json")
    assert out[0]["images"] == ["red.png"] and out[0]["chosen"]["value"] == "good: red"
