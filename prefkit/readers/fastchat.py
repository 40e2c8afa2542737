"""``--from fastchat-judge``: FastChat ``llm_judge`` pairwise judgments, paired with the questions and answers
they judged, which live in other files of the benchmark folder (``fastchat/llm_judge/data/<bench>/``)::

    question.jsonl                      {"question_id", "category", "turns": [str, ...]}
    model_answer/<model>.jsonl          {"question_id", "model_id", "choices": [{"index", "turns": [str, ...]}]}
    model_judgment/<judge>_pair.jsonl   the input, one match a row: {"question_id", "model_1", "model_2",
                                        "g1_winner", "g2_winner", "judge": [model, prompt name], "turn", ...}

``prefkit convert BENCH/model_judgment/gpt-4_pair.jsonl -o pairs.json`` finds question.jsonl and model_answer/
in the folder above model_judgment/; ``--questions FILE --answers DIR`` say where they are instead. A model's
answers are the file named after it (as FastChat's ``load_model_answers`` names them), or the file whose rows
carry that ``model_id``. Missing files stop the run with one error naming them all (exit 2).

Both position-swapped games are in one row, their winners already mapped back to ``model_1``/``model_2``/``tie``/
``error`` (FastChat common.py ``play_a_match_pair``: game 2 shows model_2 as A, and its winner is reported in
model_1/model_2 terms). The rule is FastChat's (show_result.py, pairwise mode): a row with an ``error`` game is
dropped (reject ``error``); a ``tie`` or two games that disagree count as a tie (reject ``tie`` when both games
are ties, ``inconsistent`` when they disagree); otherwise the winner's answer is chosen. A row with one
``winner`` instead of two games (common.py ``load_pairwise_model_judgments`` reads that too) is one verdict.

A turn-2 judgment (``turn: 2``; FastChat's ``pair-v2-multi-turn`` and ``pair-math-v1-multi-turn`` prompts, which
ask the judge to focus on the second answer) pairs the second answers: the prompt is user question 1, answer 1,
user question 2. Each model answered question 2 after its own answer 1; the history kept is the chosen
model's, noted as ``history_from_chosen`` when the two first answers differ. A question or answer that is not
in the files (or has too few turns) gives ``no_answer``. Metadata: the question_id, category, turn, judge, both
models, the games' verdicts and which model was chosen.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..io.run import found
from ..io.sources import Row, iter_rows
from ..records import Note, PreferencePair, same_text
from .base import Item, Reader, ReadOptions, RowProblem, assistant, content_text, get, per_row, provenance, seen, text, user
from .spec import ReaderSpec

FORMAT = "fastchat-judge"
ID_KEYS = ("question_id", "uid")  # FastChat and arena-hard v0.1 use question_id, arena-hard v2 uid
WINNERS = ("model_1", "model_2", "tie", "error")


# --- the folder layout, shared with arena_hard.py ----------------------------------------------------------------
def id_key(value: Any) -> str | None:
    """A question id as a dict key: 81, "81" and 81.0 (pandas) are the same question; other values are none."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value) if isinstance(value, (int, str)) else None


def row_id(row: Row, options: ReadOptions, *defaults: str) -> tuple[Any, str]:
    """The judgment row's question id: (the value as written, its key)."""
    value = get(row, options, "question_id", *defaults)
    key = id_key(value)
    if key is None:
        raise RowProblem("bad_type", f"question id: expected a number or a string, got {type(value).__name__} "
                         f"{value!r:.40}")
    return value, key


def bench_folder(source: str) -> Path:
    """The benchmark folder of a judgment file: the parent of its nearest ``model_judgment`` folder (FastChat:
    BENCH/model_judgment/JUDGE_pair.jsonl; arena-hard: BENCH/model_judgment/JUDGE/MODEL.jsonl), else its own folder."""
    path = Path(source).absolute()
    for parent in path.parents:
        if parent.name == "model_judgment":
            return parent.parent
    return path.parent


def layout_files(source: str) -> list[str]:
    """The question file and the answers folder around a judgment file inside a ``model_judgment`` folder (none
    otherwise): a command that reads the judgment file declares them as inputs, so no output can replace them or
    be written among the answers (every MODEL.jsonl there is read)."""
    if not any(parent.name == "model_judgment" for parent in Path(source).absolute().parents):
        return []
    bench = bench_folder(source)
    return [str(p) for p in [bench / "question.jsonl", bench / "model_answer"] if p.exists()]


@dataclass
class Layout:
    """The questions and every model's answers of one benchmark folder, by question id."""

    questions_path: str
    answers_dir: str
    questions: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # model -> id -> answer row
    aliases: dict[str, str] = field(default_factory=dict)  # model_id / model written in a file -> its file's model

    def question(self, key: str) -> dict[str, Any]:
        if key not in self.questions:
            raise RowProblem("no_answer", f"question {key!r} is not in {self.questions_path}")
        return self.questions[key]

    def models(self) -> list[str]:
        return list(self.answers)

    def show(self, key: str, chosen: str, rejected: str, turn: str, verdict: str) -> None:
        """Name the files the pair's texts came from (convert --preview shows them)."""
        answers = os.path.basename(os.path.normpath(self.answers_dir))
        seen("prompt", f"{os.path.basename(self.questions_path)} [{key}] {turn}")
        seen("chosen", f"{answers}/{self.aliases.get(chosen, chosen)}.jsonl [{key}] {turn} ({verdict})")
        seen("rejected", f"{answers}/{self.aliases.get(rejected, rejected)}.jsonl [{key}] {turn}")

    def answer(self, model: str, key: str) -> dict[str, Any]:
        name = model if model in self.answers else self.aliases.get(model)
        if name is None:
            known = ", ".join(sorted(self.answers)[:8]) + (" ..." if len(self.answers) > 8 else "")
            raise RowProblem("no_answer", f"no answers of model {model!r} in {self.answers_dir} (answer files: {known})")
        if key not in self.answers[name]:
            raise RowProblem("no_answer", f"model {model!r} has no answer to question {key!r} in "
                             f"{os.path.join(self.answers_dir, name + '.jsonl')}")
        return self.answers[name][key]


def find_layout(source: str, options: ReadOptions, fmt: str) -> Layout:
    """The questions and answers beside judgment file ``source`` (or at --questions / --answers), loaded; an
    InputError naming every missing one."""
    bench = bench_folder(source)
    questions = Path(options.questions) if options.questions else bench / "question.jsonl"
    answers = Path(options.answers) if options.answers else bench / "model_answer"
    missing = []
    if not questions.is_file():
        missing.append(f"{questions} (the questions{', from --questions' if options.questions else ''})")
    if not answers.is_dir():
        missing.append(f"{answers}{os.sep} (the model answers, one MODEL.jsonl each"
                       f"{', from --answers' if options.answers else ''})")
    elif not any(answers.glob("*.jsonl")):
        missing.append(f"{answers}{os.sep}*.jsonl (the answers folder has no MODEL.jsonl file)")
    if missing:
        raise InputError(f"{source}: --from {fmt} pairs the judged answers, which live in other files: missing "
                         f"{'; '.join(missing)}. Convert the judgment file inside BENCH/model_judgment/ (with "
                         "BENCH/question.jsonl and BENCH/model_answer/), or give --questions FILE --answers DIR")
    found(str(questions), f"the questions of {source}")  # read too: declared with the run, so no output replaces
    found(str(answers), f"the answers folder of {source}")  # them or is written among the answers
    layout = Layout(str(questions), str(answers))
    for data in _objects(str(questions)):
        for name in ID_KEYS:
            key = id_key(data.get(name))
            if key is not None:
                layout.questions.setdefault(key, data)
    for path in sorted(answers.glob("*.jsonl")):  # FastChat's load_model_answers: the file name is the model
        model = path.name[: -len(".jsonl")]
        rows = layout.answers.setdefault(model, {})
        for data in _objects(str(path)):
            key = next((k for k in (id_key(data.get(n)) for n in ID_KEYS) if k is not None), None)
            if key is not None:
                rows[key] = data  # a later answer to the same question replaces it, as upstream
            written = data.get("model_id", data.get("model"))
            if isinstance(written, str) and written != model:
                layout.aliases.setdefault(written, model)
    return layout


def _objects(path: str) -> Iterator[dict[str, Any]]:
    for row in iter_rows(path):
        if row.error is None and isinstance(row.data, dict):
            yield row.data


def judge_reader(fmt: str, convert: Callable[[Row, ReadOptions, Layout], Iterable[Item]],
                 id_keys: tuple[str, ...]) -> Reader:
    """A per-row reader that loads the layout at the first row that has a question id (outside the per-row
    guard, so missing files stop the run with their InputError instead of rejecting each row)."""

    def read(rows: Iterable[Row], options: ReadOptions) -> Iterator[Item]:
        found: list[Layout] = []
        keys = (options.mapping["question_id"],) if "question_id" in options.mapping else id_keys

        def rows_then_layout() -> Iterator[Row]:
            for row in rows:
                if not found and row.error is None and isinstance(row.data, dict) and any(k in row.data for k in keys):
                    found.append(find_layout(row.source, options, fmt))
                yield row

        def one(row: Row, opts: ReadOptions) -> Iterable[Item]:
            if not found:
                raise RowProblem("missing_field", f"field {' / '.join(repr(k) for k in keys)} is missing")
            return convert(row, opts, found[0])

        yield from per_row(fmt, one)(rows_then_layout(), options)

    read.__name__ = f"read_{fmt.replace('-', '_')}"
    read.groups_rows = True  # type: ignore[attr-defined]  # the layout is loaded once per file: keep it on one process
    return read


def turn_texts(value: Any, where: str) -> list[str]:
    """Turns as texts: FastChat writes strings, arena-hard v0.1 ``{"content": ...}`` objects."""
    if not isinstance(value, list) or not value:
        raise RowProblem("bad_type", f"{where}: expected a list of turns, got {type(value).__name__} {value!r:.40}")
    return [content_text(t["content"] if isinstance(t, dict) and "content" in t else t, f"{where}[{i}]")
            for i, t in enumerate(value)]


def answer_turns(answer: dict[str, Any], where: str) -> list[str]:
    """The turns of an answer's first choice (FastChat and arena-hard v0.1 judge ``choices[0]``)."""
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise RowProblem("bad_type", f"{where}: expected choices: [{{turns: [...]}}]")
    return turn_texts(choices[0].get("turns"), f"{where}.choices[0].turns")


# --- FastChat ------------------------------------------------------------------------------------------------
def _verdict(value: Any, where: str) -> str:
    if value is None:
        raise RowProblem("error", f"{where} is null: the game has no verdict")
    if not isinstance(value, str):
        raise RowProblem("bad_type", f"{where}: expected a string, got {type(value).__name__} {value!r:.40}")
    verdict = value.strip().lower()
    if verdict not in WINNERS:
        raise RowProblem("unknown_verdict", f"{where}: {value!r} is none of {', '.join(WINNERS)}")
    return verdict


def _games(row: Row, options: ReadOptions) -> tuple[str, str, dict[str, str]]:
    data = row.data
    if "g1_winner" in options.mapping or "g1_winner" in data or "winner" not in data:
        g1 = _verdict(get(row, options, "g1_winner"), "g1_winner")
        g2 = _verdict(get(row, options, "g2_winner"), "g2_winner")
        return g1, g2, {"g1_winner": g1, "g2_winner": g2}
    winner = _verdict(data["winner"], "winner")
    return winner, winner, {"winner": winner}


def _turn(data: dict[str, Any]) -> int:
    value = data.get("turn")
    if value is None:  # FastChat writes turn; without it, the prompt's name says whether it judged turn 2
        judge = data.get("judge")
        name = judge[1] if isinstance(judge, list) and len(judge) > 1 and isinstance(judge[1], str) else ""
        return 2 if name.endswith("-multi-turn") else 1
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 1:
        raise RowProblem("bad_type", f"turn: expected 1, 2, ..., got {value!r:.40}")
    return int(value)


def _convert(row: Row, options: ReadOptions, layout: Layout) -> Iterator[Item]:
    qid, key = row_id(row, options, "question_id")
    model_1 = text(get(row, options, "model_1"), "model_1")
    model_2 = text(get(row, options, "model_2"), "model_2")
    g1, g2, verdicts = _games(row, options)
    if "error" in (g1, g2):
        raise RowProblem("error", f"a game errored ({_said(verdicts)}); FastChat's show_result.py drops the row")
    if g1 != g2:
        raise RowProblem("inconsistent", f"the position-swapped games disagree ({_said(verdicts)}); FastChat "
                         "counts the row as a tie")
    if g1 == "tie":
        raise RowProblem("tie", f"the judge called a tie ({_said(verdicts)})")
    turn = _turn(row.data)
    chosen, rejected = (model_1, model_2) if g1 == "model_1" else (model_2, model_1)
    question = layout.question(key)
    asked = turn_texts(question.get("turns"), f"question {key!r} turns")
    if len(asked) < turn:
        raise RowProblem("no_answer", f"question {key!r} has {len(asked)} turn(s); the row judged turn {turn}")
    good, bad = (_turns(layout, model, key, turn) for model in (chosen, rejected))
    prompt = []
    for i in range(turn - 1):
        prompt += [user(asked[i]), assistant(good[i])]
    prompt.append(user(asked[turn - 1]))
    meta: dict[str, Any] = {"question_id": qid, "turn": turn, "judge": row.data.get("judge"), "model_1": model_1,
                            "model_2": model_2, "verdicts": verdicts, "chosen_model": chosen,
                            "rejected_model": rejected}
    if "category" in question:
        meta["category"] = question["category"]
    layout.show(key, chosen, rejected, f"turn {turn}", _said(verdicts))
    if turn > 1:
        meta["history_from"] = chosen
        if not all(same_text(a, b) for a, b in zip(good[: turn - 1], bad[: turn - 1])):
            yield Note("history_from_chosen")
    yield PreferencePair(prompt=prompt, chosen=assistant(good[turn - 1]), rejected=assistant(bad[turn - 1]),
                         metadata=meta, provenance=provenance(row, FORMAT))


def _turns(layout: Layout, model: str, key: str, turn: int) -> list[str]:
    turns = answer_turns(layout.answer(model, key), f"model {model!r}'s answer to question {key!r}")
    if len(turns) < turn:
        raise RowProblem("no_answer", f"model {model!r}'s answer to question {key!r} has {len(turns)} turn(s); the "
                         f"row judged turn {turn}")
    return turns


def _said(verdicts: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in verdicts.items())


read = judge_reader(FORMAT, _convert, ("question_id",))


def sniff(record: dict[str, Any]) -> bool:
    """A FastChat pairwise judgment row: a question id, two models and the games' winners."""
    return ("question_id" in record and "model_1" in record and "model_2" in record
            and ("g1_winner" in record or "winner" in record))


SPEC = ReaderSpec(
    FORMAT, read, sniff, fields=("question_id", "model_1", "model_2", "g1_winner", "g2_winner"),
    needs=(("question_id", ("question_id",)), ("model_1", ("model_1",)), ("model_2", ("model_2",)),
           ("g1_winner", ("g1_winner", "winner"))),
    discovers=layout_files,
)
