"""Adding a reader of your own: FastChat's relational "Vicuna eval" tables -> preference pairs.

The tables are relational: ``question.jsonl`` (question_id, text), ``answer/*.jsonl`` (answer_id,
model_id, question_id, text) and ``review/*.jsonl`` (question_id, answer1_id, answer2_id, score: the
GPT-4 scores of both answers). A review row becomes one pair: the higher-scored answer is chosen.
Equal scores are a tie (rejected with reason ``tie``); a review pointing at an unknown answer is
rejected as ``unknown_answer``. Nothing is dropped silently: prefkit's accounting still applies.

Run it (from the repository root):

    .venv/bin/python examples/custom_reader.py examples/fastchat_vicuna_eval data/fastchat_gpt4.json

It reads every review file, writes the pairs and registers them as ``fastchat_gpt4`` in
``data/dataset_info.json`` (the output's folder).
"""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Iterator

import pandas as pd

import prefkit
from prefkit.io.sources import Row
from prefkit.readers.base import ReadOptions, per_row, provenance
from prefkit.records import Message, PreferencePair, RowProblem


def fastchat_reader(tables_dir: str):
    """A reader for review rows, closing over the question and answer tables it joins them with."""
    questions = pd.read_json(os.path.join(tables_dir, "question.jsonl"), lines=True).set_index("question_id")
    answers = pd.concat(pd.read_json(path, lines=True)
                        for path in sorted(glob.glob(os.path.join(tables_dir, "answer", "*.jsonl"))))
    answers = answers.set_index("answer_id")

    def review_to_pair(row: Row, options: ReadOptions) -> Iterator[PreferencePair]:
        review = row.data
        try:
            question = questions.loc[review["question_id"], "text"]
        except KeyError:
            raise RowProblem("unknown_question", f"question_id {review.get('question_id')!r} is not in question.jsonl") from None
        sides = []
        for key in ("answer1_id", "answer2_id"):
            if review.get(key) not in answers.index:
                raise RowProblem("unknown_answer", f"{key} {review.get(key)!r} is not in answer/*.jsonl")
            sides.append(answers.loc[review[key]])
        score = review.get("score")
        if not (isinstance(score, list) and len(score) == 2):
            raise RowProblem("bad_type", "score: expected [score of answer 1, score of answer 2]")
        (s1, s2), (a1, a2) = score, sides
        if s1 == s2:
            raise RowProblem("tie", f"score: both answers scored {s1}")
        (good, good_score), (bad, bad_score) = sorted([(a1, s1), (a2, s2)], key=lambda side: -side[1])
        yield PreferencePair(
            prompt=[Message(role="user", content=question)],
            chosen=Message(role="assistant", content=good["text"]),
            rejected=Message(role="assistant", content=bad["text"]),
            chosen_score=float(good_score), rejected_score=float(bad_score),
            annotators=[review.get("reviewer_id", "")],
            metadata={"chosen_model": good["model_id"], "rejected_model": bad["model_id"],
                      "category": questions.loc[review["question_id"], "category"]},
            provenance=provenance(row, "fastchat-review"),
        )

    return per_row("fastchat-review", review_to_pair)


def main(tables_dir: str, output: str) -> prefkit.ConvertReport:
    prefkit.register_reader("fastchat-review", fastchat_reader(tables_dir))
    reviews = sorted(glob.glob(os.path.join(tables_dir, "review", "*.jsonl")))
    dataset_dir = os.path.dirname(os.path.abspath(output))
    return prefkit.convert(reviews, output, fmt="fastchat-review", register="fastchat_gpt4", dataset_dir=dataset_dir,
                           force=True)


if __name__ == "__main__":
    report = main(*sys.argv[1:3])
    print(f"{report.input_records} reviews -> {report.pairs_written} pairs; rejected: {report.rejected_by_reason}")
