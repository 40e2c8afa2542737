"""The one stand-in OpenAI-compatible server of the tests (generate, judge, eval, the stand-in llamafactory-cli):
it speaks the protocol (``/v1/models``, ``/v1/chat/completions`` with ``n`` and ``usage``) and answers with a
Python function, so a test decides what the "model" says, and it can misbehave on purpose, request by request.

A chat request is answered normally unless the script picks a fault for it, in this order: ``fail_first``
(HTTP statuses, consumed one per request), then ``faults`` (consumed one per request; ``None`` means answer
normally, an int means that status), then ``fault(n)`` (n: the request's 0-based index in ``script.requests``).
After ``die_after`` normal answers the server dies: it stops listening and drops whatever else comes.

    Script(reply, faults=[status(429, retry_after=1), HANG, None, trickle(0.5), TRUNCATED, NOT_JSON, HTML,
                          content(7), content({"a": 1}), content(None), DIE])

``script.requests[i]`` is the i-th chat request's JSON and ``script.modes[i]`` how it was answered: "ok",
"status 429", "hang", "trickle", "truncated", "text", "html", "content", "die", "dead" (came after the death),
"unauthorized" (no valid API key)."""

from __future__ import annotations

import json
import re
import socket
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[dict[str, Any], int], str]  # (request, choice index) -> the text


@dataclass(frozen=True)
class Fault:
    mode: str  # status, hang, trickle, truncated, text, html, content, die
    status: int = 200
    retry_after: float | None = None  # status: sent as the Retry-After header
    interval: float = 0.5  # trickle: seconds between the body's bytes
    value: Any = None  # content: what message.content is
    keep: float = 0.5  # truncated: the share of the body sent


def status(code: int, retry_after: float | None = None) -> Fault:
    """HTTP ``code`` with an OpenAI-style error JSON body (and ``Retry-After`` when given)."""
    return Fault("status", code, retry_after=retry_after)


def trickle(interval: float = 0.5) -> Fault:
    """A normal 200 answer whose headers come at once and whose body comes one byte every ``interval`` seconds."""
    return Fault("trickle", interval=interval)


def content(value: Any) -> Fault:
    """A normal 200 answer whose ``message.content`` is ``value`` (an int, a dict, None...) instead of text."""
    return Fault("content", value=value)


HANG = Fault("hang")  # read the request, never answer (until the server stops)
TRUNCATED = Fault("truncated")  # 200, Content-Length of the whole body, half of it sent, then the connection closed
NOT_JSON = Fault("text")  # 200 with a plain-text body
HTML = Fault("html")  # 200 with an HTML page (a proxy's error page, say)
DIE = Fault("die")  # the server stops listening; this request and every later one is dropped unanswered
Chosen = Fault | int | None


@dataclass
class Script:
    reply: Reply
    fail_first: list[int] = field(default_factory=list)  # HTTP statuses for the first requests
    requests: list[dict[str, Any]] = field(default_factory=list)
    api_key: str | None = None  # when set, requests without "Bearer <key>" get 401
    lock: threading.Lock = field(default_factory=threading.Lock)
    faults: list[Chosen] = field(default_factory=list)  # one per request, after fail_first
    fault: Callable[[int], Chosen] | None = None  # request index -> fault, after faults
    die_after: int | None = None  # die once this many requests were answered normally
    modes: list[str] = field(default_factory=list)  # how each request in `requests` was answered
    model: str = "scripted"  # the id /v1/models lists

    def _choose(self, request: dict[str, Any], dead: bool, authorized: bool) -> Fault | None:
        """Record the request and pick its fault (under the lock: concurrent requests take turns)."""
        with self.lock:
            chosen: Chosen = None
            if dead:
                chosen = Fault("dead")
            elif not authorized:
                chosen = Fault("unauthorized", 401)
            elif self.die_after is not None and self.modes.count("ok") >= self.die_after:
                chosen = DIE
            elif self.fail_first:
                chosen = self.fail_first.pop(0)
            elif self.faults:
                chosen = self.faults.pop(0)
            elif self.fault is not None:
                chosen = self.fault(len(self.requests))
            if isinstance(chosen, int):
                chosen = status(chosen)
            self.requests.append(request)
            self.modes.append("ok" if chosen is None else
                              f"status {chosen.status}" if chosen.mode == "status" else chosen.mode)
            return chosen


def completion(request: dict[str, Any], texts: list[Any]) -> dict[str, Any]:
    """A chat.completion answering ``request`` with one choice per text, and its usage (about 4 chars a token)."""
    prompt = sum(len(m.get("content") or "") for m in request.get("messages", []) if isinstance(m, dict)) // 4
    done = sum(len(t) // 4 for t in texts if isinstance(t, str))
    return {"id": "chatcmpl-scripted", "object": "chat.completion", "created": int(time.time()),
            "model": request.get("model", ""),
            "choices": [{"index": i, "finish_reason": "stop", "message": {"role": "assistant", "content": t}}
                        for i, t in enumerate(texts)],
            "usage": {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}}


class Server(ThreadingHTTPServer):
    """Serves a script; ``stop()`` (or the end of ``scripted_server``) frees every waiting handler at once."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, script: Script, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__((host, port), Handler)
        self.script, self.stopping, self.dead = script, threading.Event(), False

    @property
    def base_url(self) -> str:
        return f"http://{self.server_address[0]}:{self.server_address[1]}/v1"

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that gave up is no error
            super().handle_error(request, client_address)

    def die(self) -> None:
        """Stop listening (later connections are refused) without waiting here for the serving loop."""
        self.dead = True
        threading.Thread(target=lambda: (self.shutdown(), self.socket.close()), daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, *args: Any) -> None:
        pass

    def _headers(self, code: int, length: int, kind: str = "application/json", extra: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(length))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()

    def _send(self, code: int, body: dict[str, Any] | str, kind: str = "application/json",
              extra: dict[str, str] | None = None) -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self._headers(code, len(data), kind, extra)
        self.wfile.write(data)

    def _drop(self) -> None:
        """Close the connection with a reset, answering nothing."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def _authorized(self) -> bool:
        key = self.server.script.api_key
        return not key or self.headers.get("Authorization") == f"Bearer {key}"

    def do_GET(self) -> None:  # noqa: N802
        if self.server.dead:
            self._drop()
        elif not self._authorized():
            self._send(401, {"error": {"message": "invalid key", "type": "invalid_request_error", "code": 401}})
        else:
            self._send(200, {"object": "list", "data": [{"id": self.server.script.model, "object": "model",
                                                          "created": 0, "owned_by": "owner"}]})

    def do_POST(self) -> None:  # noqa: N802
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        script, server = self.server.script, self.server
        fault = script._choose(request, server.dead, self._authorized())
        if fault is None or fault.mode in ("trickle", "truncated", "content"):
            texts = [script.reply(request, i) if fault is None or fault.mode != "content" else fault.value
                     for i in range(request.get("n") or 1)]
            data = json.dumps(completion(request, texts)).encode()
            if fault is None or fault.mode == "content":
                self._headers(200, len(data))
                self.wfile.write(data)
                if fault is None and script.die_after is not None and script.modes.count("ok") >= script.die_after:
                    server.die()
            elif fault.mode == "trickle":
                self._headers(200, len(data))
                for i in range(len(data)):
                    if server.stopping.wait(fault.interval if i else 0):
                        return
                    self.wfile.write(data[i:i + 1])
            else:  # truncated
                self._headers(200, len(data))
                self.wfile.write(data[: int(len(data) * fault.keep)])
                self.close_connection = True
        elif fault.mode in ("status", "unauthorized"):
            extra = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            message = "invalid key" if fault.mode == "unauthorized" else f"scripted {fault.status}"
            self._send(fault.status, {"error": {"message": message, "type": "scripted", "code": fault.status}},
                       extra=extra)
        elif fault.mode == "hang":
            server.stopping.wait()
            self._drop()
        elif fault.mode == "text":
            self._send(200, "upstream connect error or disconnect/reset before headers", "text/plain")
        elif fault.mode == "html":
            self._send(200, "<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")
        elif fault.mode == "die":
            server.die()
            self._drop()
        else:  # dead
            self._drop()


@contextmanager
def scripted_server(script: Script, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``script``; yields the base URL (…/v1). Leaving stops it at once, hanging requests included."""
    server = Server(script, host, port)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield server.base_url
    finally:
        server.stop()


def prompts_asked(script: Script, mode: str | None = None) -> Counter[str]:
    """How often each prompt (its last user message) was asked, counting only requests answered with ``mode``
    when given ("ok": those answered normally)."""
    with script.lock:
        pairs = list(zip(script.requests, script.modes, strict=True))
    return Counter(_last_user(r) for r, used in pairs if mode is None or used == mode)


def _last_user(request: dict[str, Any]) -> str | None:
    text = next((m.get("content") for m in reversed(request.get("messages", [])) if m.get("role") == "user"), None)
    return text if text is None or isinstance(text, str) else json.dumps(text)


def distinct_prompts(script: Script, mode: str | None = None) -> int:
    """How many distinct prompts were asked (see ``prompts_asked``)."""
    return len(prompts_asked(script, mode))


_ANSWER = re.compile(r"\[The Start of Assistant (A|B)'s Answer\]\n(.*?)\n\[The End of Assistant \1's Answer\]", re.S)


def answers_shown(request: dict[str, Any]) -> dict[str, str]:
    """The answers a pairwise judge request shows, by letter."""
    return dict(_ANSWER.findall(request["messages"][-1]["content"]))


def always_a(request: dict[str, Any], i: int) -> str:
    return "Assistant A is better. [[A]]"


def prefers_longer(request: dict[str, Any], i: int) -> str:
    shown = answers_shown(request)
    a, b = len(shown.get("A", "")), len(shown.get("B", ""))
    return "Verdict: " + ("[[A]]" if a > b else "[[B]]" if b > a else "[[C]]")
