"""Pairs to label: convert --unlabeled, record ids, the A/B order, and agreement (no server needed)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import fixture, load_output, write_jsonl
from prefkit.label.agreement import cohen_kappa, krippendorff_alpha
from prefkit.label.tasks import original, pair_fields, record_id, shown, swapped, task
from prefkit.pipeline.convert import convert
from prefkit.records import Message, Provenance, UnlabeledPair


def pair(a: str, b: str, suggestion: str | None = None, system: str = "") -> UnlabeledPair:
    return UnlabeledPair(system=system, prompt=[Message(role="user", content="Q?")],
                         response_a=Message(role="assistant", content=a), response_b=Message(role="assistant", content=b),
                         suggestion=suggestion, provenance=Provenance(source="in.jsonl", index=3))


def test_unlabeled_convert_keeps_every_record_and_verdicts_as_suggestions(tmp_path):
    rows = [{"prompt": "2+2?", "response_a": "4", "response_b": "5", "score_a": 9, "score_b": 2},
            {"prompt": "Hi", "response_a": "Hello", "response_b": "Yo", "winner": "model_b"},
            {"prompt": "Tie", "response_a": "x", "response_b": "y", "winner": "tie"},
            {"prompt": "Same", "response_a": "x", "response_b": "x "}]
    src = write_jsonl(tmp_path / "votes.jsonl", rows)
    report = convert(src, str(tmp_path / "todo.jsonl"), to="unlabeled")
    assert (report.input_records, report.accepted, report.rejected_by_reason) == (4, 3, {"identical_responses": 1})
    out = load_output(tmp_path / "todo.jsonl")
    assert [r.get("suggestion") for r in out] == ["a", "b", "tie"]  # scores decide a row with no verdict
    assert out[0]["score_a"] == 9 and out[0]["metadata"]["origin"] == f"{src}:0"
    # The same file without --unlabeled: the scores decide row 0; no verdict and no scores is no preference.
    labeled = convert(src, str(tmp_path / "pairs.json"))
    assert labeled.accepted == 2 and labeled.rejected_by_reason == {"no_verdict": 1, "tie": 1}
    assert [r["chosen"]["value"] for r in load_output(tmp_path / "pairs.json")] == ["4", "Yo"]
    # Pairs to label read back as pairs to label (the origin survives a second pass).
    again = convert(str(tmp_path / "todo.jsonl"), str(tmp_path / "todo2.jsonl"), to="unlabeled")
    assert again.accepted == 3 and load_output(tmp_path / "todo2.jsonl") == out


def test_labeled_pairs_become_pairs_to_label_with_the_chosen_suggested(tmp_path):
    convert(fixture("dpo_en_demo.sample.json"), str(tmp_path / "todo.jsonl"), to="unlabeled")
    src, out = load_output(fixture("dpo_en_demo.sample.json")), load_output(tmp_path / "todo.jsonl")
    assert len(out) == len(src)
    assert all(o["response_a"] == s["chosen"]["value"] and o["suggestion"] == "a" for o, s in zip(out, src))


def test_unlabeled_output_cannot_be_registered(tmp_path):
    from prefkit.errors import UsageError

    with pytest.raises(UsageError, match="not a LLaMA-Factory dataset"):
        convert(fixture("dpo_en_demo.sample.json"), str(tmp_path / "todo.jsonl"), to="unlabeled",
                register="x", dataset_dir=str(tmp_path))


def test_record_id_names_the_content_not_the_order():
    assert record_id(pair("yes", "no")) == record_id(pair("no", "yes"))
    assert record_id(pair("yes", "no")) != record_id(pair("yes", "no", system="Be brief."))


def test_position_is_random_per_record_but_fixed_for_a_seed():
    ids = [record_id(pair(f"answer {i}", "other")) for i in range(400)]
    flips = [swapped(rid, seed=0) for rid in ids]
    assert 160 < sum(flips) < 240  # about half
    assert flips == [swapped(rid, seed=0) for rid in ids]
    assert flips != [swapped(rid, seed=1) for rid in ids]


@pytest.mark.parametrize("suggestion", ["a", "b", "tie"])
def test_task_shows_each_answer_once_and_moves_the_suggestion_with_it(suggestion):
    for i in range(20):
        p = pair(f"good {i}", f"bad {i}", suggestion=suggestion, system="sys")
        t = task(p, seed=0, question_id="q")
        fields, meta = t.body["fields"], t.body["metadata"]
        swap = meta["position"] == "swapped"
        assert (fields["response_a"], fields["response_b"]) == ((f"bad {i}", f"good {i}") if swap else (f"good {i}", f"bad {i}"))
        shown = t.body["suggestions"][0]["value"]
        if suggestion == "tie":
            assert shown == "tie"
        else:  # the suggested text is the same whichever side it is shown on
            wanted = p.response_a.content if suggestion == "a" else p.response_b.content
            assert fields[f"response_{shown}"] == wanted
        system, _, prompt, a, b = pair_fields(t.body)
        assert system == "sys" and prompt == p.prompt and {a.content, b.content} == {f"good {i}", f"bad {i}"}


@given(st.text(alphabet=st.sampled_from(["<", "&", "\u200b", "a", "b", ";", " "])))
def test_shown_text_round_trips_exactly(text):
    assert original(shown(text)) == text
    assert "<" not in shown(text).replace("<\u200b", "")  # no tag can start


def test_tags_and_entities_reach_the_page_as_text_and_come_back_exactly():
    """Argilla renders fields as markdown with HTML: a <think> or <b> would be rendered, not shown."""
    p = UnlabeledPair(system="Use <b> & co.", prompt=[Message(role="user", content="a<b?")],
                      response_a=Message(role="assistant", content="<think>x</think> &amp; #include <stdio.h>"),
                      response_b=Message(role="assistant", content="List<String> & `<b>`"),
                      provenance=Provenance(source="s", index=0))
    t = task(p, 0, "q")
    texts = [m["content"] for m in t.body["fields"]["conversation"]] + \
        [t.body["fields"]["response_a"], t.body["fields"]["response_b"]]
    assert all("<" not in x.replace("<\u200b", "") and "&" not in x.replace("&\u200b", "") for x in texts)
    assert t.body["metadata"]["prefkit_display"] == "zwsp" and t.body["metadata"]["len_a"] in (41, 20)  # lengths as written
    system, _, prompt, a, b = pair_fields(t.body)
    assert (system, prompt) == ("Use <b> & co.", p.prompt)
    assert {a.content, b.content} == {p.response_a.content, p.response_b.content}
    # Records pushed before prefkit_display are read as they are.
    old = {**t.body, "metadata": {}, "fields": {**t.body["fields"], "response_a": "a <\u200bb", "response_b": "c"}}
    assert pair_fields(old)[3].content == "a <\u200bb"


def test_task_refuses_what_argilla_would_refuse():
    from prefkit.records import RowProblem

    long = UnlabeledPair(prompt=[Message(role="user", content="x" * 20001)], response_a=Message(role="assistant", content="a"),
                         response_b=Message(role="assistant", content="b"), provenance=Provenance(source="s", index=0))
    with pytest.raises(RowProblem, match="20,001 characters"):
        task(long, 0, "q")


def test_agreement_statistics_against_direct_definitions():
    rng = random.Random(7)
    labels = ["a", "b", "tie"]
    for _ in range(30):
        pairs = [(rng.choice(labels), rng.choice(labels)) for _ in range(rng.randint(5, 40))]
        kappa = cohen_kappa(pairs)
        n = len(pairs)
        po = sum(x == y for x, y in pairs) / n
        pe = sum(sum(x == k for x, _ in pairs) * sum(y == k for _, y in pairs) for k in labels) / n / n
        assert kappa is None if pe == 1 else kappa == pytest.approx((po - pe) / (1 - pe))
        # With two annotators and no missing answers, alpha equals Scott's pi corrected for sample size.
        alpha = krippendorff_alpha([list(p) for p in pairs])
        pooled = [x for p in pairs for x in p]
        pe_pi = sum((pooled.count(k) / (2 * n)) ** 2 for k in labels)
        if pe_pi < 1:
            pi = (po - pe_pi) / (1 - pe_pi)
            assert alpha == pytest.approx(1 - (2 * n - 1) / (2 * n) * (1 - pi))
    assert cohen_kappa([("a", "a"), ("b", "b")]) == 1.0 and krippendorff_alpha([["a", "a"], ["b", "b"]]) == 1.0


def test_the_position_check_flags_a_side_that_wins_far_from_half_of_enough_records():
    from prefkit.label.pull import PullReport

    report = PullReport("d", "w", "out.json", "sharegpt", "majority", 1)
    assert report.position_share is None and not report.position_biased
    report.chosen_shown_as_a, report.chosen_shown_as_b = 15, 4  # 79% of 19: too few records to say
    assert not report.position_biased
    report.chosen_shown_as_b = 5  # 75% of 20
    assert report.position_share == 0.75 and report.position_biased
    report.chosen_shown_as_a, report.chosen_shown_as_b = 13, 7  # 65%: within the band
    assert not report.position_biased
