"""Serve an inference YAML with ``llamafactory-cli api`` on 127.0.0.1, wait until it answers, stop it cleanly.

The server runs in a process group of its own that dies with prefkit (prefkit.io.processes), and every way out
stops the whole group: the end of ``serving``, an error, Ctrl-C (also while the model loads), SIGTERM or SIGHUP
to prefkit (:func:`stop_on_signals`), and kill -9 of prefkit (the watchdog). With ``API_KEY`` in the
environment LLaMA-Factory requires it as a Bearer token: the readiness probe and ``prefkit eval`` send it.

>>> # with serving("saves/.../infer.yaml") as server:
>>> #     OpenAI(base_url=server.base_url, api_key="0").chat.completions.create(model=server.model, ...)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..errors import PrefkitError, UsageError
from ..io.processes import serve_child, spawn, stop_group, stop_on_signals, wait_answering

# Data arguments that change the chat template LLaMA-Factory builds (get_template_and_fix_tokenizer): a model is
# served (and its reward model scores) with those it was trained with
TEMPLATE_ARGS = ("default_system", "tool_format", "enable_thinking", "preserve_thinking")


def llamafactory_cli() -> str:
    """The llamafactory-cli to run: $PREFKIT_LLAMAFACTORY_CLI (e.g. one in another venv), else the one beside the
    running python, else PATH's."""
    chosen = os.environ.get("PREFKIT_LLAMAFACTORY_CLI")
    if chosen:
        if not (os.path.isfile(chosen) and os.access(chosen, os.X_OK)):
            raise UsageError(f"PREFKIT_LLAMAFACTORY_CLI={chosen}: not an executable file")
        return chosen
    beside = os.path.join(os.path.dirname(sys.executable), "llamafactory-cli")
    found = beside if os.path.exists(beside) else shutil.which("llamafactory-cli")
    if not found:
        raise UsageError("llamafactory-cli not found: pip install 'prefkit[train]' (or llamafactory)")
    return found


START_TIMEOUT = 600.0  # a big model can take minutes to load
STOP_GRACE = 10.0  # seconds between SIGTERM and SIGKILL to the server's process group


@dataclass
class Server:
    base_url: str
    model: str
    process: subprocess.Popen  # the leader of the server's own process group (its pid is the group's id)
    log_file: str
    api_key: str | None = None  # the server's API_KEY: LLaMA-Factory then wants it as "Authorization: Bearer ..."
    stopped: bool = False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_config(config_path: str) -> dict:
    import yaml

    with open(config_path, encoding="utf-8") as f:
        config = yaml.safe_load(f) or {}
    if not isinstance(config, dict):
        raise UsageError(f"{config_path}: not an inference YAML (a mapping of LLaMA-Factory arguments)")
    return config


def model_name(config_path: str) -> str:
    """The name the API reports: the adapter's (or model's) folder name."""
    config = read_config(config_path)
    source = config.get("adapter_name_or_path") or config.get("model_name_or_path") or "model"
    return os.path.basename(str(source).rstrip("/")) or "model"


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 is never behind a proxy


def _probe(base_url: str, api_key: str | None) -> int | None:
    """200 when /models lists a model, the HTTP status of a refusal, None while nothing (useful) answers."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        with _NO_PROXY.open(urllib.request.Request(f"{base_url}/models", headers=headers), timeout=2) as response:
            return 200 if response.status == 200 and json.loads(response.read()).get("data") else None
    except urllib.error.HTTPError as err:
        return err.code
    except (urllib.error.URLError, OSError, ValueError):
        return None


def launch(config_path: str, port: int | None = None, log_file: str | None = None,
           env: dict[str, str] | None = None, trust_remote_code: bool = False) -> Server:
    """Start ``llamafactory-cli api`` in a process group of its own; :func:`wait_ready`, then :func:`stop` it.

    ``trust_remote_code`` is passed on the command line either way (it wins over the YAML), so the model
    folder's own Python code runs only when asked for here; a local folder that has such code is refused without it.
    """
    from ..targets.tokens import refuse_remote_code

    if not os.path.isfile(config_path):
        raise UsageError(f"{config_path}: no such file")
    config = read_config(config_path)
    if config.get("model_name_or_path"):
        refuse_remote_code(str(config["model_name_or_path"]), trust_remote_code, f"{config_path}: model")
    port = port or free_port()
    name = model_name(config_path)
    log_file = log_file or os.path.join(os.path.dirname(os.path.abspath(config_path)), f"api_{port}.log")
    base_url = f"http://127.0.0.1:{port}/v1"
    child_env = {**os.environ, **(env or {}), "API_HOST": "127.0.0.1", "API_PORT": str(port), "API_MODEL_NAME": name}
    command = [llamafactory_cli(), "api", config_path, f"trust_remote_code={str(trust_remote_code).lower()}"]
    with open(log_file, "w", encoding="utf-8") as log:
        process = spawn(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_env)
    return Server(base_url, name, process, log_file, api_key=child_env.get("API_KEY") or None)


def wait_ready(server: Server, timeout: float = START_TIMEOUT) -> None:
    """Until the server lists its model (it does once the model is loaded); raises if it exits, refuses or times out."""

    def answers() -> bool:
        status = _probe(server.base_url, server.api_key)
        if status in (401, 403) and not server.api_key:  # ours asks no key: another server holds the port
            raise PortTaken(f"{server.base_url}: another server answers there (HTTP {status}), not llamafactory-cli "
                            f"api; log: {server.log_file}")
        if status in (401, 403):
            sent = "the API_KEY of prefkit's environment"
            raise PrefkitError(f"llamafactory-cli api on {server.base_url} refuses prefkit (HTTP {status}) although "
                               f"it sent {sent}; log: {server.log_file}")
        return status == 200

    wait_answering(server.process, answers, "llamafactory-cli api", server.base_url, server.log_file, timeout)


class PortTaken(PrefkitError):
    """Another server took the port between :func:`free_port` and the API server's own bind."""


def start(config_path: str, port: int | None = None, log_file: str | None = None,
          timeout: float = START_TIMEOUT, env: dict[str, str] | None = None, trust_remote_code: bool = False) -> Server:
    """:func:`launch` and :func:`wait_ready`; the server is stopped if that fails or is interrupted. A port prefkit
    chose that another server took meanwhile is chosen again (3 tries)."""
    for attempt in range(3):
        server = launch(config_path, port, log_file, env, trust_remote_code)
        try:
            wait_ready(server, timeout)
            return server
        except PortTaken:
            stop(server)
            if port is not None or attempt == 2:
                raise
        except BaseException:
            stop(server)
            raise
    raise AssertionError("unreachable")


def stop(server: Server, grace: float = STOP_GRACE) -> None:
    """Stop the server's whole process group: SIGTERM (uvicorn's clean shutdown), then SIGKILL to what is left
    after ``grace`` seconds (at once on Ctrl-C while waiting). Safe to call again."""
    if server.stopped:
        return
    try:
        stop_group(server.process, signal.SIGTERM, grace)
    finally:
        server.stopped = True


@contextmanager
def serving(config_path: str, port: int | None = None, env: dict[str, str] | None = None,
            trust_remote_code: bool = False) -> Iterator[Server]:
    """A ready server for the block; stopped after it, also on Ctrl-C, SIGTERM or SIGHUP (see :func:`stop_on_signals`)."""
    with stop_on_signals():
        server = start(config_path, port, env=env, trust_remote_code=trust_remote_code)
        try:
            yield server
        finally:
            stop(server)


def serve_until_stopped(config_path: str, port: int | None = None, trust_remote_code: bool = False,
                        say: Callable[[str], None] = print, ready: Callable[[Server], None] | None = None) -> None:
    """``prefkit serve``: start the API server, wait until it answers, then serve until Ctrl-C (a clean end) or
    SIGTERM / SIGHUP (``Signalled``, after the server is stopped). A Ctrl-C while the model loads stops the server
    and raises KeyboardInterrupt; the server dying on its own is a PrefkitError naming its log. ``say`` gets the
    progress lines, ``ready`` the server once it answers."""
    if not trust_remote_code and os.path.isfile(config_path) and read_config(config_path).get("trust_remote_code") is True:
        say(f"note: {config_path} sets trust_remote_code: true; prefkit serve runs without it unless given "
            "--trust-remote-code")

    def serving(server: Server) -> list[str]:
        key = "; requires the API_KEY of the environment" if server.api_key else ""
        return [f"serving: base_url={server.base_url} model={server.model}{key}; Ctrl-C stops it"]

    serve_child(lambda: launch(config_path, port, trust_remote_code=trust_remote_code), wait_ready, stop,
                program=f"llamafactory-cli api {config_path}", who="prefkit serve", what="the API server",
                loading="while the model was loading", serving=serving, say=say, ready=ready)
