"""``prefkit label serve`` for real: a Label Studio on 127.0.0.1 that prefkit can log in to with the generated token,
credentials readable only by the user, sign-up closed, and nothing left running after Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time

import httpx
import pytest

from helpers.labelers import LS_EXECUTABLE, ROOT

pytestmark = pytest.mark.label_studio


def test_serve_starts_logs_in_and_stops_on_ctrl_c(tmp_path):
    if os.environ.get("PREFKIT_SKIP_LABEL_STUDIO") == "1":
        pytest.skip("PREFKIT_SKIP_LABEL_STUDIO=1")
    assert LS_EXECUTABLE.exists(), "no .venv-label-studio: run scripts/setup.sh"
    data = tmp_path / "ls"
    proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "prefkit"), "label", "serve", "--data-dir", str(data),
                             "--label-studio", str(LS_EXECUTABLE)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        url = proc.stdout.readline().strip()  # printed once the server answers with our token
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.poll() is not None else url
        creds_file = data / "credentials.json"
        assert stat.S_IMODE(creds_file.stat().st_mode) == 0o600
        creds = json.loads(creds_file.read_text())
        headers = {"Authorization": f"Token {creds['token']}", "Connection": "close"}
        assert httpx.get(f"{url}/api/current-user/whoami", headers=headers).json()["email"] == creds["username"]
        assert httpx.get(f"{url}/api/current-user/whoami", headers={"Connection": "close"}).status_code in (401, 403)
        assert str(data) in _commands()  # label-studio runs (in a process group of its own)
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C at the terminal reaches the whole foreground group
        proc.wait(timeout=30)
    err = proc.stderr.read()
    assert "stopped Label Studio" in err and creds["password"] not in err and creds["token"] not in err
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and str(data) in _commands():
        time.sleep(0.2)
    assert str(data) not in _commands(), "a Label Studio process outlived prefkit label serve"


def _commands() -> str:
    return subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True).stdout
