"""Serve an inference YAML with ``llamafactory-cli api`` on 127.0.0.1, wait until it answers, stop it cleanly.

>>> # with serving("saves/.../infer.yaml") as server:
>>> #     OpenAI(base_url=server.base_url, api_key="0").chat.completions.create(model=server.model, ...)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..errors import PrefkitError, UsageError
from .runner import llamafactory_cli

START_TIMEOUT = 600.0  # a big model can take minutes to load


@dataclass
class Server:
    base_url: str
    model: str
    process: subprocess.Popen
    log_file: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def model_name(config_path: str) -> str:
    """The name the API reports: the adapter's (or model's) folder name."""
    import yaml

    with open(config_path, encoding="utf-8") as f:
        config = yaml.safe_load(f) or {}
    source = config.get("adapter_name_or_path") or config.get("model_name_or_path") or "model"
    return os.path.basename(str(source).rstrip("/")) or "model"


def _ready(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
            return response.status == 200 and bool(json.loads(response.read()).get("data"))
    except (urllib.error.URLError, OSError, ValueError):
        return False


def start(config_path: str, port: int | None = None, log_file: str | None = None,
          timeout: float = START_TIMEOUT, env: dict[str, str] | None = None) -> Server:
    if not os.path.isfile(config_path):
        raise UsageError(f"{config_path}: no such file")
    port = port or free_port()
    name = model_name(config_path)
    log_file = log_file or os.path.join(os.path.dirname(os.path.abspath(config_path)), f"api_{port}.log")
    base_url = f"http://127.0.0.1:{port}/v1"
    child_env = {**os.environ, **(env or {}), "API_HOST": "127.0.0.1", "API_PORT": str(port), "API_MODEL_NAME": name}
    with open(log_file, "w", encoding="utf-8") as log:
        process = subprocess.Popen([llamafactory_cli(), "api", config_path], stdout=log, stderr=subprocess.STDOUT,
                                   env=child_env, start_new_session=True)
    server = Server(base_url, name, process, log_file)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PrefkitError(f"llamafactory-cli api exited with {process.returncode} before answering; log: {log_file}")
        if _ready(base_url):
            return server
        time.sleep(0.5)
    stop(server)
    raise PrefkitError(f"llamafactory-cli api did not answer on {base_url} within {timeout:.0f} s; log: {log_file}")


def stop(server: Server, grace: float = 20.0) -> None:
    """SIGINT (uvicorn's clean shutdown), then SIGKILL after ``grace`` seconds."""
    if server.process.poll() is not None:
        return
    os.killpg(server.process.pid, signal.SIGINT)
    try:
        server.process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()


@contextmanager
def serving(config_path: str, port: int | None = None, env: dict[str, str] | None = None) -> Iterator[Server]:
    server = start(config_path, port, env=env)
    try:
        yield server
    finally:
        stop(server)
