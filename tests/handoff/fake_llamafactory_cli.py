"""A stand-in for ``llamafactory-cli api CONFIG [key=value ...]`` that starts in well under a second.

Like LLaMA-Factory's API it reads API_HOST, API_PORT, API_MODEL_NAME and API_KEY (then every request needs
``Authorization: Bearer <API_KEY>``, else 401), answers GET /v1/models and POST /v1/chat/completions, and
only listens once its "model" has loaded. Unlike it, it also starts a grandchild process (so that a test can
see whether the whole process group is stopped) and records what it did in $FAKE_STATE:
``leader.pid``, ``grandchild.pid``, ``args.json``.

Knobs: FAKE_LOAD_SECONDS (time before listening), FAKE_REQUIRED_KEY (a key other than API_KEY),
FAKE_STUBBORN=1 (the grandchild ignores SIGTERM: only SIGKILL stops it).
"""

import json
import os
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GRANDCHILD = """
import signal, sys, time
if sys.argv[1] == "1":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
while True:
    time.sleep(60)
"""


def main() -> None:
    state = os.environ["FAKE_STATE"]
    os.makedirs(state, exist_ok=True)
    grandchild = subprocess.Popen([sys.executable, "-c", GRANDCHILD, os.environ.get("FAKE_STUBBORN", "0")])
    for name, value in (("args.json", json.dumps(sys.argv[1:])), ("grandchild.pid", str(grandchild.pid)),
                        ("leader.pid", str(os.getpid()))):
        with open(os.path.join(state, name + ".tmp"), "w") as f:
            f.write(value)
        os.replace(os.path.join(state, name + ".tmp"), os.path.join(state, name))
    time.sleep(float(os.environ.get("FAKE_LOAD_SECONDS", "0")))
    model = os.environ.get("API_MODEL_NAME", "gpt-3.5-turbo")
    key = os.environ.get("FAKE_REQUIRED_KEY") or os.environ.get("API_KEY")

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            if key and self.headers.get("Authorization") != f"Bearer {key}":
                self._send(401, {"detail": "Invalid API key."})
                return False
            return True

        def do_GET(self) -> None:  # noqa: N802
            if self._authorized():
                self._send(200, {"object": "list", "data": [{"id": model, "object": "model", "created": 0,
                                                              "owned_by": "owner"}]})

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self._authorized():
                self._send(200, {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": model,
                                 "choices": [{"index": 0, "message": {"role": "assistant", "content": "fake answer"},
                                              "finish_reason": "stop"}],
                                 "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}})

        def log_message(self, *args: object) -> None:
            pass

    ThreadingHTTPServer((os.environ["API_HOST"], int(os.environ["API_PORT"])), Handler).serve_forever()


if __name__ == "__main__":
    main()
