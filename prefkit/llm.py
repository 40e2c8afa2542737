"""Talking to an OpenAI-compatible server (LLaMA-Factory's API, vLLM, a hosted judge): chat requests with a
per-request timeout, retries with exponential backoff on 429, 5xx and connection errors, several requests
in flight, and the token usage summed. Keys come from the environment and are never printed.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .errors import UsageError

T = TypeVar("T")
R = TypeVar("R")
RETRIES = 4  # after the first try
BACKOFF = 1.0  # seconds before the first retry, doubled each time (with jitter)


@dataclass
class Usage:
    """What a run asked of a server: requests, retries, failures by reason, tokens."""

    requests_sent: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failures: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, response: Any) -> None:
        usage = getattr(response, "usage", None)
        with self._lock:
            self.prompt_tokens += getattr(usage, "prompt_tokens", 0) or 0
            self.completion_tokens += getattr(usage, "completion_tokens", 0) or 0

    def count(self, what: str, reason: str = "") -> None:
        with self._lock:
            if what == "sent":
                self.requests_sent += 1
            elif what == "retry":
                self.retries += 1
            else:
                self.failures[reason] += 1

    def to_json(self) -> dict[str, Any]:
        return {"requests_sent": self.requests_sent, "retries": self.retries, "failed_requests": dict(self.failures),
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens}


class RequestFailed(Exception):
    """A request that failed for good (after the retries), with a short reason code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Chat:
    """One server and model: ``complete(messages, **sampling)`` -> the response, retried as described above."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout: float = 120.0,
                 retries: int = RETRIES, backoff: float | None = None) -> None:
        try:
            from openai import OpenAI
        except ImportError:
            raise UsageError("talking to a model server needs the openai package: pip install 'prefkit[train]'") from None
        self.model, self.retries = model, retries
        self.backoff = BACKOFF if backoff is None else backoff
        self.client = OpenAI(base_url=base_url, api_key=api_key or "0", max_retries=0, timeout=timeout)
        self.usage = Usage()

    def complete(self, messages: list[dict[str, Any]], **sampling: Any) -> Any:
        return self.call(lambda: self.client.chat.completions.create(model=self.model, messages=messages, **sampling))

    def call(self, request: Callable[[], T]) -> T:
        """``request()`` with the retry rule; the usage of a chat response is added."""
        import openai

        for attempt in range(self.retries + 1):
            self.usage.count("sent")
            try:
                response = request()
            except openai.APIStatusError as err:
                retry = err.status_code == 429 or err.status_code >= 500
                reason = f"http_{err.status_code}"
            except openai.APITimeoutError:
                retry, reason = True, "timeout"
            except openai.APIConnectionError:
                retry, reason = True, "connection_error"
            else:
                self.usage.add(response)
                return response
            if not retry or attempt == self.retries:
                self.usage.count("failed", reason)
                raise RequestFailed(reason, f"{reason} after {attempt + 1} attempt(s)")
            self.usage.count("retry")
            time.sleep(self.backoff * (2 ** attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")


def in_parallel(work: Callable[[T], R], items: Iterable[T], concurrency: int) -> Iterator[tuple[T, R | Exception]]:
    """``work(item)`` for every item with at most ``concurrency`` in flight, yielded as each finishes (so a
    caller can write results as they come); an exception is yielded in place of its result."""
    if concurrency < 1:
        raise UsageError(f"--concurrency {concurrency}: at least 1")
    it = iter(items)
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        running: dict[Future, T] = {}
        for item in it:
            running[pool.submit(work, item)] = item
            if len(running) >= concurrency:
                break
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                item = running.pop(future)
                error = future.exception()
                yield item, (error if isinstance(error, Exception) else future.result())
                following = next(it, None)
                if following is not None:
                    running[pool.submit(work, following)] = following
