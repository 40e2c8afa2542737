"""A small scripted OpenAI-compatible server on 127.0.0.1 for tests of generate, judge and eval: it speaks the
protocol (``/v1/models``, ``/v1/chat/completions`` with ``n`` and ``usage``) and answers with a Python function,
so a test decides what the "model" says. It can refuse the first requests with 429 or 500 to test retries."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[dict[str, Any], int], str]  # (request, choice index) -> the text


@dataclass
class Script:
    reply: Reply
    fail_first: list[int] = field(default_factory=list)  # HTTP statuses for the first requests
    requests: list[dict[str, Any]] = field(default_factory=list)
    api_key: str | None = None  # when set, requests without "Bearer <key>" get 401
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            if script.api_key and self.headers.get("Authorization") != f"Bearer {script.api_key}":
                self._send(401, {"error": {"message": "invalid key"}})
                return False
            return True

        def do_GET(self) -> None:  # noqa: N802
            if self._authorized():
                self._send(200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]})

        def do_POST(self) -> None:  # noqa: N802
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if not self._authorized():
                return
            with script.lock:
                script.requests.append(request)
                status = script.fail_first.pop(0) if script.fail_first else 200
            if status != 200:
                self._send(status, {"error": {"message": f"scripted {status}"}})
                return
            texts = [script.reply(request, i) for i in range(request.get("n") or 1)]
            words = sum(len(m.get("content") or "") for m in request["messages"]) // 4
            self._send(200, {"id": "x", "object": "chat.completion", "created": int(time.time()),
                             "model": request["model"],
                             "choices": [{"index": i, "finish_reason": "stop",
                                          "message": {"role": "assistant", "content": t}} for i, t in enumerate(texts)],
                             "usage": {"prompt_tokens": words, "completion_tokens": sum(len(t) // 4 for t in texts),
                                       "total_tokens": words + sum(len(t) // 4 for t in texts)}})

    return Handler


@contextmanager
def scripted_server(script: Script) -> Iterator[str]:
    """Serve ``script``; yields the base URL (…/v1)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


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
