"""``prefkit label serve``: a local Label Studio on 127.0.0.1, for a user who has no labeling server.

Label Studio pins pyarrow < 25, so it lives in an environment of its own (``pip install "prefkit[label-studio]"``
into a fresh venv, or ``pip install label-studio``); prefkit finds its ``label-studio`` executable through
``--label-studio``, ``$PREFKIT_LABEL_STUDIO``, ``PATH``, or ``.venv-label-studio/`` beside prefkit's checkout.

The server: bound to 127.0.0.1 on a port checked free first (Label Studio moves to another port without a word
when its port is busy, so the port is verified by logging in with the generated token), telemetry off, sign-up
closed, one user with a generated password and API token. Both are in ``<data-dir>/credentials.json`` (mode
0600), made on the first start and reused afterwards (Label Studio takes the token only when it creates its
database). The process runs in a group of its own that dies with prefkit (prefkit.io.processes): Ctrl-C,
SIGTERM, SIGHUP, or kill -9 of prefkit leave nothing running.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..io.processes import serve_child, spawn, stop_group, stop_on_signals, wait_answering
from ..io.urls import display_url

START_TIMEOUT = 120.0  # a fresh database takes ~19 s to migrate on a small machine
STOP_GRACE = 10.0
USERNAME = "prefkit@localhost.localdomain"  # Label Studio's user name is an e-mail address
CREDENTIALS = "credentials.json"
# Telemetry off and sign-up closed (ENVIRONMENT.md: Label Studio, verified on 1.23.2)
QUIET_ENV = {"LATEST_VERSION_CHECK": "false", "COLLECT_ANALYTICS": "false", "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": "",
             "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true"}


def default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "prefkit", "label-studio")


def find_label_studio(explicit: str | None = None) -> str:
    """The ``label-studio`` executable, or a UsageError saying how to install it."""
    for candidate in (explicit, os.environ.get("PREFKIT_LABEL_STUDIO")):
        if candidate:
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
            raise UsageError(f"--label-studio {candidate}: no such executable")
    found = shutil.which("label-studio")
    if found:
        return found
    beside = Path(__file__).resolve().parents[2] / ".venv-label-studio" / "bin" / "label-studio"
    if beside.is_file():
        return str(beside)
    raise UsageError('no label-studio found: python -m venv ~/.venvs/ls && ~/.venvs/ls/bin/pip install '
                     '"prefkit[label-studio]", then pass --label-studio ~/.venvs/ls/bin/label-studio '
                     "(or set PREFKIT_LABEL_STUDIO, or put it on PATH)")


@dataclass
class Studio:
    url: str
    username: str
    password: str
    token: str
    process: subprocess.Popen
    log_file: str
    credentials_file: str
    stopped: bool = False


def credentials(data_dir: str) -> tuple[dict[str, str], bool]:
    """(username, password, token) of ``data_dir``, made and written (0600) when the data dir is new; and
    whether they are new."""
    path = os.path.join(data_dir, CREDENTIALS)
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as f:
                found = json.load(f)
            return {k: str(found[k]) for k in ("username", "password", "token")}, False
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise UsageError(f"{path}: not prefkit's Label Studio credentials ({type(error).__name__}); "
                             "remove the data dir to start afresh") from None
    if os.path.exists(os.path.join(data_dir, "label_studio.sqlite3")):
        raise UsageError(f"{data_dir}: holds a Label Studio database but no {CREDENTIALS}; pass another --data-dir")
    os.makedirs(data_dir, mode=0o700, exist_ok=True)
    made = {"username": USERNAME, "password": secrets.token_urlsafe(18), "token": secrets.token_hex(20)}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(made, f, indent=2)
    return made, True


def launch(data_dir: str | None = None, port: int | None = None, executable: str | None = None) -> Studio:
    """Start Label Studio (not yet ready: :func:`wait_ready`)."""
    from ..serving.serve import free_port

    executable = find_label_studio(executable)
    data_dir = os.path.abspath(data_dir or default_data_dir())
    creds, _ = credentials(data_dir)
    port = port or free_port()
    command = [executable, "start", "--internal-host", "127.0.0.1", "--port", str(port), "--no-browser",
               "--data-dir", data_dir, "--username", creds["username"], "--password", creds["password"],
               "--user-token", creds["token"], "--enable-legacy-api-token"]
    env = {**os.environ, **QUIET_ENV}
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "LABEL_STUDIO_API_KEY", "LABEL_STUDIO_URL"):
        env.pop(name, None)
    log_file = os.path.join(data_dir, "label-studio.log")
    with open(log_file, "ab") as log:
        process = spawn(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                        cwd=data_dir)
    return Studio(f"http://127.0.0.1:{port}", creds["username"], creds["password"], creds["token"], process,
                  log_file, os.path.join(data_dir, CREDENTIALS))


def _answers(studio: Studio) -> bool:
    """Whether the server on studio.url is this one: /health answers and our token logs in (a busy port would
    have sent Label Studio elsewhere, and whoever is on the port does not know the token)."""
    import httpx

    try:
        with httpx.Client(base_url=studio.url, timeout=5, headers={"Connection": "close"}) as client:
            if client.get("/health").status_code != 200:
                return False
            me = client.get("/api/current-user/whoami", headers={"Authorization": f"Token {studio.token}"})
            return me.status_code == 200
    except httpx.HTTPError:
        return False


def wait_ready(studio: Studio, timeout: float = START_TIMEOUT) -> None:
    wait_answering(studio.process, lambda: _answers(studio), "label-studio", display_url(studio.url), studio.log_file,
                   timeout, "a busy port makes it move elsewhere")


def stop(studio: Studio, grace: float = STOP_GRACE) -> None:
    """Stop Label Studio's whole process group (SIGTERM, then SIGKILL after ``grace`` s). Safe to call again."""
    if not studio.stopped:
        try:
            stop_group(studio.process, signal.SIGTERM, grace)
        finally:
            studio.stopped = True


@contextmanager
def running(data_dir: str | None = None, port: int | None = None, executable: str | None = None,
            timeout: float = START_TIMEOUT) -> Iterator[Studio]:
    """A ready Label Studio for the block, stopped after it (also on Ctrl-C, SIGTERM, SIGHUP)."""
    with stop_on_signals():
        studio = launch(data_dir, port, executable)
        try:
            wait_ready(studio, timeout)
            yield studio
        finally:
            stop(studio)


def serve_until_stopped(data_dir: str | None = None, port: int | None = None, executable: str | None = None,
                        say: Callable[[str], None] = print,
                        ready: Callable[[Studio], None] | None = None) -> None:
    """``prefkit label serve``: start, say how to log in, serve until Ctrl-C (a clean end) or SIGTERM / SIGHUP."""
    def serving(studio: Studio) -> list[str]:
        url = display_url(studio.url)
        return [f"Label Studio: {url}  (log in as {studio.username}; password and API token in "
                f"{studio.credentials_file}, readable only by you)",
                f"for prefkit label: export LABEL_STUDIO_URL={url} LABEL_STUDIO_API_KEY=$(python3 -c 'import json; "
                f"print(json.load(open(\"{studio.credentials_file}\"))[\"token\"])'); Ctrl-C stops it"]

    serve_child(lambda: launch(data_dir, port, executable), wait_ready, stop, program="Label Studio",
                who="prefkit label serve", what="Label Studio", loading="while starting", serving=serving, say=say,
                ready=ready)
