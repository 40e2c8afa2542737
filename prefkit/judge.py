"""``prefkit judge``: candidates (``prefkit generate``'s output) -> verdicts an LLM judge gave in both orders, or
scores from a judge or a reward model.

Pairwise (default): every pair of a prompt's answers when it has up to 4 (6 pairs for 4); above 4, each answer
against the next in a seeded random cycle (n pairs, so the cost grows linearly). Each pair is asked in both
orders (prefkit.judgement); the rows have the ``pairwise`` input shape, so ``prefkit convert --from pairwise``
and ``prefkit label push`` (the verdict as a suggestion) read them::

    {"prompt": [...], "response_a": "...", "response_b": "...", "verdict": "a",
     "judge": {"model": "...", "verdict": "a", "orders": ["a", "b"], "replies": ["... [[A]]", "... [[B]]"]}, ...}

``verdict`` is a, b, tie (the judge said tie, or the two orders disagree: ``judge.verdict`` "inconsistent") or
failed (a reply without a verdict, or a request that failed): convert rejects ties and failures, never guesses.
Score mode (``--mode score``, or ``reward_model_config``) writes ``ratings`` rows: ``{"prompt", "responses",
"scores"}`` with a null score where the judge gave none.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Any

from . import io
from .errors import InputError, UsageError
from .judgement import PairVerdict, Template, compare, rate
from .llm import Chat, RequestFailed, in_parallel
from .prompts import messages_of, prompt_id
from .sources import iter_rows

ALL_PAIRS_UP_TO = 4
MODES = ("pairwise", "score")


@dataclass
class JudgeReport:
    output: str
    mode: str
    judge_model: str = ""
    rows: int = 0  # prompts judged (rows of one prompt from several generate runs are pooled)
    skipped: dict[str, int] = field(default_factory=dict)  # rows with nothing to judge, by reason
    pairs: int = 0  # pairs compared (pairwise) or answers scored (score)
    verdicts: dict[str, int] = field(default_factory=dict)  # a / b / tie / inconsistent / unparsed / failed
    consistent_share: float | None = None  # of pairs with both orders parsed, the share whose orders agree
    position_bias: float | None = None  # of single-order a/b verdicts, the share that chose the first shown
    wins: dict[str, int] = field(default_factory=dict)  # consistent wins per generator
    unscored: int = 0  # score mode: answers without a usable score
    usage: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    requests_per_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Candidates:
    """One prompt's answers: rows of the same prompt (from several ``generate`` runs) are merged."""

    index: int  # of the prompt's first row
    key: str
    prompt: list[dict[str, str]]
    responses: list[str] = field(default_factory=list)
    generators: list[str] = field(default_factory=list)  # the model that wrote each answer


def pairs_of(n: int, key: str, seed: int = 0) -> list[tuple[int, int]]:
    """Which answers are compared: all pairs up to ALL_PAIRS_UP_TO answers, else a seeded cycle.

    >>> pairs_of(3, "k"), len(pairs_of(4, "k")), len(pairs_of(7, "k"))
    ([(0, 1), (0, 2), (1, 2)], 6, 7)
    """
    if n <= ALL_PAIRS_UP_TO:
        return list(combinations(range(n), 2))
    order = list(range(n))
    random.Random(f"{seed}:{key}").shuffle(order)
    return [tuple(sorted((order[k], order[(k + 1) % n]))) for k in range(n)]  # type: ignore[misc]


def read_candidates(path: str, skipped: Counter) -> list[Candidates]:
    """The candidates of each prompt, in the order prompts first appear; rows (or prompts) that cannot be
    judged are counted in ``skipped`` by reason."""
    merged: dict[str, Candidates] = {}
    for row in iter_rows(path):
        data = row.data if row.error is None and isinstance(row.data, dict) else None
        prompt = messages_of({"prompt": data["prompt"]}) if data and "prompt" in data else None
        responses = data.get("responses") if data else None
        if not prompt:
            skipped["no_prompt"] += 1
        elif not isinstance(responses, list) or not all(isinstance(r, str) for r in responses):
            skipped["no_responses"] += 1
        else:
            key = prompt_id(prompt)
            found = merged.setdefault(key, Candidates(row.index, key, prompt))
            found.responses += responses
            found.generators += [_generator(data)] * len(responses)  # type: ignore[arg-type]
    usable = [c for c in merged.values() if len(set(c.responses)) >= 2]
    if len(usable) < len(merged):
        skipped["fewer_than_two_distinct_responses"] += len(merged) - len(usable)
    return usable


def judge(candidates: str, output: str, *, judge_url: str | None = None, judge_model: str | None = None,
          mode: str = "pairwise", prompt_template: str | None = None, reward_model_config: str | None = None,
          concurrency: int = 8, max_tokens: int = 512, timeout: float = 120.0, seed: int = 0,
          trust_remote_code: bool = False, report_json: str | None = None,
          progress: Callable[[int, int], None] | None = None) -> JudgeReport:
    """Judge every candidate row of ``candidates`` and write ``output`` (pairwise or ratings rows)."""
    if mode not in MODES:
        raise UsageError(f"--mode {mode!r}: choose pairwise or score")
    if reward_model_config is None and not (judge_url and judge_model):
        raise UsageError("give --judge-url URL and --judge-model NAME, or --reward-model-config rm_infer.yaml")
    if reward_model_config is not None:
        mode = "score"
    io.check_outputs([candidates], {"-o": output, "--report-json": report_json})
    report = JudgeReport(output=output, mode=mode)
    skipped: Counter = Counter()
    rows = read_candidates(candidates, skipped)
    report.rows, report.skipped = len(rows), dict(skipped)
    if not rows:
        raise InputError(f"{candidates}: no rows with a prompt and two different responses ({dict(skipped)})")
    start = time.perf_counter()
    if reward_model_config is not None:
        from .reward import score_with_reward_model

        results, usage, report.judge_model = score_with_reward_model(reward_model_config, rows, trust_remote_code)
        _write_scores(output, rows, results, report)
        report.usage = usage
    else:
        chat = Chat(judge_url or "", judge_model or "", _judge_key(), timeout=timeout)
        report.judge_model = judge_model or ""
        template = Template.load(mode, prompt_template)
        if mode == "pairwise":
            _pairwise(chat, template, rows, output, report, concurrency, max_tokens, seed, progress)
        else:
            _scores(chat, template, rows, output, report, concurrency, max_tokens, progress)
        report.usage = chat.usage.to_json()
    report.seconds = round(time.perf_counter() - start, 2)
    sent = report.usage.get("requests_sent") or 0
    report.requests_per_s = round(sent / report.seconds, 2) if report.seconds and sent else None
    if report_json:
        io.write_json(report_json, report.to_json())
    return report


def _judge_key() -> str | None:
    import os

    return os.environ.get("PREFKIT_JUDGE_API_KEY") or os.environ.get("OPENAI_API_KEY")


def _pairwise(chat: Chat, template: Template, rows: list[Candidates], output: str, report: JudgeReport,
              concurrency: int, max_tokens: int, seed: int, progress: Callable[[int, int], None] | None) -> None:
    work = [(r, i, j) for r in rows for i, j in pairs_of(len(r.responses), r.key, seed)]

    def ask(item: tuple[Candidates, int, int]) -> PairVerdict:
        r, i, j = item
        return compare(chat, template, r.prompt, r.responses[i], r.responses[j], max_tokens)

    results: dict[tuple[int, int, int], PairVerdict | Exception] = {}
    for done, ((r, i, j), result) in enumerate(in_parallel(ask, work, concurrency), 1):
        results[r.index, i, j] = result
        if progress:
            progress(done, len(work))
    verdicts: Counter = Counter()
    first_won = shown = 0
    wins: Counter = Counter()
    with io.RowFile(output) as out:
        for r, i, j in work:
            result = results[r.index, i, j]
            outcome = result.verdict if isinstance(result, PairVerdict) else "failed"
            verdicts[outcome] += 1
            row: dict[str, Any] = {"prompt": r.prompt, "response_a": r.responses[i], "response_b": r.responses[j],
                                   "verdict": {"inconsistent": "tie", "unparsed": "failed"}.get(outcome, outcome)}
            if isinstance(result, PairVerdict):
                row["judge"] = {"model": chat.model, "verdict": result.verdict, "orders": list(result.orders),
                                "replies": list(result.replies)}
                for said in result.orders:
                    if said in ("a", "b"):
                        shown += 1
                        first_won += said == "a"
            else:
                row["judge"] = {"model": chat.model, "verdict": "failed", "error": _reason(result)}
            if outcome in ("a", "b"):
                wins[r.generators[i if outcome == "a" else j]] += 1
            row["generators"] = [r.generators[i], r.generators[j]]
            row["source"] = {"prompt_id": r.key, "row": r.index, "responses": [i, j]}
            out.write(row)
    report.pairs = len(work)
    report.verdicts = dict(verdicts.most_common())
    parsed = sum(verdicts[k] for k in ("a", "b", "tie", "inconsistent"))
    report.consistent_share = round((parsed - verdicts["inconsistent"]) / parsed, 4) if parsed else None
    report.position_bias = round(first_won / shown, 4) if shown else None
    report.wins = dict(wins)


def _scores(chat: Chat, template: Template, rows: list[Candidates], output: str, report: JudgeReport,
            concurrency: int, max_tokens: int, progress: Callable[[int, int], None] | None) -> None:
    work = [(r, k) for r in rows for k in range(len(r.responses))]
    results: dict[tuple[int, int], tuple[float | None, str | None] | Exception] = {}
    for done, ((r, k), result) in enumerate(in_parallel(
            lambda item: rate(chat, template, item[0].prompt, item[0].responses[item[1]], max_tokens),
            work, concurrency), 1):
        results[r.index, k] = result
        if progress:
            progress(done, len(work))
    per_row = [[results[r.index, k] for k in range(len(r.responses))] for r in rows]
    _write_scores(output, rows, per_row, report)


def _write_scores(output: str, rows: list[Candidates], results: list[list[Any]], report: JudgeReport) -> None:
    """Ratings rows; a result is (score, reply), a bare score (reward model) or an exception."""
    with io.RowFile(output) as out:
        for r, scored in zip(rows, results, strict=True):
            scores, replies = [], []
            for result in scored:
                score, reply = (None, _reason(result)) if isinstance(result, Exception) else \
                    result if isinstance(result, tuple) else (result, None)
                scores.append(score)
                replies.append(reply)
            report.unscored += sum(s is None for s in scores)
            out.write({"prompt": r.prompt, "responses": r.responses, "scores": scores, "generators": r.generators,
                       "judge": {"model": report.judge_model, "replies": replies}})
    report.pairs = sum(len(r.responses) for r in rows)


def _generator(row: dict[str, Any]) -> str:
    generator = row.get("generator")
    return str(generator.get("model")) if isinstance(generator, dict) and generator.get("model") else "unknown"


def _reason(error: Exception) -> str:
    return error.reason if isinstance(error, RequestFailed) else type(error).__name__
