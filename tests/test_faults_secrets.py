"""Secrets: a user name, password or secret query value in any URL prefkit is given (generate's --base-url,
judge's and eval's --judge-url, label's --api-url, convert's and validate's --ray-address) never reaches stdout,
stderr or a written file, whatever fails. Each command is pointed at a dead port
(127.0.0.1:9) with ``user:PASSWORD`` in the URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import fixture, write_jsonl
from helpers.eval_models import fake_models
from prefkit.io.urls import display_url, scrub

PASSWORD = "pw-SECRET-7731"
DEAD = f"http://me:{PASSWORD}@127.0.0.1:9"
PROMPTS = [{"prompt": "Name a tree."}, {"prompt": "Name a river."}]


@pytest.fixture(autouse=True)
def short_backoff(monkeypatch):
    monkeypatch.setattr("prefkit.create.client.BACKOFF", 0.01)


def assert_no_secret(result, folder: Path) -> None:
    assert PASSWORD not in result.output, result.output
    for path in folder.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


def test_display_url_and_scrub_remove_every_credential():
    assert display_url(f"{DEAD}/v1") == "http://127.0.0.1:9/v1"
    assert display_url("https://tok-123456@h/v1?api_key=sk-1&model=x") == "https://h/v1?api_key=***&model=x"
    assert display_url("http://h:8000/v1") == "http://h:8000/v1" and display_url(None) == ""
    text = f"failed for url '{DEAD}/api/v1/me' (user me:{PASSWORD}, %s)" % PASSWORD
    assert PASSWORD not in scrub(text, DEAD) and "http://127.0.0.1:9/api/v1/me" in scrub(text, DEAD)
    assert scrub("key sk-abc in text", None, secrets=("sk-abc",)) == "key *** in text"


def test_generate_to_a_dead_server_never_shows_the_password(tmp_path, cli):
    prompts = write_jsonl(tmp_path / "p.jsonl", PROMPTS)
    result = cli("generate", prompts, "-o", tmp_path / "c.jsonl", "--base-url", f"{DEAD}/v1", "--model", "m",
                 "--retries", "0", "--timeout", "2", "--report-json", tmp_path / "r.json")
    assert result.exit_code == 1, result.output  # no request answered
    assert (tmp_path / "r.json").exists()
    assert_no_secret(result, tmp_path)


@pytest.mark.parametrize("url", [f"http://me:{PASSWORD}@[::1", f"ftp://me:{PASSWORD}@127.0.0.1:9/v1",
                                 f"http://me:{PASSWORD}@127.0.0.1:port/v1"], ids=["unbalanced", "scheme", "port"])
def test_a_malformed_url_is_a_usage_error_without_its_password(tmp_path, cli, url):
    prompts = write_jsonl(tmp_path / "p.jsonl", PROMPTS)
    result = cli("generate", prompts, "-o", tmp_path / "c.jsonl", "--base-url", url, "--model", "m")
    assert result.exit_code == 2 and "not an http(s) URL" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "c.jsonl").exists()
    assert_no_secret(result, tmp_path)


def test_judge_with_a_dead_judge_never_shows_the_password(tmp_path, cli):
    cands = write_jsonl(tmp_path / "cands.jsonl", [
        {"id": "0", "prompt": [{"role": "user", "content": "Name a tree."}], "responses": ["oak", "an elm"],
         "generator": {"model": "m"}}])
    result = cli("judge", cands, "-o", tmp_path / "j.jsonl", "--judge-url", f"{DEAD}/v1", "--judge-model", "j",
                 "--retries", "0", "--timeout", "2", "--report-json", tmp_path / "r.json")
    assert result.exit_code == 1, result.output
    assert_no_secret(result, tmp_path)


@pytest.mark.slow
def test_eval_with_a_dead_judge_never_shows_the_password(tmp_path, monkeypatch, cli):
    models = fake_models(tmp_path, monkeypatch)
    result = cli("eval", "--dataset", "pairs", "--dataset-dir", models["data"], "--model-config", models["config"],
                 "--baseline-config", models["baseline"], "--limit", "2", "--judge-url", f"{DEAD}/v1",
                 "--judge-model", "j", "--retries", "0", "--timeout", "2", "--output-dir", tmp_path / "ev",
                 "--report-json", tmp_path / "r.json")
    assert result.exit_code == 3, result.output  # answers came back, judgments did not
    assert (tmp_path / "ev" / "eval_answers.html").exists()
    assert_no_secret(result, tmp_path)


@pytest.mark.parametrize("command", ["push", "status", "pull"])
def test_label_with_a_dead_server_never_shows_the_password(tmp_path, cli, command):
    pytest.importorskip("argilla")
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [
        {"prompt": "Name a tree.", "chosen": "oak", "rejected": "a rock"}])
    args = {"push": ["push", pairs], "status": ["status"], "pull": ["pull", "-o", tmp_path / "out.json"]}[command]
    result = cli("label", *args, "--dataset", "trees", "--api-url", DEAD, "--api-key", "argilla.key-SECRET-99")
    assert result.exit_code == 2, result.output
    assert "cannot reach Argilla at http://127.0.0.1:9 " in result.output, result.output
    assert "key-SECRET-99" not in result.output
    assert_no_secret(result, tmp_path)


@pytest.mark.slow  # each case waits out the connection check's timeout (about 5 s)
@pytest.mark.parametrize("command", ["convert", "validate"])
@pytest.mark.parametrize("scheme", ["ray://", ""])
def test_a_ray_address_with_a_password_never_shows_it(tmp_path, cli, command, scheme):
    """A dead port is refused at once by the probe; a port that accepts and never speaks is not Ray (in seconds)."""
    pytest.importorskip("ray")
    import socket
    import threading

    out = ["-o", tmp_path / "o.json"] if command == "convert" else []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list = []
    threading.Thread(target=lambda: held.append(listener.accept()), daemon=True).start()  # accepts, never speaks
    for port, said in [(9, f"cannot reach the Ray cluster at {scheme}127.0.0.1:9 "),
                       (listener.getsockname()[1], "answers, but not as a Ray cluster does")]:
        result = cli(command, fixture("dpo_en_demo.sample.json"), *out, "--executor", "ray", "--ray-address",
                     f"{scheme}me:{PASSWORD}@127.0.0.1:{port}")
        assert result.exit_code == 2 and said in result.output, result.output
        assert_no_secret(result, tmp_path)
    listener.close()
    assert not (tmp_path / "o.json").exists()
