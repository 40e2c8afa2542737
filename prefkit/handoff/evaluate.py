"""``prefkit eval``: the trained model against its base model on held-out prompts, through
LLaMA-Factory's OpenAI-compatible API, optionally judged pairwise by any OpenAI-compatible endpoint.

The judge sees every pair twice, in both orders, with the prompt, parser and consistency rule of
``prefkit judge`` (prefkit.judgement): a verdict counts only when both orders agree; a disagreement is
``inconsistent`` and counts as a tie; a reply without a verdict is counted as unparsed, never guessed.
Keys come from the environment (the judge's:
PREFKIT_JUDGE_API_KEY, else OPENAI_API_KEY; the served models': API_KEY) and are never printed.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from .. import io, registry
from ..checks.acceptance import Attr, LoaderFailure, align
from ..errors import UsageError
from ..judgement import SWAPPED, PairVerdict, Template, compare
from ..llm import Chat
from ..sources import iter_rows
from .serve import serving

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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def load_prompts(dataset: str, dataset_dir: str, limit: int | None) -> list[tuple[int, list[dict[str, str]]]]:
    """(record index, OpenAI-style messages) of the dataset's prompts, as LLaMA-Factory reads them."""
    info = registry.load(dataset_dir)
    if dataset not in info:
        raise UsageError(f"no dataset {dataset!r} in {dataset_dir}/dataset_info.json")
    entry = info[dataset]
    attr = Attr.from_entry(entry)
    prompts = []
    for row in iter_rows(os.path.join(dataset_dir, entry["file_name"])):
        if limit is not None and len(prompts) >= limit:
            break
        try:
            aligned = align(row.data, attr) if isinstance(row.data, dict) else None
        except LoaderFailure:
            aligned = None
        if aligned is None or aligned.drop:
            continue
        messages = [{"role": "system", "content": aligned.system}] if aligned.system else []
        messages += [{"role": "user" if m["role"] in ("user", "observation") else "assistant", "content": m["content"]}
                     for m in aligned.prompt]
        prompts.append((row.index, messages))
    if not prompts:
        raise UsageError(f"{dataset}: no usable prompts")
    return prompts


def _answer(client: Any, model: str, messages: list[dict[str, str]], max_tokens: int) -> tuple[str | None, str]:
    try:
        response = client.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens, temperature=0)
    except Exception as err:  # the API's errors vary by server; each is counted by its class
        return None, type(err).__name__
    text = response.choices[0].message.content if response.choices else None
    return (text, "") if text is not None else (None, "empty_response")


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
             judge_max_tokens: int = 512) -> EvalReport:
    from openai import OpenAI

    prompts = load_prompts(dataset, dataset_dir, limit)
    report = EvalReport(prompts=len(prompts))
    answers: dict[str, list[str | None]] = {}
    for side, config in (("model", model_config), ("baseline", baseline_config)):
        with serving(config, env=env, trust_remote_code=trust_remote_code) as server:
            # the server's API_KEY (from the environment), which LLaMA-Factory then requires; any text otherwise
            client = OpenAI(base_url=server.base_url, api_key=server.api_key or "0", max_retries=0, timeout=600)
            results = [_answer(client, server.model, messages, max_tokens) for _, messages in prompts]
        answers[side] = [text for text, _ in results]
        report.answered[side] = sum(text is not None for text, _ in results)
        report.failed[side] = dict(Counter(reason for text, reason in results if text is None))
    both = [i for i in range(len(prompts)) if answers["model"][i] is not None and answers["baseline"][i] is not None]
    report.compared = len(both)
    if both:
        report.mean_length_difference = round(
            sum(len(answers["model"][i]) - len(answers["baseline"][i]) for i in both) / len(both), 2)
    verdicts: dict[int, list[str | None]] = {}
    outcomes: dict[int, PairVerdict] = {}
    if judge_url:
        if not judge_model:
            raise UsageError("--judge-url needs --judge-model")
        key = os.environ.get("PREFKIT_JUDGE_API_KEY") or os.environ.get("OPENAI_API_KEY")
        judge, template = Chat(judge_url, judge_model, key, timeout=600), Template.load("pairwise")
        outcomes = {i: compare(judge, template, prompts[i][1], answers["model"][i], answers["baseline"][i],
                               judge_max_tokens) for i in both}  # x = the model, y = the baseline
        for i, outcome in outcomes.items():  # each order's verdict, as "a" = the model
            verdicts[i] = [outcome.orders[0], SWAPPED.get(outcome.orders[1]) if outcome.orders[1] else None]
        report.judge = _tally(outcomes, judge_model)
    os.makedirs(output_dir, exist_ok=True)
    report.answers_file = os.path.join(output_dir, "eval_answers.jsonl")
    with io.RowFile(report.answers_file, lines=True) as out:
        for n, (index, messages) in enumerate(prompts):
            out.write({"index": index, "prompt": messages, "model": answers["model"][n],
                       "baseline": answers["baseline"][n], "verdicts": verdicts.get(n)})
    report.html_file = os.path.join(output_dir, "eval_answers.html")
    _write_html(report.html_file, prompts, answers, outcomes, report)
    return report


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


def _write_html(path: str, prompts: list[tuple[int, list[dict[str, str]]]], answers: dict[str, list[str | None]],
                outcomes: dict[int, PairVerdict], report: EvalReport) -> None:
    """The answers side by side with the judge's verdicts (prefkit/handoff/eval_html.py)."""
    from . import eval_html

    eval_html.write(path, prompts, answers, outcomes, report)
