"""Talking to an OpenAI-compatible server (LLaMA-Factory's API, vLLM, a hosted judge).

Retries are the ``openai`` client's own (429, 408, 409, 5xx, timeouts and connection errors, with exponential
backoff, honouring ``Retry-After``). What prefkit adds: ``timeout`` bounds a whole attempt, body included (a
server that trickles a byte at a time is cut off), a ``Retry-After`` longer than that is not waited for, every
attempt and failure is counted, a reply whose text is not a string is a failed request, and failures carry
stable reason names (FAILURE_REASONS). Keys come from the environment and are never printed; a URL is only ever
shown as prefkit.io.urls.display_url shows it (no credentials).
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ..errors import UsageError
from ..io.urls import display_url

T = TypeVar("T")
R = TypeVar("R")
RETRIES = 4  # after the first try
BACKOFF = 1.0  # scales the client's backoff between retries (tests shorten it); a Retry-After is kept as sent
# Why a request failed for good: http_<status>, or one of these.
FAILURE_REASONS = ("timeout", "connection", "bad_json", "bad_content", "empty_response")


@dataclass
class Usage:
    """What a run asked of a server: requests (each attempt), retries, failures by reason, tokens."""

    requests_sent: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failures: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, response: Any) -> None:
        usage = getattr(response, "usage", None)
        with self._lock:
            self.prompt_tokens += _count(getattr(usage, "prompt_tokens", 0))
            self.completion_tokens += _count(getattr(usage, "completion_tokens", 0))

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


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


class RequestFailed(Exception):
    """A request that failed for good (after the retries), with a stable reason name."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def reason_of(error: BaseException) -> str:
    """The stable reason name of a failed request (never a Python class name)."""
    return error.reason if isinstance(error, RequestFailed) else "bad_json" if isinstance(error, ValueError) \
        else "connection"


def check_url(url: str) -> None:
    """A server URL the client can send to (http or https, a host, a numeric port): else a UsageError that shows the
    URL without its credentials (the HTTP library's own error would print it whole)."""
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        ok = False
    if not ok:
        raise UsageError(f"{display_url(url) or repr(url)}: not an http(s) URL of an OpenAI-compatible server "
                         "(such as http://127.0.0.1:8000/v1)")


def _client_class() -> type:
    """The openai client with prefkit's counting, whole-attempt deadline and Retry-After limit."""
    import openai

    class Client(openai.OpenAI):
        usage: Usage
        attempt_timeout: float

        def _prepare_request(self, request: Any) -> None:  # called once per attempt
            self.usage.count("sent")

        def _sleep_for_retry(self, *, retries_taken: int, max_retries: int, options: Any, response: Any) -> None:
            self.usage.count("retry")
            super()._sleep_for_retry(retries_taken=retries_taken, max_retries=max_retries, options=options,
                                     response=response)

        def _calculate_retry_timeout(self, remaining_retries: int, options: Any, response_headers: Any = None) -> float:
            wait = super()._calculate_retry_timeout(remaining_retries, options, response_headers)
            told = self._parse_retry_after_header(response_headers)
            return wait if told is not None and told > 0 else wait * BACKOFF

        def _should_retry(self, response: Any) -> bool:
            told = self._parse_retry_after_header(response.headers)
            if told is not None and told > self.attempt_timeout:  # not within the time limit: fail now
                return False
            return super()._should_retry(response)

        def _send_request(self, request: Any, *, stream: bool, **kwargs: Any) -> Any:
            deadline = time.monotonic() + self.attempt_timeout
            response = self._client.send(request, stream=True, **kwargs)
            response.stream = _with_deadline(response, deadline, request)
            if not stream:
                try:
                    response.read()
                finally:
                    response.close()
            return response

    return Client


def _with_deadline(response: Any, deadline: float, request: Any) -> Any:
    """``response``'s body stream, raising the HTTP library's ReadTimeout once ``deadline`` has passed (httpx or
    httpx2, whichever the openai client uses)."""
    http = sys.modules[type(response).__module__.split(".")[0]]
    inner = response.stream

    class Deadline(http.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            for chunk in inner:
                if time.monotonic() > deadline:
                    raise http.ReadTimeout("the whole response took longer than the timeout", request=request)
                yield chunk

        def close(self) -> None:
            inner.close()

    return Deadline()


class Chat:
    """One server and model: ``texts(messages, n, **sampling)`` -> the answers, retried as described above."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout: float = 120.0,
                 retries: int = RETRIES) -> None:
        try:
            import openai  # noqa: F401
        except ImportError:
            raise UsageError("talking to a model server needs the openai package: pip install 'prefkit[train]'") from None
        if retries < 0:
            raise UsageError(f"--retries {retries}: 0 or more")
        check_url(base_url)
        self.model, self.base_url = model, display_url(base_url)  # what is shown; the client has the URL
        self.usage = Usage()
        client = _client_class()(base_url=base_url, api_key=api_key or "0", max_retries=retries, timeout=timeout)
        client.usage, client.attempt_timeout = self.usage, timeout
        self.client = client

    def complete(self, messages: list[dict[str, Any]], **sampling: Any) -> Any:
        return self.call(lambda: self.client.chat.completions.create(model=self.model, messages=messages, **sampling))

    def texts(self, messages: list[dict[str, Any]], **sampling: Any) -> list[str]:
        """The text of every choice of one chat request; a reply that is not a list of text choices fails it."""
        response = self.complete(messages, **sampling)
        choices = getattr(response, "choices", None)
        if not isinstance(choices, list):
            self.usage.count("failed", "bad_json")
            raise RequestFailed("bad_json", "the reply is not a chat completion")
        texts = [getattr(getattr(c, "message", None), "content", None) for c in choices]
        if not all(isinstance(t, str) for t in texts):
            self.usage.count("failed", "bad_content")
            raise RequestFailed("bad_content", "an answer's content is not text")
        return texts

    def call(self, request: Callable[[], T]) -> T:
        """``request()`` with the client's retries; its failure becomes a RequestFailed with a stable reason."""
        import openai

        try:
            response = request()
        except openai.APIStatusError as err:
            reason = f"http_{err.status_code}"
        except openai.APITimeoutError:
            reason = "timeout"
        except openai.APIConnectionError:
            reason = "connection"
        except (openai.APIResponseValidationError, ValueError):  # a body that is not the JSON asked for
            reason = "bad_json"
        else:
            self.usage.add(response)
            if isinstance(response, str):  # the client hands back a body it could not read as JSON
                self.usage.count("failed", "bad_json")
                raise RequestFailed("bad_json", "the reply is not JSON")
            return response
        self.usage.count("failed", reason)
        raise RequestFailed(reason, f"{reason} (after {self.client.max_retries} retries at most)")


def in_parallel(work: Callable[[T], R], items: Iterable[T], concurrency: int) -> Iterator[tuple[T, R | Exception]]:
    """``work(item)`` for every item with at most ``concurrency`` in flight, yielded as each finishes (so a
    caller can write results as they come); an exception is yielded in place of its result.

    The threads are daemons: when the caller stops (Ctrl-C, an error), a request still hanging on a server does
    not hold prefkit open; no new item is started.

    >>> sorted(r for _, r in in_parallel(lambda x: 2 * x, range(5), 2))
    [0, 2, 4, 6, 8]
    """
    if concurrency < 1:
        raise UsageError(f"--concurrency {concurrency}: at least 1")
    it, lock, stop = iter(items), threading.Lock(), threading.Event()
    results: queue.Queue = queue.Queue()
    done = object()

    def worker() -> None:
        while not stop.is_set():
            with lock:
                item = next(it, done)
            if item is done:
                break
            try:
                results.put((item, work(item)))  # type: ignore[arg-type]
            except Exception as error:  # the caller counts it
                results.put((item, error))
        results.put(done)

    threads = [threading.Thread(target=worker, daemon=True, name=f"prefkit-request-{k}") for k in range(concurrency)]
    for thread in threads:
        thread.start()
    finished = 0
    try:
        while finished < len(threads):
            try:
                got = results.get(timeout=0.5)  # a timeout keeps the main thread responsive to signals
            except queue.Empty:
                continue
            if got is done:
                finished += 1
            else:
                yield got
    finally:
        stop.set()
