"""``prefkit judge``: candidates (``prefkit generate``'s output) -> verdicts an LLM judge gave in both orders, or
scores from a judge or a reward model.

Pairwise (default): every pair of a prompt's answers when it has up to 4 (6 pairs for 4); above 4, each answer
against the next in a seeded random cycle (n pairs, so the cost grows linearly). Each pair is asked in both
orders (prefkit.create.verdicts); the rows have the ``pairwise`` input shape, so ``prefkit convert --from pairwise``
and ``prefkit label push`` (the verdict as a suggestion) read them::

    {"prompt": [...], "response_a": "...", "response_b": "...", "verdict": "a",
     "judge": {"model": "...", "verdict": "a", "orders": ["a", "b"], "replies": ["... [[A]]", "... [[B]]"]}, ...}

``verdict`` is a, b, tie (the judge said tie, or the two orders disagree: ``judge.verdict`` "inconsistent") or
failed (a reply without a verdict): convert rejects ties and failures, never guesses. Score mode (``--mode score``,
or ``reward_model_config``) writes ``ratings`` rows: ``{"prompt", "responses", "scores"}`` with a null score where
the judge gave none. Rows are appended as results come, so a killed run keeps them; a request that failed for good
(after its retries) writes nothing and is asked again by the next run of the same command.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import InputError, UsageError, requests_exit_code
from ..io import files as io
from ..io.run import AppendFile, Run, appended_rows
from ..io.sources import iter_rows
from .candidates import Candidates, pairs_of, read_candidates
from .client import RETRIES, Chat, in_parallel, reason_of
from .verdicts import PairVerdict, Template, compare, rate

MODES = ("pairwise", "score")


@dataclass
class JudgeReport:
    output: str
    mode: str
    judge_model: str = ""
    rows: int = 0  # prompts judged (rows of one prompt from several generate runs are pooled)
    skipped: dict[str, int] = field(default_factory=dict)  # rows with nothing to judge, by reason
    pairs: int = 0  # pairs asked (pairwise) or answers scored (score) by this run
    verdicts: dict[str, int] = field(default_factory=dict)  # in the whole output: a / b / tie / inconsistent / unparsed
    consistent_share: float | None = None  # of pairs with both orders parsed, the share whose orders agree
    position_bias: float | None = None  # of single-order a/b verdicts, the share that chose the first shown
    wins: dict[str, int] = field(default_factory=dict)  # consistent wins per generator
    unscored: int = 0  # score mode: answers without a usable score
    failed: dict[str, int] = field(default_factory=dict)  # requests of this run that failed for good, by reason
    usage: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    requests_per_s: float | None = None

    @property
    def exit_code(self) -> int:
        failed = sum(self.failed.values())
        return requests_exit_code(self.pairs - failed, failed)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def judge(candidates: str, output: str, *, judge_url: str | None = None, judge_model: str | None = None,
          mode: str = "pairwise", prompt_template: str | None = None, reward_model_config: str | None = None,
          concurrency: int = 8, max_tokens: int = 512, timeout: float = 120.0, retries: int = RETRIES, seed: int = 0,
          trust_remote_code: bool = False, report_json: str | None = None,
          progress: Callable[[int, int], None] | None = None) -> JudgeReport:
    """Judge every candidate row of ``candidates`` and append the results to ``output`` (.jsonl) as they come: a
    rerun sends only the requests whose results are not there yet (pairs in pairwise mode, prompts in score
    mode). A request that fails for good is counted (``report.failed``) and left for the next run; the report
    covers the whole output. ``report.exit_code``: see prefkit.errors."""
    if mode not in MODES:
        raise UsageError(f"--mode {mode!r}: choose pairwise or score")
    if reward_model_config is None and not (judge_url and judge_model):
        raise UsageError("give --judge-url URL and --judge-model NAME, or --reward-model-config rm_infer.yaml")
    if not output.endswith(".jsonl"):
        raise UsageError(f"{output}: judge appends its results as they come; name a .jsonl file")
    if reward_model_config is not None:
        mode = "score"
    inputs = [candidates] + [p for p in (prompt_template, reward_model_config) if p]
    with Run(inputs) as run:
        out = run.append("-o", output)
        report_file = run.json("--report-json", report_json)
        report = JudgeReport(output=output, mode=mode)
        skipped: Counter = Counter()
        rows = read_candidates(candidates, skipped)
        report.rows, report.skipped = len(rows), dict(skipped)
        if not rows:
            raise InputError(f"{candidates}: no rows with a prompt and two different responses ({dict(skipped)})")
        if reward_model_config is not None and any(r.images for r in rows):
            first = next(r for r in rows if r.images)
            raise UsageError(f"{candidates}: record {first.index}: the prompt has images, and a reward model is sent "
                             "text only; judge image prompts with --judge-url and a vision model")
        done = judged_keys(output, mode)
        template = Template.load(mode, prompt_template) if reward_model_config is None else None
        start = time.perf_counter()
        try:
            if reward_model_config is not None:
                _reward_scores(reward_model_config, [r for r in rows if r.key not in done], out, report,
                               trust_remote_code)
            else:
                chat = Chat(judge_url or "", judge_model or "", _judge_key(), timeout=timeout, retries=retries)
                report.judge_model = judge_model or ""
                ask = _pairwise if mode == "pairwise" else _scores
                try:
                    ask(chat, template, rows, done, out, report, concurrency, max_tokens, seed, progress)
                finally:
                    report.usage = chat.usage.to_json()
        finally:
            out.close()
            report.seconds = round(time.perf_counter() - start, 2)
        sent = report.usage.get("requests_sent") or 0
        report.requests_per_s = round(sent / report.seconds, 2) if report.seconds and sent else None
        summarize(output, report)
        report_file.value = report.to_json()
        run.commit()
    return report


def _judge_key() -> str | None:
    return os.environ.get("PREFKIT_JUDGE_API_KEY") or os.environ.get("OPENAI_API_KEY")


def pair_key(prompt_key: str, a: str, b: str) -> str:
    """What identifies a judged pair in the output: the prompt and the two answers, in order."""
    return hashlib.blake2b(io.dumps([prompt_key, a, b]), digest_size=12).hexdigest()


def judged_keys(output: str, mode: str) -> set[str]:
    """The pairs (pairwise) or prompts (score) ``output`` already holds; a file that is not a judge output of this
    mode is refused."""
    done: set[str] = set()
    wanted = ("response_a", "response_b") if mode == "pairwise" else ("responses", "scores")
    for number, data in appended_rows(output):
        source = data.get("source") if isinstance(data, dict) else None
        key = source.get("prompt_id") if isinstance(source, dict) else None
        if not (isinstance(key, str) and all(k in data for k in wanted)):
            raise InputError(f"{output}: line {number} is not a prefkit judge output in {mode} mode; name a new "
                             "file")
        done.add(pair_key(key, data["response_a"], data["response_b"]) if mode == "pairwise" else key)
    return done


def _pairwise(chat: Chat, template: Template, rows: list[Candidates], done: set[str], out: AppendFile,
              report: JudgeReport, concurrency: int, max_tokens: int, seed: int,
              progress: Callable[[int, int], None] | None) -> None:
    work = [(r, i, j) for r in rows for i, j in pairs_of(len(r.responses), r.key, seed)
            if pair_key(r.key, r.responses[i], r.responses[j]) not in done]
    report.pairs, failed = len(work), Counter()

    def ask(item: tuple[Candidates, int, int]) -> PairVerdict:
        r, i, j = item
        return compare(chat, template, r.prompt, r.responses[i], r.responses[j], max_tokens, r.images)

    for n, ((r, i, j), result) in enumerate(in_parallel(ask, work, concurrency), 1):
        if isinstance(result, Exception):
            failed[reason_of(result)] += 1
        else:
            out.write({"prompt": r.prompt, "response_a": r.responses[i], "response_b": r.responses[j],
                       "verdict": {"inconsistent": "tie", "unparsed": "failed"}.get(result.verdict, result.verdict),
                       "judge": {"model": chat.model, "verdict": result.verdict, "orders": list(result.orders),
                                 "replies": list(result.replies)},
                       "generators": [r.generators[i], r.generators[j]],
                       "source": {"prompt_id": r.key, "row": r.index, "responses": [i, j]}}
                      | ({"images": r.image_names} if r.image_names else {}))
        report.failed = dict(failed)
        if progress:
            progress(n, len(work))


def _scores(chat: Chat, template: Template, rows: list[Candidates], done: set[str], out: AppendFile,
            report: JudgeReport, concurrency: int, max_tokens: int, seed: int,
            progress: Callable[[int, int], None] | None) -> None:
    """Each answer scored apart; a prompt's ratings row is written once all its answers have a result."""
    todo = [r for r in rows if r.key not in done]
    work = [(r, k) for r in todo for k in range(len(r.responses))]
    report.pairs, failed = len(work), Counter()
    results: dict[str, dict[int, Any]] = {r.key: {} for r in todo}
    by_key = {r.key: r for r in todo}
    for n, ((r, k), result) in enumerate(in_parallel(
            lambda item: rate(chat, template, item[0].prompt, item[0].responses[item[1]], max_tokens, item[0].images),
            work, concurrency), 1):
        if isinstance(result, Exception):
            failed[reason_of(result)] += 1
        results[r.key][k] = result
        if len(results[r.key]) == len(r.responses):
            scored = [results[r.key][i] for i in range(len(r.responses))]
            if not any(isinstance(x, Exception) for x in scored):  # else the prompt is asked again next run
                _write_scores(out, by_key[r.key], scored, report.judge_model)
        report.failed = dict(failed)
        if progress:
            progress(n, len(work))


def _reward_scores(config: str, rows: list[Candidates], out: AppendFile, report: JudgeReport,
                   trust_remote_code: bool) -> None:
    from .reward import score_with_reward_model

    results, report.usage, report.judge_model = score_with_reward_model(config, rows, trust_remote_code)
    report.pairs = sum(len(r.responses) for r in rows)
    failed: Counter = Counter(reason_of(x) for scored in results for x in scored if isinstance(x, Exception))
    for r, scored in zip(rows, results, strict=True):
        if not any(isinstance(x, Exception) for x in scored):
            _write_scores(out, r, scored, report.judge_model)
    report.failed = dict(failed)


def _write_scores(out: AppendFile, r: Candidates, scored: list[Any], judge_model: str) -> None:
    """One ratings row; a result is (score, reply) from a judge or a bare score from a reward model."""
    pairs = [x if isinstance(x, tuple) else (x, None) for x in scored]
    out.write({"prompt": r.prompt, "responses": r.responses, "scores": [s for s, _ in pairs],
               "generators": r.generators, "judge": {"model": judge_model, "replies": [reply for _, reply in pairs]},
               "source": {"prompt_id": r.key, "row": r.index}} | ({"images": r.image_names} if r.image_names else {}))


def summarize(output: str, report: JudgeReport) -> None:
    """The report's counts over the whole output (this run's results and those of earlier runs)."""
    verdicts: Counter = Counter()
    wins: Counter = Counter()
    first_won = shown = 0
    for row in iter_rows(output) if os.path.exists(output) else ():
        data = row.data if row.error is None and isinstance(row.data, dict) else {}
        judged = data.get("judge") if isinstance(data.get("judge"), dict) else {}
        if report.mode == "score":
            report.unscored += sum(s is None for s in data.get("scores") or [])
            continue
        outcome = judged.get("verdict", "failed")
        verdicts[outcome] += 1
        for said in judged.get("orders") or []:
            if said in ("a", "b"):
                shown += 1
                first_won += said == "a"
        generators = data.get("generators") or ["unknown", "unknown"]
        if outcome in ("a", "b") and len(generators) == 2:
            wins[generators[0 if outcome == "a" else 1]] += 1
    if report.mode == "pairwise":
        report.verdicts = dict(verdicts.most_common())
        parsed = sum(verdicts[k] for k in ("a", "b", "tie", "inconsistent"))
        report.consistent_share = round((parsed - verdicts["inconsistent"]) / parsed, 4) if parsed else None
        report.position_bias = round(first_won / shown, 4) if shown else None
        report.wins = dict(wins)
