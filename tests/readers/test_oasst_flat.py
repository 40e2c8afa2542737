"""The OpenAssistant flat message export (issue #10): one root message a line, optional keys as null."""

import copy
import os

import pytest

from conftest import load_output, raw, read, write_jsonl
from prefkit.io.sources import iter_rows
from prefkit.readers import detect
from prefkit.readers.oasst import sniff

# The keys of an exported message (oasst_data's ExportMessageNode); the flat export writes every one.
MESSAGE_KEYS = ("message_id", "parent_id", "user_id", "created_date", "text", "role", "lang", "review_count",
                "review_result", "deleted", "rank", "synthetic", "model_name", "detoxify", "message_tree_id",
                "tree_state", "emojis", "replies", "labels", "events")
REAL_TREES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "third_party",
                          "oasst_en_50_tree.jsonl")


def flat(tree: dict) -> dict:
    """A tree export line as the flat export writes it: the root message itself, every missing key null."""
    def fill(node: dict) -> dict:
        out = {key: node.get(key) for key in MESSAGE_KEYS} | node
        out["replies"] = [fill(r) for r in node["replies"]] if node.get("replies") else None
        return out

    root = fill(copy.deepcopy(tree["prompt"]))
    root["message_tree_id"], root["tree_state"] = tree.get("message_tree_id"), tree.get("tree_state")
    return root


def pairs(records) -> list[tuple]:
    return [([(m.role, m.content) for m in r.prompt], r.chosen.content, r.rejected.content,
             r.metadata["rank_margin"], r.metadata["path"].removeprefix("prompt").removeprefix(".")) for r in records]


def kto(records) -> list[tuple]:
    return [([m.content for m in r.prompt], r.completion.content, r.label, r.metadata["votes"]) for r in records]


def test_flat_lines_give_the_same_pairs_and_kto_examples_as_the_tree_lines(tmp_path):
    trees = raw("oasst_en_tree.sample.jsonl")
    flat_path = write_jsonl(tmp_path / "flat.jsonl", [flat(t) for t in trees])
    assert all(set(MESSAGE_KEYS) <= set(row) and row["rank"] is None for row in load_output(flat_path))
    tree_pairs, tree_rejects, tree_notes = read("oasst_en_tree.sample.jsonl", "oasst")
    flat_pairs, flat_rejects, flat_notes = read(flat_path, "oasst")
    assert not flat_rejects and not tree_rejects
    assert pairs(flat_pairs) == pairs(tree_pairs) and len(flat_pairs) >= 3
    assert sorted(map(repr, flat_notes)) == sorted(map(repr, tree_notes))
    assert kto(read(flat_path, "oasst", target="kto")[0]) == kto(read("oasst_en_tree.sample.jsonl", "oasst",
                                                                      target="kto")[0])


def test_auto_detects_the_flat_export_and_the_cli_writes_the_same_file(cli, tmp_path):
    trees = raw("oasst_en_tree.sample.jsonl")
    flat_path = write_jsonl(tmp_path / "flat.jsonl", [flat(t) for t in trees])
    tree_path = write_jsonl(tmp_path / "tree.jsonl", trees)
    assert all(sniff(flat(t)) and sniff(t) for t in trees)
    assert detect(list(iter_rows(flat_path)), flat_path) == "oasst"
    outputs = {}
    for name, path, fmt in (("tree", tree_path, "oasst"), ("flat", flat_path, "oasst"), ("auto", flat_path, "auto")):
        result = cli("convert", path, "--from", fmt, "-o", tmp_path / f"{name}.out.jsonl")
        assert result.exit_code == 0, result.output
        outputs[name] = (tmp_path / f"{name}.out.jsonl").read_text()
    assert outputs["flat"] == outputs["tree"] == outputs["auto"] and outputs["tree"].count("\n") >= 3


def test_null_keys_count_as_absent(tmp_path):
    def node(text, role, replies=None, **extra):
        return {"message_id": text, "parent_id": None, "text": text, "role": role, "rank": None, "emojis": None,
                "labels": None, "deleted": None, "synthetic": False, "model_name": None, "replies": replies, **extra}

    ranked = node("q1", "prompter", [node("good", "assistant", rank=0, emojis={"+1": 2, "-1": None}),
                                     node("bad", "assistant", rank=1, emojis={"+1": None, "-1": 3}),
                                     node("gone", "assistant", rank=2, deleted=True)])
    partly = node("q2", "prompter", [node("a", "assistant", rank=0), node("b", "assistant")])
    unranked = node("q3", "prompter", [node("u", "assistant"), node("v", "assistant")])
    path = write_jsonl(tmp_path / "f.jsonl", [ranked, partly, unranked])
    records, rejects, notes = read(path, "oasst")
    assert [(r.chosen.content, r.rejected.content, r.metadata["path"]) for r in records] == [("good", "bad", "")]
    assert [(r.index, r.reason) for r in rejects] == [(1, "no_ranked_replies"), (2, "no_ranked_replies")]
    assert "partly_ranked_group=1" in rejects[0].message and "unranked_group=1" in rejects[1].message
    assert [(n.reason, n.count) for n in notes] == [("deleted_message", 1)]
    examples, _, _ = read(path, "oasst", target="kto")
    assert [(k.completion.content, k.label, k.metadata["votes"]) for k in examples] == [
        ("good", True, {"+1": 2, "-1": 0}), ("bad", False, {"+1": 0, "-1": 3})]


def test_a_bad_value_in_a_flat_line_names_its_key(tmp_path):
    line = {"text": "q", "role": "prompter", "replies": [{"text": None, "role": "assistant", "rank": 0},
                                                          {"text": "b", "role": "assistant", "rank": 1}]}
    _, rejects, _ = read(write_jsonl(tmp_path / "b.jsonl", [line, {"text": "q", "role": "user", "replies": []}]), "oasst")
    assert [(r.reason, r.message) for r in rejects] == [
        ("missing_field", "replies[0].text is missing"),
        ("bad_role", "role: expected 'prompter' or 'assistant', got 'user'")]


@pytest.mark.skipif(not os.path.exists(REAL_TREES), reason="the shared third-party data is not here")
def test_the_50_real_trees_read_the_same_in_both_forms(tmp_path):
    trees = load_output(REAL_TREES)
    flat_path = write_jsonl(tmp_path / "flat50.jsonl", [flat(t) for t in trees])
    tree_records, tree_rejects, _ = read(REAL_TREES, "oasst")
    flat_records, flat_rejects, _ = read(flat_path, "oasst")
    assert pairs(flat_records) == pairs(tree_records) and len(tree_records) > 50
    assert [(r.index, r.reason) for r in flat_rejects] == [(r.index, r.reason) for r in tree_rejects]
    assert detect(list(iter_rows(flat_path)), flat_path) == "oasst"
