"""prefkit serve stops the API server's whole process group on every way out (Ctrl-C, SIGTERM, SIGHUP, while the
model loads or while serving), and sends API_KEY where LLaMA-Factory requires it (the readiness probe, prefkit eval).

A stand-in llamafactory-cli (fake_llamafactory_cli.py, chosen through PREFKIT_LLAMAFACTORY_CLI) keeps these fast:
it starts a grandchild, so a test sees whether the whole group went, and it checks API_KEY like LLaMA-Factory.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, fixture
from helpers.signals import as_in_a_terminal
from prefkit import convert
from prefkit.errors import PrefkitError
from prefkit.serving import serve

pytestmark = pytest.mark.slow  # each test starts stand-in servers and waits for them to stop (about 3 s)
FAKE = Path(__file__).with_name("fake_llamafactory_cli.py")
PREFKIT = [sys.executable, "-c", "from prefkit.cli import main; main()"]


@pytest.fixture
def fake(tmp_path, monkeypatch) -> dict:
    """An inference YAML, the stand-in llamafactory-cli and an environment that selects it."""
    cli = tmp_path / "llamafactory-cli"
    cli.write_text(f"#!/bin/sh\nexec {sys.executable} {FAKE} \"$@\"\n")
    cli.chmod(0o755)
    config = tmp_path / "infer.yaml"
    config.write_text(f"model_name_or_path: {tmp_path / 'base-model'}\ntemplate: qwen\n")
    env = {"PREFKIT_LLAMAFACTORY_CLI": str(cli), "FAKE_STATE": str(tmp_path / "state"), "PYTHONPATH": str(ROOT)}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("API_KEY", raising=False)
    return {"config": str(config), "env": {**os.environ, **env}, "state": tmp_path / "state"}


def _state_pid(state: Path, name: str, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (state / name).exists():
            return int((state / name).read_text())
        time.sleep(0.05)
    raise AssertionError(f"the stand-in server never wrote {name}")


def _alive(pid: int) -> bool:
    """Running (a zombie, or a pid that is gone, is not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z" and int(fields[2]) == pgid:  # fields: state, ppid, pgrp, ...
                members.append(int(entry))
    return members


def _assert_all_gone(state: Path, timeout: float = 5.0) -> None:
    leader, grandchild = _state_pid(state, "leader.pid"), _state_pid(state, "grandchild.pid")
    deadline = time.monotonic() + timeout
    while (_alive(leader) or _alive(grandchild) or _group_members(leader)) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = sorted(set([p for p in (leader, grandchild) if _alive(p)] + _group_members(leader)))
    for pid in survivors:  # do not leave them behind for the other tests
        os.kill(pid, signal.SIGKILL)
    assert not survivors, f"left running: {survivors}"


def _readline(proc: subprocess.Popen, timeout: float) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline() if ready else ""


def _serve(fake: dict, *args: str, env: dict | None = None, **popen) -> subprocess.Popen:
    popen.setdefault("preexec_fn", as_in_a_terminal)
    return subprocess.Popen([*PREFKIT, "serve", fake["config"], *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**fake["env"], **(env or {})}, **popen)


def _finish(proc: subprocess.Popen) -> str:
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
@pytest.mark.parametrize("when", ["loading", "serving"])
def test_every_way_out_stops_the_whole_server_group(fake, sig, when):
    proc = _serve(fake, env={"FAKE_LOAD_SECONDS": "60" if when == "loading" else "0"})
    try:
        if when == "serving":
            line = _readline(proc, 30)
            assert line.startswith("http://127.0.0.1:"), line
        leader = _state_pid(fake["state"], "leader.pid")
        _state_pid(fake["state"], "grandchild.pid")
        if when == "loading":
            time.sleep(0.3)
            assert proc.poll() is None
        proc.send_signal(sig)
        err = _finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    _assert_all_gone(fake["state"])
    said = [line for line in err.splitlines() if line.startswith("prefkit serve:")]
    assert len(said) == 1 and "Traceback" not in err and "no output was written" not in err, err
    assert said[0].endswith(f"stopped the API server (pid {leader})"), said
    stage = "while the model was loading" if when == "loading" else "while serving"
    if sig == signal.SIGINT:
        assert proc.returncode == (130 if when == "loading" else 0), err
        assert said[0] == (f"prefkit serve: interrupted {stage}; stopped the API server (pid {leader})"
                           if when == "loading" else f"prefkit serve: stopped the API server (pid {leader})")
    else:  # prefkit then ends by the signal, as it would have without catching it
        assert proc.returncode == -sig, err
        assert said[0] == f"prefkit serve: {sig.name} {stage}; stopped the API server (pid {leader})"


def test_an_ignored_sighup_stays_ignored(fake):
    """Under nohup SIGHUP is ignored: prefkit serve must not start reacting to it."""
    proc = _serve(fake, preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    try:
        assert _readline(proc, 30).startswith("http://")
        proc.send_signal(signal.SIGHUP)
        time.sleep(1)
        assert proc.poll() is None
        assert _alive(_state_pid(fake["state"], "leader.pid"))
        proc.send_signal(signal.SIGTERM)
        _finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGTERM
    _assert_all_gone(fake["state"])


def test_sigterm_while_serving_in_the_library_also_removes_prefkit_io_temp_files(fake, tmp_path):
    """serving() chains to prefkit.io.files's SIGTERM handler: the server's group is stopped, then the temporary
    file of an output being written is removed, then the process ends by SIGTERM."""
    script = (f"import time\nfrom prefkit.io import files as io\nfrom prefkit.serving.serve import serving\n"
              f"with serving({fake['config']!r}):\n"
              f"    out = io.AtomicFile({str(tmp_path / 'out.json')!r}).open()\n"
              f"    print('ready', flush=True)\n    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=fake["env"], preexec_fn=as_in_a_terminal)
    try:
        assert _readline(proc, 30) == "ready\n"
        assert [p.name for p in tmp_path.glob(".prefkit-out.json.*.tmp")]
        proc.send_signal(signal.SIGTERM)
        err = _finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGTERM, err
    assert not list(tmp_path.glob(".prefkit-*")) and not (tmp_path / "out.json").exists()
    _assert_all_gone(fake["state"])


def test_the_probe_sends_api_key(fake):
    """LLaMA-Factory answers 401 without the key: prefkit serve used to wait ten minutes for it."""
    proc = _serve(fake, env={"API_KEY": "sk-test-123"})
    try:
        line = _readline(proc, 30)
        assert line.startswith("http://127.0.0.1:"), line
        proc.send_signal(signal.SIGINT)
        err = _finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "sk-test-123" not in err
    _assert_all_gone(fake["state"])


def test_a_refusal_is_a_clear_error_at_once_and_stops_the_server(fake):
    started = time.monotonic()
    with pytest.raises(PrefkitError, match=r"refuses prefkit \(HTTP 401\) although it sent the API_KEY"):
        serve.start(fake["config"], env={"API_KEY": "sk-mine", "FAKE_REQUIRED_KEY": "sk-other"}, timeout=60)
    assert time.monotonic() - started < 20
    _assert_all_gone(fake["state"])


def test_a_server_that_wants_a_key_prefkit_never_set_is_another_server_on_the_port(fake):
    """Without an API_KEY the API server asks none, so a 401 comes from a server that took the port prefkit chose
    (seen when a test's Label Studio bound it late): the port is chosen again, and after 3 tries that is said."""
    with pytest.raises(serve.PortTaken, match=r"another server answers there \(HTTP 401\)"):
        serve.start(fake["config"], env={"FAKE_REQUIRED_KEY": "sk-other"}, timeout=60)
    _assert_all_gone(fake["state"])


def test_a_grandchild_that_ignores_sigterm_is_killed(fake):
    server = serve.start(fake["config"], env={"FAKE_STUBBORN": "1"}, timeout=30)
    grandchild = _state_pid(fake["state"], "grandchild.pid")
    started = time.monotonic()
    serve.stop(server, grace=1.0)
    assert time.monotonic() - started < 5 and not _alive(grandchild)
    _assert_all_gone(fake["state"])
    serve.stop(server)  # again: nothing to do


def test_ctrl_c_while_loading_stops_the_group_in_the_library(fake, monkeypatch):
    """serving()/start(): a KeyboardInterrupt during the wait for the model stops the server before it goes on."""
    def probe(*args):
        _state_pid(fake["state"], "grandchild.pid")
        raise KeyboardInterrupt

    monkeypatch.setenv("FAKE_LOAD_SECONDS", "60")
    monkeypatch.setattr(serve, "_probe", probe)
    with pytest.raises(KeyboardInterrupt):
        with serve.serving(fake["config"]):
            pass
    _assert_all_gone(fake["state"])


def test_eval_sends_api_key_to_the_served_models(fake, tmp_path, monkeypatch):
    from prefkit.handoff.evaluate import evaluate

    data = tmp_path / "data"
    data.mkdir()
    convert([fixture("dpo_en_demo.sample.json")], str(data / "pairs.json"), register="pairs", dataset_dir=str(data))
    monkeypatch.setenv("API_KEY", "sk-eval-456")
    report = evaluate("pairs", str(data), fake["config"], fake["config"], str(tmp_path / "eval"), limit=2)
    assert report.answered == {"model": 2, "baseline": 2} and report.failed == {"model": {}, "baseline": {}}
    lines = [json.loads(x) for x in open(report.answers_file)]
    assert all(x["model"] == "fake answer" for x in lines)
    _assert_all_gone(fake["state"])


def test_the_model_folder_code_flag_reaches_llamafactory(fake):
    """trust_remote_code is set on llamafactory-cli's command line either way: it wins over the YAML."""
    for flag, expected in ((False, "trust_remote_code=false"), (True, "trust_remote_code=true")):
        with serve.serving(fake["config"], trust_remote_code=flag):
            args = json.loads((fake["state"] / "args.json").read_text())
        assert args == ["api", fake["config"], expected]
        _assert_all_gone(fake["state"])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_to_prefkit_train_stops_the_whole_trainer_group(fake, tmp_path, sig):
    """The same for `llamafactory-cli train` (the stand-in never finishes): nothing is left running."""
    code = ("import sys; from prefkit.handoff.runner import run_train; "
            f"sys.exit(run_train({fake['config']!r}, {str(tmp_path)!r}, {str(tmp_path / 'train.log')!r}))")
    proc = subprocess.Popen([sys.executable, "-c", code], env={**fake["env"], "FAKE_LOAD_SECONDS": "60"},
                            stderr=subprocess.PIPE, text=True, preexec_fn=as_in_a_terminal)
    try:
        _state_pid(fake["state"], "grandchild.pid")
        time.sleep(0.3)
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    _assert_all_gone(fake["state"])
    assert proc.returncode == (130 if sig == signal.SIGINT else -sig), proc.stderr.read()


@pytest.mark.parametrize("command", ["serve", "generate"])
def test_kill_9_of_prefkit_leaves_no_server_running(fake, tmp_path, command):
    """Nothing can run in prefkit after SIGKILL: the server dies with it (PR_SET_PDEATHSIG) and the watchdog kills
    the rest of its group (the stand-in's grandchild), while the model loads and while serving."""
    if command == "serve":
        proc = _serve(fake)
        assert _readline(proc, 30).startswith("http://127.0.0.1:")
    else:
        prompts = tmp_path / "prompts.jsonl"
        prompts.write_text('{"prompt": "Name a tree."}\n')
        proc = subprocess.Popen([*PREFKIT, "generate", str(prompts), "-o", str(tmp_path / "c.jsonl"), "--model-config",
                                 fake["config"]], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**fake["env"], "FAKE_LOAD_SECONDS": "60"})
    try:
        _state_pid(fake["state"], "grandchild.pid")
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    _assert_all_gone(fake["state"])
