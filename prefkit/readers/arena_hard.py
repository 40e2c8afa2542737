"""``--from arena-hard``: arena-hard-auto judgments of a model against a baseline, paired with the question and
the two answers, which live in other files of the benchmark folder (``data/<bench>/``)::

    question.jsonl                       v0.1: {"question_id", "category", "turns": [{"content"}]}
                                         v2:   {"uid", "category", "prompt"}
    model_answer/<model>.jsonl           v0.1: {"question_id", "model_id", "choices": [{"turns": [{"content"}]}]}
                                         v2:   {"uid", "model", "messages": [..., {"role": "assistant",
                                                "content": {"answer": ...}}]}
    model_judgment/<judge>/<model>.jsonl the input: {"question_id" | "uid", "model", "judge", ["baseline"],
                                         "games": [{"score", "user_prompt" | "prompt", "judgment"}, {...}]}

``prefkit convert BENCH/model_judgment/JUDGE/MODEL.jsonl -o pairs.json`` finds question.jsonl and model_answer/
in the folder above model_judgment/; ``--questions FILE --answers DIR`` say where they are instead.

Game 1 shows the baseline as assistant A and the model as B; game 2 swaps them (arena-hard-auto gen_judgment.py;
show_result.py reads game 2's ``A>B`` as a win of the model). A score is ``A>>B``, ``A>B``, ``A=B``, ``B>A``,
``B>>A`` (v2's show_result.py also reads ``A<B``, ``A<<B``, ``B<A``, ``B<<A``, ``B=A``), compared upper-case.
The rule: both games for the same side, strongly or slightly, make that side's answer chosen (metadata
``strength``: ``strong`` when both games say ``>>``, ``weak`` when both say ``>``, ``mixed`` otherwise); two
ties give ``tie``; games that disagree (a win and a tie included) give ``inconsistent``; a game that is null
or has no score (the judge call failed, or no verdict label was found) gives ``error``.

The baseline is the row's ``baseline`` (v2). v0.1 rows do not name it (it was the run's configured
``baseline_model``); it is the one other model whose answer is assistant A's in game 1's ``user_prompt``
(``no_baseline`` when no single model fits). A question or answer missing from the files gives ``no_answer``.
Only the first turn is judged (arena-hard's prompts are single-turn).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..io.sources import Row
from ..records import PreferencePair
from .base import Item, ReadOptions, RowProblem, assistant, content_text, get, provenance, text, user
from .fastchat import Layout, answer_turns, judge_reader, layout_files, row_id, turn_texts
from .spec import ReaderSpec

FORMAT = "arena-hard"
# score label -> (the side it prefers, how strongly); the ten labels of arena-hard-auto v2's show_result.py
SCORES: dict[str, tuple[str, str]] = {
    "A>>B": ("A", "strong"), "A>B": ("A", "weak"), "A=B": ("tie", ""), "B>A": ("B", "weak"), "B>>A": ("B", "strong"),
    "A<<B": ("B", "strong"), "A<B": ("B", "weak"), "B=A": ("tie", ""), "B<A": ("A", "weak"), "B<<A": ("A", "strong"),
}
# who is assistant A and B in each game: game 1 baseline vs model, game 2 swapped
SIDES = ({"A": "baseline", "B": "model", "tie": "tie"}, {"A": "model", "B": "baseline", "tie": "tie"})
# assistant A's answer in a judge prompt ("<|The Start of Assistant A's Answer|>\n...\n<|The End of ...|>")
_A_SLOT = re.compile(r"Start of Assistant A's Answer\W*?\n(.*?)\n\W*The End of Assistant A's Answer", re.S)


def _games(row: Row, options: ReadOptions) -> list[tuple[str, str, str]]:
    """(winner in model/baseline/tie terms, strength, the score as written) for the two games."""
    games = get(row, options, "games")
    if not isinstance(games, list) or len(games) != 2:
        raise RowProblem("bad_type", f"games: expected the two position-swapped games, got {type(games).__name__} "
                         f"{games!r:.60}")
    for i, game in enumerate(games):
        if game is None or (isinstance(game, dict) and game.get("score") is None):
            what = "is null (the judge call failed)" if game is None else "has no score (no verdict label found)"
            raise RowProblem("error", f"games[{i}] {what}")
        if not isinstance(game, dict):
            raise RowProblem("bad_type", f"games[{i}]: expected an object, got {type(game).__name__}")
    outcomes = []
    for i, game in enumerate(games):
        score = game["score"]
        if not isinstance(score, str):
            raise RowProblem("bad_type", f"games[{i}].score: expected a label like A>B, got {score!r:.40}")
        label = "".join(score.split()).upper()
        if label not in SCORES:
            raise RowProblem("unknown_verdict", f"games[{i}].score: {score!r} is none of {', '.join(SCORES)}")
        side, strength = SCORES[label]
        outcomes.append((SIDES[i][side], strength, score))
    return outcomes


def _question_text(question: dict[str, Any], key: str) -> str:
    if "prompt" in question:  # v2
        return content_text(question["prompt"], f"question {key!r} prompt")
    return turn_texts(question.get("turns"), f"question {key!r} turns")[0]


def _answer_text(layout: Layout, model: str, key: str) -> str:
    answer = layout.answer(model, key)
    where = f"model {model!r}'s answer to question {key!r}"
    if "messages" in answer:  # v2: the last message is the assistant's, its content {"answer": ..., "thought"?}
        messages = answer["messages"]
        if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
            raise RowProblem("bad_type", f"{where}: expected messages ending with the assistant's answer")
        content = messages[-1].get("content")
        return content_text(content.get("answer") if isinstance(content, dict) else content, f"{where}.messages[-1]")
    return answer_turns(answer, where)[0]  # v0.1


def _game_prompt(game: Any) -> str:
    """The judge prompt of a game: v0.1 ``user_prompt`` (a string, or [text, images]); v2 ``prompt`` messages."""
    if not isinstance(game, dict):
        return ""
    value = game.get("user_prompt", game.get("prompt"))
    if isinstance(value, list):
        parts = [v.get("content") if isinstance(v, dict) else v for v in value]
        value = "\n".join(p for p in parts if isinstance(p, str))
    return value if isinstance(value, str) else ""


def _baseline(row: Row, options: ReadOptions, layout: Layout, key: str, model: str) -> tuple[str, str]:
    """(baseline model, where it was found)."""
    named = get(row, options, "baseline", required=False)
    if named is not None:
        return text(named, "baseline"), "baseline"
    prompt = _game_prompt(get(row, options, "games")[0])
    if not prompt:
        raise RowProblem("no_baseline", "the row names no baseline and game 1 has no user_prompt to find it in")
    answers = {}
    for other in layout.models():
        if other != model and key in layout.answers[other]:
            try:
                answers[other] = _answer_text(layout, other, key).strip()
            except RowProblem:
                continue
    slot = _A_SLOT.search(prompt)
    found = [m for m, a in answers.items() if slot and a and a == slot.group(1).strip()]
    if not found:  # a judge prompt of another shape: the answer quoted anywhere in it
        found = [m for m, a in answers.items() if a and a in prompt]
    if len(found) != 1:
        which = f"{len(found)} models' answers ({', '.join(sorted(found)[:5])})" if found else "no model's answer"
        raise RowProblem("no_baseline", f"the row names no baseline and {which} to question {key!r} appear as "
                         "assistant A in game 1's user_prompt")
    return found[0], "games[0].user_prompt"


def _convert(row: Row, options: ReadOptions, layout: Layout) -> Iterator[Item]:
    qid, key = row_id(row, options, "uid", "question_id")
    model = text(get(row, options, "model"), "model")
    outcomes = _games(row, options)
    (first, strength_1, score_1), (second, strength_2, score_2) = outcomes
    said = f"game 1 (A = baseline) {score_1}, game 2 (A = {model}) {score_2}"
    if first != second:
        raise RowProblem("inconsistent", f"the position-swapped games disagree: {said}")
    if first == "tie":
        raise RowProblem("tie", f"the judge called a tie: {said}")
    baseline, baseline_from = _baseline(row, options, layout, key, model)
    question = layout.question(key)
    prompt = _question_text(question, key)
    answers = {"model": _answer_text(layout, model, key), "baseline": _answer_text(layout, baseline, key)}
    names = {"model": model, "baseline": baseline}
    loser = "baseline" if first == "model" else "model"
    strength = strength_1 if strength_1 == strength_2 else "mixed"
    meta: dict[str, Any] = {"question_id": qid, "model": model, "baseline": baseline, "baseline_from": baseline_from,
                            "judge": row.data.get("judge"), "verdicts": [score_1, score_2], "winner": first,
                            "strength": strength, "chosen_model": names[first], "rejected_model": names[loser]}
    layout.show(key, names[first], names[loser], "turn 1", said)
    category = row.data.get("category", question.get("category"))
    if category is not None:
        meta["category"] = category
    yield PreferencePair(prompt=[user(prompt)], chosen=assistant(answers[first]), rejected=assistant(answers[loser]),
                         metadata=meta, provenance=provenance(row, FORMAT))


read = judge_reader(FORMAT, _convert, ("uid", "question_id"))


def sniff(record: dict[str, Any]) -> bool:
    """An arena-hard judgment row: a question id, the judged model and its list of games."""
    return isinstance(record.get("games"), list) and "model" in record and ("uid" in record or "question_id" in record)


SPEC = ReaderSpec(
    FORMAT, read, sniff, fields=("question_id", "model", "baseline", "games"),
    needs=(("question_id", ("uid", "question_id")), ("model", ("model",)), ("games", ("games",))),
    discovers=layout_files,  # the same folder layout as FastChat's
)
