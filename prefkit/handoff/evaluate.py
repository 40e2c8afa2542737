"""``prefkit eval``: the trained model against its base model on held-out prompts, through
LLaMA-Factory's OpenAI-compatible API, optionally judged pairwise by any OpenAI-compatible endpoint.

Answers and judgments go through prefkit.create.client (the client, retries, time limit and parallelism of generate and
judge); a failed request is counted and the rest goes on. The judge sees every pair twice, in both orders, with
the prompt, parser and consistency rule of ``prefkit judge`` (prefkit.create.verdicts): a verdict counts only when both
orders agree; a disagreement is ``inconsistent`` and counts as a tie; a reply without a verdict is counted as
unparsed, never guessed. A prompt's images (a dataset with an images column) go to the served models as
``image_url`` parts with ``data:`` URLs (prefkit.serving.image_parts); the judge gets the prompt's text with its
``<image>`` placeholders and the images before it; the answers file has the text. Keys come from the environment (the judge's:
PREFKIT_JUDGE_API_KEY, else OPENAI_API_KEY; the served models': API_KEY) and are never printed.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from ..checks.acceptance import Attr
from ..create.client import RETRIES, Chat, in_parallel, reason_of
from ..create.prompts import registered_prompts
from ..create.verdicts import SWAPPED, PairVerdict, Template, compare
from ..errors import UsageError, requests_exit_code
from ..images.checks import RowLayout
from ..io.run import AppendFile, Run
from ..registry import info as registry
from .eval_progress import (PROGRESS_NAME, answer_key, answer_line, judge_fingerprint, judgment_key,
                            judgment_line, model_fingerprint, read_progress)
from ..serving.image_parts import request_with_images, row_image_refs, urls_in
from ..serving.serve import serving


@dataclass
class EvalReport:
    prompts: int = 0
    answered: dict[str, int] = field(default_factory=dict)
    failed: dict[str, dict[str, int]] = field(default_factory=dict)  # side -> reason -> count
    compared: int = 0
    judge: dict[str, Any] | None = None
    mean_length_difference: float | None = None  # characters, model minus baseline
    answers_file: str = ""
    html_file: str = ""
    progress_file: str = ""  # every answer and verdict as it came (prefkit.handoff.eval_progress)
    resumed: dict[str, int] = field(default_factory=dict)  # model / baseline / judgments taken from it, not sent
    requests_sent: dict[str, int] = field(default_factory=dict)  # by this run: model / baseline / judge

    @property
    def exit_code(self) -> int:
        """Over the answers of both models and the judgments (see prefkit.errors)."""
        failed = sum(sum(reasons.values()) for reasons in self.failed.values())
        failed += sum((self.judge or {}).get("failed", {}).values())
        succeeded = sum(self.answered.values()) + ((self.judge or {}).get("pairs") or 0)
        return requests_exit_code(succeeded, failed)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


Prompt = tuple[int, list[dict[str, Any]]]  # (record index, OpenAI-style messages)


def load_prompts(dataset: str, dataset_dir: str, limit: int | None) -> list[Prompt]:
    """(record index, OpenAI-style messages) of the dataset's prompts, as LLaMA-Factory reads them."""
    return [prompt for prompt, _ in prompts_and_requests(dataset, dataset_dir, limit)]


def prompts_and_requests(dataset: str, dataset_dir: str, limit: int | None) -> list[tuple[Prompt, Prompt]]:
    """Each prompt (text, ``<image>`` placeholders kept) and the request that asks it: the same, with the row's
    images (read from the dataset dir, LLaMA-Factory's default ``media_dir``) in place of its placeholders."""
    info = registry.load(dataset_dir)
    if dataset not in info:
        raise UsageError(f"no dataset {dataset!r} in {dataset_dir}/dataset_info.json")
    entry = info[dataset]
    layout = RowLayout.from_entry(entry)  # None: no images column
    source = os.path.join(dataset_dir, entry["file_name"])
    prompts: list[tuple[Prompt, Prompt]] = []
    for index, data, messages in registered_prompts(source, Attr.from_entry(entry)):
        if limit is not None and len(prompts) >= limit:
            break
        if messages is None:
            continue
        request = request_with_images(messages, row_image_refs(data, layout, dataset_dir), f"{source}: record {index}",
                                      layout)
        prompts.append(((index, messages), (index, request)))
    if not prompts:
        raise UsageError(f"{dataset}: no usable prompts")
    return prompts


def wilson(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4))


def evaluate(dataset: str, dataset_dir: str, model_config: str, baseline_config: str, output_dir: str,
             judge_url: str | None = None, judge_model: str | None = None, limit: int | None = None,
             max_tokens: int = 256, env: dict[str, str] | None = None, trust_remote_code: bool = False,
             judge_max_tokens: int = 512, timeout: float = 120.0, retries: int = RETRIES, concurrency: int = 4,
             report_json: str | None = None) -> EvalReport:
    """Answer the held-out prompts with both models, then judge them; ``output_dir`` gets eval_answers.jsonl and
    .html. Failed answers and failed judgments are counted, never fatal: the answers are written whatever the
    judge does. Each answer and verdict is appended to eval_progress.jsonl as it comes: an interrupted run keeps
    them, and a rerun sends only what is missing (a model whose answers are all kept is not served).
    ``report.exit_code``: see prefkit.errors."""
    if judge_url and not judge_model:
        raise UsageError("--judge-url needs --judge-model")
    entry = registry.get_entry(dataset_dir, dataset)
    with Run([model_config, baseline_config, os.path.join(dataset_dir, entry["file_name"])]) as run:
        run.holder("--output-dir", output_dir)  # made here, removed again if the run fails before writing in it
        report = EvalReport(answers_file=os.path.join(output_dir, "eval_answers.jsonl"),
                            html_file=os.path.join(output_dir, "eval_answers.html"),
                            progress_file=os.path.join(output_dir, PROGRESS_NAME))
        answers_out = run.rows("eval answers", report.answers_file, lines=True)
        html_out = run.file("eval page", report.html_file)
        progress = run.append("eval progress", report.progress_file)
        report_file = run.json("--report-json", report_json)
        kept = read_progress(report.progress_file)
        loaded = prompts_and_requests(dataset, dataset_dir, limit)
        prompts, requests = [prompt for prompt, _ in loaded], [request for _, request in loaded]
        report.prompts = len(prompts)
        answers: dict[str, list[str | None]] = {}
        for side, config in (("model", model_config), ("baseline", baseline_config)):
            fingerprint = model_fingerprint(config, max_tokens)
            keys = [answer_key(fingerprint, request) for _, request in requests]
            answers[side] = [kept.answers.get(key) for key in keys]
            report.resumed[side], report.failed[side], report.requests_sent[side] = \
                sum(text is not None for text in answers[side]), {}, 0
            if None in answers[side]:  # else nothing to ask: the model is not served
                with serving(config, env=env, trust_remote_code=trust_remote_code) as server:
                    chat = Chat(server.base_url, server.model, server.api_key, timeout=timeout, retries=retries)
                    report.failed[side] = _answers(chat, requests, answers[side], keys, progress, max_tokens,
                                                   concurrency)
                    report.requests_sent[side] = chat.usage.requests_sent
            report.answered[side] = sum(text is not None for text in answers[side])
        both = [i for i in range(len(prompts)) if answers["model"][i] is not None and answers["baseline"][i] is not None]
        report.compared = len(both)
        if both:
            report.mean_length_difference = round(
                sum(len(answers["model"][i]) - len(answers["baseline"][i]) for i in both) / len(both), 2)  # type: ignore[arg-type]
        outcomes: dict[int, PairVerdict] = {}
        if judge_url:
            key = os.environ.get("PREFKIT_JUDGE_API_KEY") or os.environ.get("OPENAI_API_KEY")
            judge = Chat(judge_url, judge_model or "", key, timeout=timeout, retries=retries)
            fingerprint = judge_fingerprint(judge_model or "", judge_max_tokens)
            pair_keys = {i: judgment_key(fingerprint, requests[i][1], answers["model"][i], answers["baseline"][i])  # type: ignore[arg-type]
                         for i in both}
            outcomes = {i: kept.judgments[k] for i, k in pair_keys.items() if k in kept.judgments}
            report.resumed["judgments"] = len(outcomes)
            failed = _judge(judge, prompts, requests, answers, [i for i in both if i not in outcomes], outcomes, pair_keys,
                            progress, judge_max_tokens, concurrency)
            report.requests_sent["judge"] = judge.usage.requests_sent
            report.judge = {**_tally(outcomes, judge_model or ""), "failed": failed}
        for n, (index, messages) in enumerate(prompts):
            outcome = outcomes.get(n)  # each order's verdict, as "a" = the model
            verdicts = [outcome.orders[0], SWAPPED.get(outcome.orders[1]) if outcome.orders[1] else None] \
                if outcome else None
            answers_out.write({"index": index, "prompt": messages, "model": answers["model"][n],
                               "baseline": answers["baseline"][n], "verdicts": verdicts})
        from ..reports import eval_html

        html_out.file.write(eval_html.render(prompts, answers, outcomes, report).encode("utf-8"))  # type: ignore[union-attr]
        report_file.value = report.to_json()
        run.commit()
    return report


def _answers(chat: Chat, requests: list[Prompt], texts: list[str | None], keys: list[str], progress: AppendFile,
             max_tokens: int, concurrency: int) -> dict[str, int]:
    """Each missing answer (None in ``texts``) asked greedily and filled in, kept in ``progress`` as it comes;
    the failures by reason (their answers stay None)."""
    failed: Counter = Counter()
    ask = lambda n: chat.texts(requests[n][1], max_tokens=max_tokens, temperature=0)  # noqa: E731
    for n, result in in_parallel(ask, [n for n, text in enumerate(texts) if text is None], concurrency):
        if isinstance(result, Exception):
            failed[reason_of(result)] += 1
        elif result:
            texts[n] = result[0]
            progress.write(answer_line(keys[n], result[0]))
        else:
            failed["empty_response"] += 1
    return dict(failed)


def _judge(judge: Chat, prompts: list[Prompt], requests: list[Prompt], answers: dict[str, list[str | None]],
           todo: list[int],
           outcomes: dict[int, PairVerdict], keys: dict[int, str], progress: AppendFile, max_tokens: int,
           concurrency: int) -> dict[str, int]:
    """Each pair of ``todo`` judged in both orders (x = the model, y = the baseline) into ``outcomes``, kept in
    ``progress`` as it comes; the failures by reason. The judge sees the prompt's text and its images."""
    template = Template.load("pairwise")
    failed: Counter = Counter()
    ask = lambda i: compare(judge, template, prompts[i][1], answers["model"][i], answers["baseline"][i],  # noqa: E731
                            max_tokens, urls_in(requests[i][1]))
    for i, result in in_parallel(ask, todo, concurrency):
        if isinstance(result, Exception):
            failed[reason_of(result)] += 1
        else:
            outcomes[i] = result
            progress.write(judgment_line(keys[i], result))
    return dict(failed)


def _tally(outcomes: dict[int, PairVerdict], judge_model: str) -> dict[str, Any]:
    """Win / tie / loss of the model (x) against the baseline; ties include the inconsistent pairs."""
    names = {"a": "win", "b": "loss", "tie": "tie", "inconsistent": "tie", "unparsed": "unparsed"}
    outcome = Counter(names[o.verdict] for o in outcomes.values())
    unparsed_orders = sum(v is None for o in outcomes.values() for v in o.orders)
    inconsistent = sum(o.verdict == "inconsistent" for o in outcomes.values())
    decided = outcome["win"] + outcome["loss"] + outcome["tie"]
    rate = (outcome["win"] + 0.5 * outcome["tie"]) / decided if decided else None
    return {"judge_model": judge_model, "pairs": len(outcomes), "win": outcome["win"], "tie": outcome["tie"],
            "loss": outcome["loss"], "inconsistent": inconsistent, "unparsed": outcome["unparsed"],
            "unparsed_orders": unparsed_orders,
            "win_rate": round(rate, 4) if rate is not None else None,
            "win_rate_ci95": wilson(outcome["win"] + 0.5 * outcome["tie"], decided) if decided else None}
