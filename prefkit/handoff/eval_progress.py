"""``prefkit eval``'s kept work: every answer and verdict, appended to ``eval_progress.jsonl`` as it comes, so an
interrupted or partly failed eval loses nothing obtained and a rerun sends only what is missing.

A line is ``{"answer": KEY, "text": ...}`` or ``{"judgment": KEY, "verdict": ..., "orders": [...], "replies": [...]}``.
An answer's KEY is a digest of what decides it: the served model (its inference YAML's bytes and the name, size and
time of each file of its model and adapter folders: a retrained adapter gets new answers), ``max_tokens`` and the
request (the prompt, its images included). A judgment's KEY: the judge (its model name and reply limit), the request
and the two answers in order.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any


from ..create.verdicts import PairVerdict
from ..errors import InputError
from ..io import files as io
from ..io.run import appended_rows
from ..serving.serve import read_config

PROGRESS_NAME = "eval_progress.jsonl"


def digest(*parts: Any) -> str:
    return hashlib.blake2b(io.dumps(list(parts)), digest_size=12).hexdigest()


def model_fingerprint(config_path: str, max_tokens: int) -> str:
    """What decides a served model's greedy answers, short of its weights' bytes (see the module's doc)."""
    with open(config_path, "rb") as f:
        parts: list[Any] = [f.read().decode("utf-8", "replace"), max_tokens]
    config = read_config(config_path)
    for key in ("model_name_or_path", "adapter_name_or_path"):
        folder = config.get(key)
        if isinstance(folder, str) and os.path.isdir(folder):
            with os.scandir(folder) as entries:
                parts += sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in entries if e.is_file())
    return digest(*parts)


def judge_fingerprint(judge_model: str, max_tokens: int) -> str:
    """The judge by its model name (not its URL: a judge served on another port is the same judge)."""
    return digest(judge_model, max_tokens)


def answer_key(model: str, request: list[dict[str, Any]]) -> str:
    return digest(model, request)


def judgment_key(judge: str, prompt: list[dict[str, Any]], model_answer: str, baseline_answer: str) -> str:
    return digest(judge, prompt, model_answer, baseline_answer)


@dataclass
class Progress:
    answers: dict[str, str] = field(default_factory=dict)
    judgments: dict[str, PairVerdict] = field(default_factory=dict)


def read_progress(path: str) -> Progress:
    """What an earlier run of eval kept in ``path``; a file that is not eval's is refused (a last line cut short
    by an interruption is ignored: the run harness removes it before appending)."""
    kept = Progress()
    for number, row in appended_rows(path):
        if isinstance(row, dict) and isinstance(row.get("answer"), str) and isinstance(row.get("text"), str):
            kept.answers[row["answer"]] = row["text"]
        elif isinstance(row, dict) and isinstance(row.get("judgment"), str) and _verdict(row) is not None:
            kept.judgments[row["judgment"]] = _verdict(row)  # type: ignore[assignment]
        else:
            raise InputError(f"{path}: line {number} is not a prefkit eval progress line (an answer or a "
                             "judgment); remove the file or pass another --output-dir")
    return kept


def _verdict(row: dict[str, Any]) -> PairVerdict | None:
    orders, replies = row.get("orders"), row.get("replies")
    if not (isinstance(row.get("verdict"), str) and isinstance(orders, list) and isinstance(replies, list)
            and len(orders) == len(replies) == 2):
        return None
    return PairVerdict(row["verdict"], (orders[0], orders[1]), (replies[0], replies[1]))


def answer_line(key: str, text: str) -> dict[str, Any]:
    return {"answer": key, "text": text}


def judgment_line(key: str, outcome: PairVerdict) -> dict[str, Any]:
    return {"judgment": key, "verdict": outcome.verdict, "orders": list(outcome.orders),
            "replies": list(outcome.replies)}
