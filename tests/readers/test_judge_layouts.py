"""LLM-judge layouts whose answers live in other files: FastChat llm_judge and arena-hard-auto.

Each test builds a benchmark folder as the upstream tools write it (question.jsonl, model_answer/<model>.jsonl,
model_judgment/...) and asserts the exact pairs and reject reasons."""

from __future__ import annotations

import json
from collections import Counter
from itertools import product
from pathlib import Path
from typing import Any

import pytest

from conftest import load_output, write_jsonl
from prefkit.errors import InputError
from prefkit.io.sources import iter_rows
from prefkit.pipeline.convert import convert
from prefkit.readers import ReadOptions, detect, get_reader
from prefkit.records import Note, PreferencePair, Reject

MODELS = ("model-a", "model-b", "model-c")


def pairs_of(output: Path) -> list[tuple[list[str], str, str]]:
    """(prompt texts, chosen, rejected) of each sharegpt row written."""
    return [([m["value"] for m in row["conversations"]], row["chosen"]["value"], row["rejected"]["value"])
            for row in load_output(output)]


def rejects_of(output: Path) -> dict[int, str]:
    path = output.with_name(output.stem + ".rejects.jsonl")
    return {r["index"]: r["reason"] for r in load_output(path)} if path.exists() else {}


def read_items(path: Path, fmt: str, **options: Any) -> list[Any]:
    return list(get_reader(fmt)(iter_rows(str(path)), ReadOptions(**options)))


# --- FastChat llm_judge ----------------------------------------------------------------------------------------
QUESTIONS = {81: ["Write a haiku about rain.", "Now make it about snow."],
             82: ["What is 2+2?", "And 3+3?"],
             83: ["Name a colour.", "Name another one."],
             84: ["Say hello.", "Say goodbye."]}


def fc_answer(model: str, qid: int, turn: int) -> str:
    return f"{model} answers {qid} turn {turn}"


def fastchat_bench(root: Path, judgments: list[dict[str, Any]], missing: tuple[tuple[str, int], ...] = ()) -> Path:
    """data/<bench>/ as FastChat's gen_answer / gen_judgment write it; returns the judgment file."""
    bench = root / "mt_bench"
    (bench / "model_answer").mkdir(parents=True)
    (bench / "model_judgment").mkdir()
    write_jsonl(bench / "question.jsonl", [{"question_id": q, "category": "writing" if q == 81 else "math",
                                            "turns": turns} for q, turns in QUESTIONS.items()])
    for model in MODELS:
        write_jsonl(bench / "model_answer" / f"{model}.jsonl", [
            {"question_id": q, "answer_id": f"{model}-{q}", "model_id": model,
             "choices": [{"index": 0, "turns": [fc_answer(model, q, 1), fc_answer(model, q, 2)]}], "tstamp": 1.0}
            for q in QUESTIONS if (model, q) not in missing])
    return Path(write_jsonl(bench / "model_judgment" / "gpt-4_pair.jsonl", judgments))


def match(qid: int, m1: str, m2: str, g1: str, g2: str, turn: int = 1) -> dict[str, Any]:
    """One row of FastChat's play_a_match_pair (common.py): both games, winners in model_1/model_2 terms."""
    prompt = "pair-v2-multi-turn" if turn == 2 else "pair-v2"
    return {"question_id": qid, "model_1": m1, "model_2": m2, "g1_winner": g1, "g2_winner": g2,
            "judge": ["gpt-4", prompt], "g1_user_prompt": "[User Question] ...", "g1_judgment": "... [[A]]",
            "g2_user_prompt": "[User Question] ...", "g2_judgment": "... [[B]]", "turn": turn, "tstamp": 1.0}


FASTCHAT_ROWS = [
    match(81, "model-a", "model-b", "model_1", "model_1"),  # 0: model_1 wins both games
    match(82, "model-a", "model-c", "model_2", "model_2"),  # 1: model_2 wins both games
    match(83, "model-b", "model-c", "tie", "tie"),  # 2: tie
    match(81, "model-b", "model-c", "model_1", "model_2"),  # 3: the swapped games disagree
    match(82, "model-a", "model-b", "error", "model_1"),  # 4: a game errored
    match(84, "model-a", "model-c", "model_2", "model_2"),  # 5: model-c has no answer to 84
    match(81, "model-a", "model-b", "model_2", "model_2", turn=2),  # 6: multi-turn, model_2 wins turn 2
    match(83, "model-a", "model-b", "tie", "model_1"),  # 7: a tie and a win disagree
    match(99, "model-a", "model-b", "model_1", "model_1"),  # 8: no question 99
]


def test_fastchat_pairs_and_reject_reasons(tmp_path):
    judgment = fastchat_bench(tmp_path, FASTCHAT_ROWS, missing=(("model-c", 84),))
    out = tmp_path / "pairs.json"
    report = convert(str(judgment), str(out), fmt="fastchat-judge")
    assert pairs_of(out) == [
        (["Write a haiku about rain."], fc_answer("model-a", 81, 1), fc_answer("model-b", 81, 1)),
        (["What is 2+2?"], fc_answer("model-c", 82, 1), fc_answer("model-a", 82, 1)),
        # turn 2: question 1, the chosen model's answer 1, question 2; the answers to question 2 as the pair
        (["Write a haiku about rain.", fc_answer("model-b", 81, 1), "Now make it about snow."],
         fc_answer("model-b", 81, 2), fc_answer("model-a", 81, 2)),
    ]
    assert rejects_of(out) == {2: "tie", 3: "inconsistent", 4: "error", 5: "no_answer", 7: "inconsistent",
                               8: "no_answer"}
    assert report.input_records == 9 and report.accepted == 3 and report.rejected == 6
    assert report.notes == {"history_from_chosen": 1}  # the two models' first answers differ
    rejects = load_output(tmp_path / "pairs.rejects.jsonl")
    assert "model-c" in rejects[3]["message"] and "84" in rejects[3]["message"]  # which answer is missing
    assert rejects[0]["record"]["question_id"] == 83 and rejects[0]["source"] == str(judgment)


def test_fastchat_metadata_and_provenance(tmp_path):
    judgment = fastchat_bench(tmp_path, FASTCHAT_ROWS, missing=(("model-c", 84),))
    pairs = [i for i in read_items(judgment, "fastchat-judge") if isinstance(i, PreferencePair)]
    first, multi = pairs[0], pairs[2]
    assert first.metadata == {"question_id": 81, "turn": 1, "judge": ["gpt-4", "pair-v2"], "model_1": "model-a",
                              "model_2": "model-b", "verdicts": {"g1_winner": "model_1", "g2_winner": "model_1"},
                              "chosen_model": "model-a", "rejected_model": "model-b", "category": "writing"}
    assert (first.provenance.source, first.provenance.index, first.provenance.line) == (str(judgment), 0, 1)
    assert first.provenance.format == "fastchat-judge"
    assert multi.metadata["turn"] == 2 and multi.metadata["history_from"] == "model-b"
    assert multi.metadata["judge"] == ["gpt-4", "pair-v2-multi-turn"] and multi.provenance.index == 6


def fastchat_show_result(rows: list[dict[str, Any]]) -> tuple[Counter, Counter, int, int]:
    """FastChat's own counting, reimplemented from lm-sys/FastChat fastchat/llm_judge/show_result.py
    (display_result_pairwise, --mode pairwise-all): rows with an "error" game are dropped; a row is a tie for both
    models if g1_winner == "tie" or g1_winner != g2_winner; otherwise g1_winner names the winner.
    Returns (wins per model, losses per model, tie rows, dropped rows)."""
    kept = [r for r in rows if r["g1_winner"] != "error" and r["g2_winner"] != "error"]
    wins, losses, ties = Counter(), Counter(), 0
    for row in kept:
        if row["g1_winner"] == "tie" or row["g1_winner"] != row["g2_winner"]:
            ties += 1
        else:
            winner, loser = ((row["model_1"], row["model_2"]) if row["g1_winner"] == "model_1"
                             else (row["model_2"], row["model_1"]))
            wins[winner] += 1
            losses[loser] += 1
    return wins, losses, ties, len(rows) - len(kept)


def test_fastchat_pair_count_equals_fastchat_show_result(tmp_path):
    # every combination of two games' winners, for each pair of models and each question, both turns
    outcomes = ("model_1", "model_2", "tie", "error")
    models = [("model-a", "model-b"), ("model-b", "model-c"), ("model-c", "model-a")]
    rows = [match(q, m1, m2, g1, g2, turn) for (g1, g2), (m1, m2), q, turn
            in product(product(outcomes, repeat=2), models, (81, 82, 83), (1, 2))]
    judgment = fastchat_bench(tmp_path, rows)
    items = read_items(judgment, "fastchat-judge")
    pairs = [i for i in items if isinstance(i, PreferencePair)]
    reasons = Counter(i.reason for i in items if isinstance(i, Reject))
    wins, losses, ties, dropped = fastchat_show_result(rows)
    assert len(pairs) == sum(wins.values()) == 2 * 3 * 3 * 2  # (model_1 or model_2 twice) x 3 pairs x 3 q x 2 turns
    assert Counter(p.metadata["chosen_model"] for p in pairs) == wins
    assert Counter(p.metadata["rejected_model"] for p in pairs) == losses
    assert reasons["tie"] + reasons["inconsistent"] == ties and reasons["error"] == dropped
    assert set(reasons) == {"tie", "inconsistent", "error"}
    # and each pair's chosen answer is the winner's
    for pair in pairs:
        turn = pair.metadata["turn"]
        assert pair.chosen.content == fc_answer(pair.metadata["chosen_model"], pair.metadata["question_id"], turn)
        assert pair.rejected.content == fc_answer(pair.metadata["rejected_model"], pair.metadata["question_id"], turn)


def test_fastchat_turn_from_the_prompt_name_and_a_single_winner(tmp_path):
    row = match(82, "model-a", "model-b", "model_2", "model_2", turn=2)
    del row["turn"]  # the multi-turn prompt's name says turn 2
    single = {"question_id": 83, "model_1": "model-c", "model_2": "model-a", "winner": "model_1",
              "judge": ["gpt-4", "pair-v2"], "g1_judgment": "", "g2_judgment": ""}  # load_pairwise_model_judgments
    judgment = fastchat_bench(tmp_path, [row, single])
    out = tmp_path / "o.jsonl"
    convert(str(judgment), str(out), fmt="fastchat-judge")
    assert pairs_of(out) == [
        (["What is 2+2?", fc_answer("model-b", 82, 1), "And 3+3?"], fc_answer("model-b", 82, 2),
         fc_answer("model-a", 82, 2)),
        (["Name a colour."], fc_answer("model-c", 83, 1), fc_answer("model-a", 83, 1))]


# --- arena-hard-auto -------------------------------------------------------------------------------------------
PROMPTS = {"u1": "Explain recursion.", "u2": "Sort [3, 1, 2].", "u3": "Write a limerick.", "u4": "What is DNS?"}
ARENA_MODELS = ("model-a", "model-b", "base")


def ah_answer(model: str, uid: str) -> str:
    return f"{model} on {uid}"


def arena_v2_bench(root: Path, judgments: dict[str, list[dict[str, Any]]],
                   missing: tuple[tuple[str, str], ...] = ()) -> Path:
    """data/arena-hard-v2.0/ as arena-hard-auto v2 writes it; returns the judgment folder."""
    bench = root / "arena-hard-v2.0"
    (bench / "model_answer").mkdir(parents=True)
    write_jsonl(bench / "question.jsonl", [{"uid": u, "category": "hard_prompt", "subcategory": "x", "prompt": p}
                                           for u, p in PROMPTS.items()])
    for model in ARENA_MODELS:
        write_jsonl(bench / "model_answer" / f"{model}.jsonl", [
            {"uid": u, "ans_id": f"{model}{u}", "model": model, "tstamp": 1.0, "metadata": {"token_len": 3},
             "messages": [{"role": "user", "content": p}, {"role": "assistant", "content": {"answer": ah_answer(model, u)}}]}
            for u, p in PROMPTS.items() if (model, u) not in missing])
    folder = bench / "model_judgment" / "gpt-4.1"
    folder.mkdir(parents=True)
    for model, rows in judgments.items():
        write_jsonl(folder / f"{model}.jsonl", rows)
    return folder


def v2_row(uid: str, model: str, score_1: str | None, score_2: str | None, **extra: Any) -> dict[str, Any]:
    """One row of arena-hard-auto v2's gen_judgment.py: game 1 baseline as A, game 2 the model as A."""
    def game(score):
        return {"score": score, "judgment": {"answer": f"... [[{score}]]"}, "prompt": [{"role": "system", "content": "judge"}]}
    return {"uid": uid, "category": "hard_prompt", "judge": "gpt-4.1", "model": model, "baseline": "base",
            "games": [game(score_1), game(score_2)], **extra}


ARENA_ROWS = [
    v2_row("u1", "model-a", "B>>A", "A>>B"),  # 0: the model strongly better in both games
    v2_row("u2", "model-a", "B>A", "A>B"),  # 1: the model slightly better in both
    v2_row("u3", "model-a", "A>>B", "B>>A"),  # 2: the baseline strongly better in both
    v2_row("u1", "model-a", "A>B", "b>a"),  # 3: the baseline slightly better (labels compared upper-case)
    v2_row("u2", "model-a", "A=B", "A=B"),  # 4: tie
    v2_row("u3", "model-a", "B>A", "B>A"),  # 5: B both times: position bias, the games disagree
    {**v2_row("u1", "model-a", "B>A", "A>B"), "games": [None, {"score": "A>B"}]},  # 6: a game failed
    v2_row("u2", "model-a", None, "A>B"),  # 7: no verdict label found
    v2_row("u4", "model-a", "B>A", "A>B"),  # 8: model-a has no answer to u4
    v2_row("u2", "model-a", "B>>A", "A>B"),  # 9: the model better, strongly once: mixed
    v2_row("u3", "model-a", "A=B", "A>B"),  # 10: a tie and a win disagree
]


def test_arena_hard_v2_pairs_and_reject_reasons(tmp_path):
    folder = arena_v2_bench(tmp_path, {"model-a": ARENA_ROWS}, missing=(("model-a", "u4"),))
    out = tmp_path / "pairs.json"
    report = convert(str(folder / "model-a.jsonl"), str(out), fmt="arena-hard")
    a, base = "model-a", "base"
    assert pairs_of(out) == [
        ([PROMPTS["u1"]], ah_answer(a, "u1"), ah_answer(base, "u1")),
        ([PROMPTS["u2"]], ah_answer(a, "u2"), ah_answer(base, "u2")),
        ([PROMPTS["u3"]], ah_answer(base, "u3"), ah_answer(a, "u3")),
        ([PROMPTS["u1"]], ah_answer(base, "u1"), ah_answer(a, "u1")),
        ([PROMPTS["u2"]], ah_answer(a, "u2"), ah_answer(base, "u2")),
    ]
    assert rejects_of(out) == {4: "tie", 5: "inconsistent", 6: "error", 7: "error", 8: "no_answer",
                               10: "inconsistent"}
    assert report.input_records == 11 and report.accepted == 5


def test_arena_hard_metadata_records_strength_and_verdicts(tmp_path):
    folder = arena_v2_bench(tmp_path, {"model-a": ARENA_ROWS}, missing=(("model-a", "u4"),))
    pairs = [i for i in read_items(folder / "model-a.jsonl", "arena-hard") if isinstance(i, PreferencePair)]
    got = [(p.provenance.index, p.metadata["chosen_model"], p.metadata["strength"], p.metadata["verdicts"])
           for p in pairs]
    assert got == [(0, "model-a", "strong", ["B>>A", "A>>B"]), (1, "model-a", "weak", ["B>A", "A>B"]),
                   (2, "base", "strong", ["A>>B", "B>>A"]), (3, "base", "weak", ["A>B", "b>a"]),
                   (9, "model-a", "mixed", ["B>>A", "A>B"])]
    assert pairs[0].metadata == {"question_id": "u1", "model": "model-a", "baseline": "base",
                                 "baseline_from": "baseline", "judge": "gpt-4.1", "verdicts": ["B>>A", "A>>B"],
                                 "winner": "model", "strength": "strong", "chosen_model": "model-a",
                                 "rejected_model": "base", "category": "hard_prompt"}


V01_TEMPLATE = ("<|User Prompt|>\n{q}\n\n<|The Start of Assistant A's Answer|>\n{a}\n<|The End of Assistant A's "
                "Answer|>\n\n<|The Start of Assistant B's Answer|>\n{b}\n<|The End of Assistant B's Answer|>")


def test_arena_hard_v01_finds_the_baseline_in_game_1(tmp_path):
    """v0.1 rows name no baseline: it is assistant A of game 1 (arena-hard-auto gen_judgment.py)."""
    bench = tmp_path / "arena-hard-v0.1"
    (bench / "model_answer").mkdir(parents=True)
    questions = {"q1": "Capital of France?", "q2": "Largest planet?"}
    answers = {"gpt-4-0314": {"q1": "Paris is the capital of France.", "q2": "Jupiter."},
               "model-x": {"q1": "It is Paris.", "q2": "Saturn."},
               "model-y": {"q1": "Paris", "q2": "Jupiter is the largest."}}  # "Paris" is inside the others' text
    write_jsonl(bench / "question.jsonl", [{"question_id": q, "category": "arena-hard-v0.1", "cluster": "c",
                                            "turns": [{"content": t}]} for q, t in questions.items()])
    for model, texts in answers.items():
        write_jsonl(bench / "model_answer" / f"{model}.jsonl", [
            {"question_id": q, "answer_id": "x", "model_id": model,
             "choices": [{"index": 0, "turns": [{"content": t, "token_len": 3}]}], "tstamp": 1.0}
            for q, t in texts.items()])

    def row(q, s1, s2, model="model-x"):
        games = [{"user_prompt": V01_TEMPLATE.format(q=questions[q], a=answers["gpt-4-0314"][q], b=answers[model][q]),
                  "judgment": "...", "score": s1},
                 {"user_prompt": V01_TEMPLATE.format(q=questions[q], a=answers[model][q], b=answers["gpt-4-0314"][q]),
                  "judgment": "...", "score": s2}]
        return {"question_id": q, "model": model, "judge": "gpt-4-1106-preview", "games": games}

    no_prompt = row("q2", "B>A", "A>B")
    for game in no_prompt["games"]:
        del game["user_prompt"]
    folder = bench / "model_judgment" / "gpt-4-1106-preview"
    folder.mkdir(parents=True)
    judgment = write_jsonl(folder / "model-x.jsonl", [row("q1", "B>A", "A>>B"), row("q2", "A>>B", "B>>A"), no_prompt])
    out = tmp_path / "v01.jsonl"
    convert(judgment, str(out))  # --from auto
    assert pairs_of(out) == [([questions["q1"]], "It is Paris.", "Paris is the capital of France."),
                             ([questions["q2"]], "Jupiter.", "Saturn.")]
    assert rejects_of(out) == {2: "no_baseline"}
    pairs = [i for i in read_items(Path(judgment), "arena-hard") if isinstance(i, PreferencePair)]
    assert [(p.metadata["baseline"], p.metadata["baseline_from"]) for p in pairs] == [
        ("gpt-4-0314", "games[0].user_prompt")] * 2


# --- what both layouts share -----------------------------------------------------------------------------------
def test_auto_detects_both_layouts_by_their_keys(tmp_path):
    fc = fastchat_bench(tmp_path / "fc", FASTCHAT_ROWS)
    ah = arena_v2_bench(tmp_path / "ah", {"model-a": ARENA_ROWS}) / "model-a.jsonl"
    assert detect(list(iter_rows(str(fc))), str(fc)) == "fastchat-judge"
    assert detect(list(iter_rows(str(ah))), str(ah)) == "arena-hard"
    report = convert(str(fc), str(tmp_path / "fc.json"))
    assert report.sources[0].format == "fastchat-judge" and report.accepted == 4  # model-c has every answer here


def test_missing_questions_and_answers_are_one_error_naming_them(tmp_path):
    judgment = Path(write_jsonl(tmp_path / "judged.jsonl", FASTCHAT_ROWS))
    with pytest.raises(InputError) as err:
        convert(str(judgment), str(tmp_path / "o.json"), fmt="fastchat-judge")
    message = str(err.value)
    assert str(tmp_path / "question.jsonl") in message and str(tmp_path / "model_answer") in message
    assert "--questions FILE --answers DIR" in message and err.value.exit_code == 2
    assert not (tmp_path / "o.json").exists()
    # an answers folder without answer files is named too
    (tmp_path / "model_answer").mkdir()
    write_jsonl(tmp_path / "question.jsonl", [])
    with pytest.raises(InputError, match=r"model_answer.\*\.jsonl"):
        convert(str(judgment), str(tmp_path / "o.json"), fmt="fastchat-judge")


def test_questions_and_answers_given_explicitly(tmp_path):
    bench = fastchat_bench(tmp_path, FASTCHAT_ROWS[:2]).parent.parent
    elsewhere = Path(write_jsonl(tmp_path / "judged.jsonl", FASTCHAT_ROWS[:2]))
    out = tmp_path / "o.json"
    convert(str(elsewhere), str(out), fmt="fastchat-judge", questions=str(bench / "question.jsonl"),
            answers=str(bench / "model_answer"))
    assert [p[1:] for p in pairs_of(out)] == [(fc_answer("model-a", 81, 1), fc_answer("model-b", 81, 1)),
                                             (fc_answer("model-c", 82, 1), fc_answer("model-a", 82, 1))]


def test_cli_finds_the_layout_and_reports_missing_files(tmp_path, cli):
    folder = arena_v2_bench(tmp_path, {"model-a": ARENA_ROWS, "model-b": [v2_row("u1", "model-b", "A>B", "B>A")]},
                            missing=(("model-a", "u4"),))
    out = tmp_path / "cli.json"
    result = cli("convert", folder / "model-a.jsonl", "-o", out)
    assert result.exit_code == 0, result.output
    assert pairs_of(out)[0] == (["Explain recursion."], "model-a on u1", "base on u1")
    assert len(pairs_of(out)) == 5 and rejects_of(out)[8] == "no_answer"
    preview = cli("convert", folder / "model-a.jsonl", "--preview", "1")
    assert "chosen   <- model_answer/model-a.jsonl [u1] turn 1 (game 1 (A = baseline) B>>A, game 2 (A = model-a) " \
           "A>>B): 'model-a on u1'" in preview.output, preview.output
    out_b = tmp_path / "b.jsonl"
    assert cli("convert", folder / "model-b.jsonl", "-o", out_b, "--from", "arena-hard").exit_code == 0
    assert pairs_of(out_b) == [(["Explain recursion."], "base on u1", "model-b on u1")]
    # KTO: the chosen answer desirable, the rejected one undesirable
    kto = tmp_path / "kto.jsonl"
    assert cli("convert", folder / "model-b.jsonl", "-o", kto, "--to", "kto").exit_code == 0
    assert [(r["conversations"][-1]["value"], r["kto_tag"]) for r in load_output(kto)] == [
        ("base on u1", True), ("model-b on u1", False)]
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    (lonely / "j.jsonl").write_text(json.dumps(ARENA_ROWS[0]) + "\n")
    result = cli("convert", lonely / "j.jsonl", "-o", tmp_path / "x.json")
    assert result.exit_code == 2
    assert "question.jsonl" in result.output and "model_answer" in result.output and "missing" in result.output


def test_rows_that_are_not_judgments_are_rejected_without_the_layout(tmp_path):
    path = write_jsonl(tmp_path / "odd.jsonl", [{"prompt": "x"}, [1, 2]])
    items = read_items(Path(path), "arena-hard")
    assert [(i.index, i.reason) for i in items if isinstance(i, Reject)] == [(0, "missing_field"), (1, "not_an_object")]
    assert not [i for i in items if isinstance(i, (PreferencePair, Note))]


def test_an_output_onto_a_layout_file_is_refused(tmp_path, cli):
    """The question and answer files found around a judgment file are inputs: -o cannot replace them."""
    judgments = tmp_path / "bench" / "model_judgment" / "gpt-4_pair.jsonl"
    judgments.parent.mkdir(parents=True)
    judgments.write_text('{"question_id": 1}\n')
    (tmp_path / "bench" / "question.jsonl").write_text('{"question_id": 1, "turns": ["Hi"]}\n')
    before = (tmp_path / "bench" / "question.jsonl").read_bytes()
    result = cli("convert", judgments, "-o", tmp_path / "bench" / "question.jsonl")
    assert result.exit_code == 2 and "is also the input" in result.output, result.output
    assert (tmp_path / "bench" / "question.jsonl").read_bytes() == before
