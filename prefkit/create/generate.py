"""``prefkit generate``: several answers to each prompt from the policy, served by an OpenAI-compatible API.

Each finished prompt is appended to the output as one JSON line::

    {"id": "...", "prompt": [{"role": "user", "content": "..."}], "responses": ["...", "..."],
     "generator": {"model": "...", "temperature": 0.8, ...}, "source": {"file": "...", "index": 3}}

(with ``"images"``: absolute paths, for a registered image dataset, whose images are sent as ``image_url`` parts)
so an interrupted run loses at most the prompts in flight, and running the same command again asks only for
the prompts not yet in the file (a line cut short by the interruption is removed first). With ``model_config``
the model is served by ``llamafactory-cli api`` for the run and stopped after it.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from typing import Any


from ..errors import InputError, UsageError, requests_exit_code
from ..io.run import AppendFile, Run, appended_rows
from .client import RETRIES, Chat, RequestFailed, in_parallel, reason_of
from .prompts import Prompt, read_prompts


@dataclass
class GenerateReport:
    output: str
    model: str = ""
    prompts: int = 0  # distinct prompts in the input
    no_prompt: int = 0  # input rows with no prompt to answer
    bad_prompt: int = 0  # input rows whose prompt messages are malformed (a role or content that is not text)
    already_complete: int = 0  # in the output before this run
    generated: int = 0  # prompts answered by this run
    failed: dict[str, int] = field(default_factory=dict)  # prompts not answered, by reason
    responses: int = 0
    usage: dict[str, Any] = field(default_factory=dict)  # requests_sent, retries, tokens
    seconds: float = 0.0
    requests_per_s: float | None = None

    @property
    def exit_code(self) -> int:
        return requests_exit_code(self.generated, sum(self.failed.values()))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


GENERATE_KEYS = ("id", "prompt", "responses", "generator")  # the keys of every line generate writes


def completed(output: str, n: int) -> set[str]:
    """The prompt ids the output already holds with ``n`` answers. A file whose lines are not generate's (an
    unrelated JSONL, even one whose rows have an ``id``) is refused; a last line cut short is ignored (the run
    harness removes it before appending)."""
    done: set[str] = set()
    for number, row in appended_rows(output):
        if row is None:
            raise InputError(f"{output}: line {number} is not JSON; it is not a generate output (name a new file)")
        if not (isinstance(row, dict) and all(k in row for k in GENERATE_KEYS) and isinstance(row["id"], str)
                and isinstance(row["responses"], list)):
            missing = [k for k in GENERATE_KEYS if not isinstance(row, dict) or k not in row]
            raise InputError(f"{output}: line {number} is not a prefkit generate output (it lacks "
                             f"{', '.join(missing) or 'a list of responses'}); name a new file")
        if len(row["responses"]) >= n:
            done.add(row["id"])
    return done


def generate(prompts: str, output: str, *, base_url: str | None = None, model: str | None = None,
             model_config: str | None = None, dataset_dir: str | None = None, n: int = 4, temperature: float = 0.8,
             top_p: float = 0.95, max_tokens: int = 512, concurrency: int = 8, seed: int | None = None,
             timeout: float = 120.0, retries: int = RETRIES, trust_remote_code: bool = False,
             report_json: str | None = None, progress: Callable[[int, int], None] | None = None) -> GenerateReport:
    """Sample ``n`` answers to every prompt of ``prompts`` from ``model`` at ``base_url`` (or from the model
    of ``model_config``, served for the run), appending them to ``output`` (.jsonl). ``timeout`` bounds each
    attempt of a request, whole; ``retries`` are the client's. ``report.exit_code``: see prefkit.errors."""
    if (model_config is None) == (base_url is None) or (base_url is not None and not model):
        raise UsageError("give --model-config infer.yaml, or --base-url URL with --model NAME")
    if not output.endswith(".jsonl"):
        raise UsageError(f"{output}: generate appends one line per prompt; name a .jsonl file")
    if n < 1 or max_tokens < 1:
        raise UsageError("--n and --max-tokens must be at least 1")
    with Run([prompts] + ([model_config] if model_config else [])) as run:
        out = run.append("-o", output)
        report_file = run.json("--report-json", report_json)
        sampling: dict[str, Any] = {"temperature": temperature, "top_p": top_p, "max_tokens": max_tokens}
        if seed is not None:
            sampling["seed"] = seed
        report = _generate(prompts, out, base_url, model, model_config, dataset_dir, n, concurrency, timeout, retries,
                           trust_remote_code, progress, sampling)
        report_file.value = report.to_json()
        run.commit()
    return report


def _generate(prompts: str, out: AppendFile, base_url: str | None, model: str | None, model_config: str | None,
              dataset_dir: str | None, n: int, concurrency: int, timeout: float, retries: int,
              trust_remote_code: bool, progress: Callable[[int, int], None] | None,
              sampling: dict[str, Any]) -> GenerateReport:
    report = GenerateReport(output=out.path)
    done = completed(out.path, n)
    pending: list[Prompt] = []
    for item in read_prompts(prompts, dataset_dir):
        if isinstance(item, tuple):
            report.bad_prompt += item[1] == "bad_prompt"
            report.no_prompt += item[1] != "bad_prompt"
        elif item.key in done:
            report.already_complete += 1
        else:
            pending.append(item)
    report.prompts = report.already_complete + len(pending)
    if not report.prompts:
        raise InputError(f"{prompts}: no prompts to answer ({report.no_prompt} rows without one, {report.bad_prompt} "
                         "with malformed messages)")
    report.usage = {"requests_sent": 0}
    if not pending:  # everything is in the output already: no server, no request
        return report
    start = time.perf_counter()
    with ExitStack() as stack:
        if model_config is not None:
            from ..serving.serve import serving

            server = stack.enter_context(serving(model_config, trust_remote_code=trust_remote_code))
            base_url, model, key = server.base_url, server.model, server.api_key
        else:
            key = os.environ.get("API_KEY") or os.environ.get("OPENAI_API_KEY")
        report.model = model or ""
        chat = Chat(base_url or "", model or "", key, timeout=timeout, retries=retries)
        generator = {"model": model, "base_url": chat.base_url, "n": n, **sampling}
        failed: Counter = Counter()
        try:
            for prompt, result in in_parallel(lambda p: _answers(chat, p, n, sampling), pending, concurrency):
                if isinstance(result, Exception):
                    failed[reason_of(result)] += 1
                else:
                    out.write({"id": prompt.key, "prompt": prompt.messages, "responses": result,
                               "generator": generator, "source": {"file": prompt.source, "index": prompt.index}}
                              | ({"images": prompt.images} if prompt.images else {}))
                    report.generated += 1
                    report.responses += len(result)
                if progress:
                    progress(report.generated + sum(failed.values()), len(pending))
        finally:
            report.seconds = round(time.perf_counter() - start, 2)
            report.failed = dict(failed)
            report.usage = chat.usage.to_json()
    if report.seconds and chat.usage.requests_sent:
        report.requests_per_s = round(chat.usage.requests_sent / report.seconds, 2)
    return report


def _answers(chat: Chat, prompt: Prompt, n: int, sampling: dict[str, Any]) -> list[str]:
    """``n`` answers: one request asks for all of them; a server that returns fewer is asked again."""
    answers: list[str] = []
    for _ in range(3):
        answers += chat.texts(prompt.request or prompt.messages, n=n - len(answers), **sampling)
        if len(answers) >= n:
            return answers[:n]
    chat.usage.count("failed", "empty_response")
    raise RequestFailed("empty_response", f"the server gave {len(answers)} of {n} answers")
