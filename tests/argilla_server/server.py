"""Start a real argilla-server (2.8) locally for integration tests: SQLite + redis, no Elasticsearch.

Standard library only: this runs in the project's venv, while the server runs under another
interpreter that has argilla-server installed (`server_python`). The search engine is the SQL-backed
"prefkit-sql" one (prefkit_sql_engine.py), registered by launch.py in the server and worker processes.

    with ArgillaServer(tmp_path / "argilla") as server:
        client = argilla.Argilla(api_url=server.api_url, api_key=server.api_key)

CLI (processes are detached and outlive the command):

    python tests/argilla_server/server.py start --home DIR [--server-python PY]   # writes DIR/server.json
    python tests/argilla_server/server.py stop --home DIR
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import closing
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LAUNCH = HERE / "launch.py"
REPO = HERE.parent.parent
ENGINE_NAME = "prefkit-sql"
OWNER_USERNAME = "owner"
USER_PASSWORD = "prefkit-password"  # every user created here gets it (min. 8 characters)
_DAEMONS = ("redis", "server", "worker")


def default_server_python() -> Path:
    """$PREFKIT_ARGILLA_PYTHON, else <repo>/.venv-argilla/bin/python."""
    return Path(os.environ.get("PREFKIT_ARGILLA_PYTHON") or REPO / ".venv-argilla" / "bin" / "python")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _terminate(pids: list[int], grace: float = 5.0) -> None:
    """SIGTERM each process group, then SIGKILL the groups still alive after `grace` seconds."""

    def signal_all(sig: int) -> None:
        for pid in pids:
            try:
                os.killpg(pid, sig)  # started with start_new_session: pid == pgid; includes rq's forked workers
            except (ProcessLookupError, PermissionError):
                pass

    def alive(pid: int) -> bool:
        try:
            os.waitpid(pid, os.WNOHANG)  # reap our own children so they do not linger as zombies
        except ChildProcessError:
            pass
        try:
            os.killpg(pid, 0)
            return True
        except (ProcessLookupError, PermissionError):
            return False

    signal_all(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    signal_all(signal.SIGKILL)
    for pid in pids:
        alive(pid)


class ArgillaServer:
    """One argilla-server + rq worker + redis, all state under `home` (database, logs, server.json)."""

    def __init__(self, home: Path, server_python: str | Path | None = None) -> None:
        self.home = Path(home).resolve()
        self.server_python = str(server_python or default_server_python())
        self.api_url = ""
        self.api_key = secrets.token_urlsafe(24)  # the owner's
        self.env: dict[str, str] = {}
        self._procs: list[tuple[str, subprocess.Popen]] = []
        self._workspaces: dict[str, str] = {}
        atexit.register(self.stop)

    # --- lifecycle -----------------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> ArgillaServer:
        """Start redis, the server and a worker (``with ArgillaServer(...) as server`` calls this)."""
        if self.pids:
            raise RuntimeError(f"this ArgillaServer is already running at {self.api_url}")
        if not Path(self.server_python).exists():
            raise FileNotFoundError(f"no interpreter with argilla-server at {self.server_python} (set PREFKIT_ARGILLA_PYTHON)")
        redis = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.home.mkdir(parents=True, exist_ok=True)
        redis_port, api_port = _free_port(), _free_port()
        self.api_url = f"http://127.0.0.1:{api_port}"
        self.env = {
            **os.environ,
            "ARGILLA_HOME_PATH": str(self.home),
            "ARGILLA_DATABASE_URL": f"sqlite+aiosqlite:///{self.home / 'argilla.db'}?check_same_thread=False",
            "ARGILLA_DATABASE_SQLITE_TIMEOUT": "30",  # default 5 s is short when server and worker both write
            "ARGILLA_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "ARGILLA_SEARCH_ENGINE": ENGINE_NAME,
            "HF_HUB_DISABLE_TELEMETRY": "1",  # what settings.py reads (ARGILLA_ENABLE_TELEMETRY=0 is deprecated)
            "PYTHONUNBUFFERED": "1",
        }
        for name in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "ARGILLA_API_URL", "ARGILLA_API_KEY"):
            self.env.pop(name, None)
        try:
            self._spawn("redis", [redis, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            self._argilla("migrate", "database", "migrate", wait=timeout)
            with closing(sqlite3.connect(self.home / "argilla.db")) as db:  # WAL: readers do not block the writer
                db.execute("PRAGMA journal_mode=WAL")  # persistent in the database file
            # every argilla process spends ~4 s of CPU importing argilla_server: the owner is created while the
            # server boots, and the worker (only needed for background jobs) starts once the server answers
            owner = self._argilla(
                "create-owner", "database", "users", "create", "--first-name", "Owner", "--username", OWNER_USERNAME,
                "--role", "owner", "--password", USER_PASSWORD, "--api-key", self.api_key,
            )  # fmt: skip
            server = self._argilla("server", "start", "--host", "127.0.0.1", "--port", str(api_port))
            if owner.wait(timeout) != 0:
                raise RuntimeError(f"creating the owner user failed:\n{_tail(self.home / 'create-owner.log')}")
            self._wait_ready(server, timeout)
            self._argilla("worker", "worker", "--num-workers", "1")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every process started here (idempotent)."""
        procs, self._procs = self._procs, []
        # groups of finished one-shot commands are gone: do not signal their (reusable) pids
        _terminate([proc.pid for name, proc in procs if name in _DAEMONS or proc.poll() is None])
        for _, proc in procs:
            try:
                proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass

    @property
    def pids(self) -> list[int]:
        """Process ids (== process group ids) of the running redis, server and worker."""
        return [proc.pid for name, proc in self._procs if name in _DAEMONS and proc.poll() is None]

    def __enter__(self) -> ArgillaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- users and workspaces (through the REST API, as the owner) -------------------------------------

    def create_workspace(self, name: str) -> str:
        """Create workspace `name` (or find it); returns its id."""
        if name not in self._workspaces:
            existing = {ws["name"]: ws["id"] for ws in self.request("GET", "/api/v1/me/workspaces")["items"]}
            self._workspaces[name] = existing.get(name) or self.request("POST", "/api/v1/workspaces", {"name": name})["id"]
        return self._workspaces[name]

    def create_user(self, username: str, role: str = "annotator", workspace: str | None = None) -> str:
        """Create a user (password USER_PASSWORD), optionally adding it to `workspace` (created if needed).
        Returns the user's api key."""
        user = self.request(
            "POST", "/api/v1/users", {"username": username, "first_name": username, "role": role, "password": USER_PASSWORD}
        )
        if workspace is not None:
            workspace_id = self.create_workspace(workspace)
            self.request("POST", f"/api/v1/workspaces/{workspace_id}/users", {"user_id": user["id"]})
        return user["api_key"]

    def request(self, method: str, path: str, body: Any = None, api_key: str | None = None) -> Any:
        """A JSON request to the server (as the owner unless `api_key`); raises RuntimeError on HTTP errors."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"X-Argilla-Api-Key": api_key or self.api_key, "Content-Type": "application/json"}
        req = urllib.request.Request(self.api_url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"{method} {path} -> {error.code}: {error.read().decode(errors='replace')}") from None
        return json.loads(payload) if payload else None

    # --- internals -----------------------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        with open(self.home / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                argv, cwd=self.home, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: stop() also reaches rq's forked workers; survives the CLI
            )  # fmt: skip
        self._procs.append((name, proc))
        return proc

    def _argilla(self, name: str, *args: str, wait: float | None = None) -> subprocess.Popen:
        proc = self._spawn(name, [self.server_python, str(LAUNCH), *args])
        if wait is not None and proc.wait(wait) != 0:
            raise RuntimeError(f"`{' '.join(args)}` failed:\n{_tail(self.home / f'{name}.log')}")
        return proc

    def _wait_ready(self, server: subprocess.Popen, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"argilla server exited with {server.returncode}:\n{_tail(self.home / 'server.log')}")
            try:
                self.request("GET", "/api/v1/me")
                return
            except (OSError, RuntimeError):
                time.sleep(0.2)
        raise TimeoutError(f"argilla server not ready after {timeout:.0f} s:\n{_tail(self.home / 'server.log')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["start", "stop"])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument(
        "--server-python", default=None, help="default: $PREFKIT_ARGILLA_PYTHON or <repo>/.venv-argilla/bin/python"
    )
    args = parser.parse_args(argv)
    state_file = args.home / "server.json"

    if args.command == "start":
        server = ArgillaServer(args.home, args.server_python).start()
        atexit.unregister(server.stop)  # leave it running
        state = {"api_url": server.api_url, "api_key": server.api_key, "pids": server.pids}
        state_file.write_text(json.dumps(state, indent=2) + "\n")
        print(json.dumps(state))
        return 0

    if not state_file.exists():
        print(f"no {state_file}", file=sys.stderr)
        return 1
    _terminate(json.loads(state_file.read_text())["pids"])
    state_file.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
