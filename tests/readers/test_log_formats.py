"""Readers of raw log formats: hh-rlhf, oasst, ratings, pairwise, openai-logs, trl."""


import pytest

from conftest import fixture, raw, read, write_jsonl
from prefkit.errors import UsageError
from prefkit.readers.pairwise import parse_verdicts

PANDALM = parse_verdicts(["a=1", "b=2", "tie=0"])  # PandaLM: 1 = response1 better, 2 = response2, 0 = a tie


def test_hh_rlhf_every_edge_case_has_its_outcome():
    records, rejects, notes = read("hh_rlhf.edge.jsonl", "hh-rlhf")
    assert [r.provenance.index for r in records] == [0, 1, 4]
    assert [m.role for m in records[1].prompt] == ["user", "assistant", "user"]
    assert records[1].chosen.content.startswith("Why did the chicken")
    assert records[2].prompt[0].content == "First part.\n\nSecond part."  # same-speaker turns merged
    assert [n.reason for n in notes] == ["merged_consecutive_turns"]
    assert {r.index: r.reason for r in rejects} == {
        2: "divergent_history", 3: "empty_response", 5: "no_final_answer", 6: "malformed_transcript",
        7: "identical_responses", 8: "bad_type", 9: "invalid_json"}
    assert rejects[-1].line == 10


def test_oasst_pairs_follow_each_ranked_group_along_its_path():
    records, rejects, _ = read("oasst_en_tree.sample.jsonl", "oasst")
    assert not rejects
    trees = raw("oasst_en_tree.sample.jsonl")

    def groups(node, path):
        convo = path + [node["text"]]
        replies = node.get("replies", [])
        if node["role"] == "prompter" and len(replies) > 1 and all("rank" in r for r in replies):
            ranked = sorted(replies, key=lambda r: r["rank"])
            yield convo, ranked[0]["text"], ranked[-1]["text"]
        for reply in replies:
            yield from groups(reply, convo)

    expected = [g for tree in trees for g in groups(tree["prompt"], [])]
    got = [([m.content for m in r.prompt], r.chosen.content, r.rejected.content) for r in records]
    assert got == expected and len(got) >= 3


def test_oasst_unranked_groups_are_counted_and_an_all_unranked_tree_is_rejected(tmp_path):
    def node(text, role, replies=(), **extra):
        return {"text": text, "role": role, "replies": list(replies), **extra}

    ranked = node("q1", "prompter", [node("good", "assistant", rank=0, emojis={"+1": 2}),
                                     node("bad", "assistant", rank=1, emojis={"-1": 3})])
    deeper = node("q3", "prompter", [node("x", "assistant"), node("y", "assistant")])  # unranked
    mixed = node("q2", "prompter", [node("a", "assistant", [deeper], rank=0),
                                    node("b", "assistant", rank=1), node("c", "assistant")])
    unranked = node("q4", "prompter", [node("u", "assistant"), node("v", "assistant")])
    path = write_jsonl(tmp_path / "t.jsonl", [{"prompt": ranked}, {"prompt": mixed}, {"prompt": unranked}])
    records, rejects, notes = read(path, "oasst")
    assert [(r.chosen.content, r.rejected.content) for r in records] == [("good", "bad")]
    assert [(r.index, r.reason) for r in rejects] == [(1, "no_ranked_replies"), (2, "no_ranked_replies")]
    assert "partly_ranked_group=1" in rejects[0].message and "unranked_group=1" in rejects[0].message
    kto, kto_rejects, _ = read(path, "oasst", target="kto")
    assert [(k.completion.content, k.label) for k in kto] == [("good", True), ("bad", False)]
    assert len(kto_rejects) == 2


def test_ratings_shapes_strategies_and_margins():
    records, rejects, notes = read("ratings.sample.jsonl", "ratings")
    assert [(r.chosen.content, r.rejected.content, r.chosen_score, r.rejected_score) for r in records] == [
        ("7", "Nine", 9.0, 1.0), ("Tokyo", "Kyoto", 10.0, 3.0), ("x", "z", 3.0, 1.0)]
    assert records[1].system == "Be terse."
    assert [(r.index, r.reason) for r in rejects] == [(2, "tie"), (4, "bad_type")]  # 2: scores all equal
    assert [(n.reason, n.count) for n in notes] == [("unscored_completion", 1)]
    each, _, _ = read("ratings.sample.jsonl", "ratings", pairing="best-vs-each-lower")
    assert [(r.chosen.content, r.rejected.content) for r in each][:3] == [("7", "2"), ("7", "8"), ("7", "Nine")]
    wide, _, _ = read("ratings.sample.jsonl", "ratings", pairing="all-pairs", min_margin=6)
    # margins: 7-8 7.0, 7-Nine 8.0, 2-8 6.5, 2-Nine 7.5, Tokyo-Kyoto 7; 7-2 (0.5) and x-z (2) are too close
    assert sorted((r.chosen.content, r.rejected.content) for r in wide) == [
        ("2", "8"), ("2", "Nine"), ("7", "8"), ("7", "Nine"), ("Tokyo", "Kyoto")]


def test_pairwise_real_votes_majority_ties_and_booleans():
    records, rejects, notes = read("pandalm.sample.json", "pairwise", verdicts=PANDALM)
    rows = raw("pandalm.sample.json")
    by_index = {r.provenance.index: r for r in records}
    for i, row in enumerate(rows):
        votes = [row[f"annotator{k}"] for k in (1, 2, 3)]
        winner = max((1, 2, 0), key=votes.count)
        if i in by_index:
            assert winner in (1, 2)
            good = row["response1"] if winner == 1 else row["response2"]
            assert by_index[i].chosen.content == good
    reasons = {r.index: r.reason for r in rejects}
    assert reasons[29] == reasons[30] == "bad_type"  # the JSON boolean responses
    assert len(records) + len(rejects) == len(rows)
    assert sum(n.reason == "disagreement" for n in notes) >= 4


def test_pairwise_csv_verdict_values_and_custom_mapping():
    records, rejects, _ = read("pairwise.edge.csv", "pairwise")
    assert [(r.prompt[0].content, r.chosen.content) for r in records] == [
        ("What is 2+2?", "4"), ("Greet me", "Hello!"), ("Pick one", "right"), ("Multi-line\nprompt", "yes")]
    assert {r.index: r.reason for r in rejects} == {3: "tie", 4: "failed_verdict", 5: "unknown_verdict"}
    verdicts = parse_verdicts(["a=maybe,model_a,a", "failed=error,gpt-4"])
    records, rejects, _ = read("pairwise.edge.csv", "pairwise", verdicts=verdicts)
    assert "Odd value" in [r.prompt[0].content for r in records]
    with pytest.raises(UsageError):
        parse_verdicts(["winner=1"])


def test_pairwise_to_kto_gives_winner_and_loser():
    from prefkit.io.sources import iter_rows
    from prefkit.pipeline.flow import map_records
    from prefkit.readers import ReadOptions, get_reader
    from prefkit.writers import get_writer

    rows = iter_rows(fixture("pairwise.edge.csv"))
    items = list(map_records(rows, get_reader("pairwise"), get_writer("kto"), ReadOptions(target="kto")))
    assert [(r.completion.content, r.label) for r in items[:2]] == [("4", True), ("5", False)]


def test_openai_logs_scores_preferred_thumbs_and_grouping():
    records, rejects, _ = read("openai_logs.sample.jsonl", "openai-logs")
    got = {(r.prompt[-1].content, r.chosen.content, r.rejected.content) for r in records}
    assert got == {
        ("How often should I oil my chain?", "Every 150-300 km, or after riding in rain.", "Once a year."),
        ("Do you sell helmets for kids?", "Yes: sizes XS and S, from 35 EUR.", "Helmets are important."),
        # two single-answer calls with thumbs, grouped by conversation into one pair
        ("What tyre pressure for a road bike?", "Usually 80-100 psi; check the sidewall.", "As much as you can pump."),
        ("Can I return a bike after a week?", "Within 30 days with the receipt, if unused.", "No returns ever."),
        ("Where is the shop?", "Main Street 12.", "Behind the station."),
    }
    grouped = next(r for r in records if "tyre" in r.prompt[-1].content)
    assert {grouped.provenance.index, *grouped.provenance.merged} == {2, 3}
    assert all(r.system.startswith("You are a concise") for r in records)
    assert [(r.index, r.reason) for r in rejects] == [(5, "unpaired")]


def test_openai_logs_kto_and_bad_feedback(tmp_path):
    kto, rejects, _ = read("openai_logs.sample.jsonl", "openai-logs", target="kto")
    labels = {(k.completion.content, k.label) for k in kto}
    assert ("Usually 80-100 psi; check the sidewall.", True) in labels and ("As much as you can pump.", False) in labels
    assert ("Yes: sizes XS and S, from 35 EUR.", True) in labels and ("Helmets are important.", False) in labels
    assert {r.reason for r in rejects} == {"no_kto_signal"}
    call = raw("openai_logs.sample.jsonl")[0]
    broken = [dict(call, feedback={"scores": [1]}), dict(call, feedback={"preferred": 7}), dict(call, feedback={}),
              dict(call, feedback={"thumbs": ["meh", "up"]}), {"request": {}, "response": {}}]
    _, rejects, _ = read(write_jsonl(tmp_path / "b.jsonl", broken), "openai-logs")
    assert [r.reason for r in rejects] == ["bad_type", "bad_type", "no_feedback", "unknown_feedback", "missing_field"]


def test_trl_standard_conversational_and_implicit_prompt():
    records, rejects, _ = read("trl.sample.jsonl", "trl")
    assert [(r.prompt[-1].content, r.chosen.content) for r in records] == [
        ("The sky is", " blue."), ("What color is the sky?", "It is blue."), ("What color is the sky?", "It is blue.")]
    assert {r.index: r.reason for r in rejects} == {3: "divergent_history", 4: "multi_message_answer"}


def test_trl_reads_llamafactory_v1_typed_content():
    records, rejects, _ = read("v1_dpo_demo.sample.jsonl", "trl")
    assert not rejects and len(records) == 5
    row = raw("v1_dpo_demo.sample.jsonl")[0]
    last = row["chosen_messages"][-1]["content"]
    assert records[0].chosen.content == "".join(part["value"] for part in last)


@pytest.mark.parametrize("name, fmt", [
    ("dpo_en_demo.sample.json", "sharegpt"), ("kto_en_demo.sample.json", "openai"),
    ("oaast_rm_zh.sample.json", "alpaca"), ("medicalgpt_dpo_zh.sample.jsonl", "alpaca"),
    ("oasst_en_tree.sample.jsonl", "oasst"), ("pandalm.sample.json", "pairwise"), ("pairwise.edge.csv", "pairwise"),
    ("ratings.sample.jsonl", "ratings"), ("openai_logs.sample.jsonl", "openai-logs"), ("trl.sample.jsonl", "trl"),
    ("v1_dpo_demo.sample.jsonl", "trl"), ("hh_rlhf.edge.jsonl", "hh-rlhf"), ("openai_tools.sample.jsonl", "openai"),
])
def test_auto_detection(name, fmt):
    from prefkit.io.sources import iter_rows
    from prefkit.readers import detect

    assert detect(list(iter_rows(fixture(name))), name) == fmt


def test_auto_detection_fails_listing_candidates():
    from prefkit.errors import InputError
    from prefkit.io.sources import iter_rows
    from prefkit.readers import detect

    with pytest.raises(InputError, match="keys seen: conversations, id; closest: sharegpt lacks chosen, rejected"):
        detect(list(iter_rows(fixture("sharegpt_sft.sample.json"))), "sft.json")
