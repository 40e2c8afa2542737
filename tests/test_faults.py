"""The fault suite: generate, judge and eval against a misbehaving server (tests/helpers/fake_openai.py), signals and
kill -9 at chosen points, read-only targets and --save-to-disk. After every failure the inputs and earlier outputs
are byte-identical, no temporary file is left, the exit code is the documented one, and a resumed run sends
exactly the missing requests. (Processes: tests/handoff/test_serve_signals.py and the Ray test at the end.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, fixture, load_output, write_jsonl
from helpers.fake_openai import (DIE, HANG, HTML, NOT_JSON, TRUNCATED, Script, content, prompts_asked, scripted_server,
                                 status, trickle)
from helpers.signals import as_in_a_terminal
from prefkit import convert
from prefkit.create.generate import generate
from prefkit.create.judge import judge
from prefkit.io.watchdog import marked

pytest.importorskip("openai")
PREFKIT = [sys.executable, "-c", "from prefkit.cli import main; main()"]
PROMPTS = [{"prompt": f"Name a {thing}."} for thing in ("tree", "river", "bird", "stone")]


def echo(request: dict, i: int) -> str:
    return f"answer {i} to {request['messages'][-1]['content']}"


def verdict_a(request: dict, i: int) -> str:
    return "A is better. [[A]]"


@pytest.fixture(autouse=True)
def short_backoff(monkeypatch):
    monkeypatch.setattr("prefkit.create.client.BACKOFF", 0.01)


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith(".prefkit-"))


def snapshot(*paths: Path) -> dict[str, bytes | None]:
    return {str(p): p.read_bytes() if p.exists() else None for p in paths}


# --- every fault has its stable reason, fails the run, and is asked again by the next one -------------------------

FAULTS = [(status(500), "http_500"), (status(401), "http_401"), (HANG, "timeout"), (trickle(0.3), "timeout"),
          (TRUNCATED, "connection"), (NOT_JSON, "bad_json"), (HTML, "bad_json"), (content(7), "bad_content"),
          (content({"text": "hi"}), "bad_content"), (content(None), "bad_content"), (DIE, "connection")]


@pytest.mark.parametrize("fault,reason", FAULTS, ids=[r + ":" + f.mode for f, r in FAULTS])
def test_generate_counts_a_failed_request_by_its_reason_and_asks_it_again(tmp_path, cli, fault, reason):
    prompts = write_jsonl(tmp_path / "p.jsonl", PROMPTS[:1])
    out, report = tmp_path / "c.jsonl", tmp_path / "r.json"
    start = time.monotonic()
    with scripted_server(Script(echo, faults=[fault])) as url:
        result = cli("generate", prompts, "-o", out, "--base-url", url, "--model", "m", "--n", "1", "--timeout", "1",
                     "--retries", "0", "--report-json", report)
    assert time.monotonic() - start < 15  # a timeout bounds the whole attempt, trickle included
    assert result.exit_code == 1, result.output  # no request succeeded
    said = json.loads(report.read_text())
    assert said["failed"] == {reason: 1} and said["usage"]["failed_requests"] == {reason: 1}
    assert not out.exists()
    script = Script(echo)
    with scripted_server(script) as url:
        again = cli("generate", prompts, "-o", out, "--base-url", url, "--model", "m", "--n", "1")
    assert again.exit_code == 0 and len(script.requests) == 1 and len(load_output(out)) == 1


def test_retry_after_is_honoured_within_the_timeout_and_not_beyond(tmp_path):
    prompts = write_jsonl(tmp_path / "p.jsonl", PROMPTS[:1])
    with scripted_server(Script(echo, faults=[status(429, retry_after=1)])) as url:
        start = time.monotonic()
        report = generate(prompts, str(tmp_path / "a.jsonl"), base_url=url, model="m", n=1, timeout=5)
    assert time.monotonic() - start >= 1.0 and report.generated == 1 and report.usage["retries"] == 1
    with scripted_server(Script(echo, faults=[status(429, retry_after=30)])) as url:
        start = time.monotonic()
        report = generate(prompts, str(tmp_path / "b.jsonl"), base_url=url, model="m", n=1, timeout=2)
    assert time.monotonic() - start < 10 and report.failed == {"http_429": 1} and report.usage["requests_sent"] == 1


def test_a_server_dying_mid_run_exits_3_and_the_rerun_sends_exactly_the_missing_prompts(tmp_path, cli):
    prompts = write_jsonl(tmp_path / "p.jsonl", PROMPTS)
    out = tmp_path / "c.jsonl"
    with scripted_server(Script(echo, die_after=2)) as url:
        result = cli("generate", prompts, "-o", out, "--base-url", url, "--model", "m", "--n", "1", "--concurrency",
                     "1", "--retries", "1", "--timeout", "2")
    assert result.exit_code == 3, result.output  # some failed
    answered = {row["prompt"][-1]["content"] for row in load_output(out)}
    assert len(answered) == 2
    script = Script(echo)
    with scripted_server(script) as url:
        again = cli("generate", prompts, "-o", out, "--base-url", url, "--model", "m", "--n", "1")
    assert again.exit_code == 0
    assert prompts_asked(script) == {p["prompt"]: 1 for p in PROMPTS if p["prompt"] not in answered}


def test_a_last_line_without_its_newline_is_resumed_cleanly(tmp_path):
    prompts = write_jsonl(tmp_path / "p.jsonl", PROMPTS[:2])
    out = tmp_path / "c.jsonl"
    with scripted_server(Script(echo)) as url:
        generate(write_jsonl(tmp_path / "one.jsonl", PROMPTS[:1]), str(out), base_url=url, model="m", n=1)
        out.write_bytes(out.read_bytes().rstrip(b"\n"))  # complete, but its newline lost
        generate(prompts, str(out), base_url=url, model="m", n=1)
        again = generate(prompts, str(out), base_url=url, model="m", n=1)
    assert [json.loads(line)["prompt"][-1]["content"] for line in out.read_text().splitlines()] == \
        [p["prompt"] for p in PROMPTS[:2]]
    assert again.already_complete == 2 and again.usage["requests_sent"] == 0


def test_generate_refuses_an_output_that_is_not_its_own(tmp_path, cli):
    prompts = write_jsonl(tmp_path / "p.jsonl", PROMPTS[:1])
    other = write_jsonl(tmp_path / "other.jsonl", [{"id": "7", "text": "mine"}])
    before = Path(other).read_bytes()
    result = cli("generate", prompts, "-o", other, "--base-url", "http://127.0.0.1:9/v1", "--model", "m")
    assert result.exit_code == 2 and "not a prefkit generate output" in result.output, result.output
    assert Path(other).read_bytes() == before


def test_credentials_in_the_url_are_never_written(tmp_path, cli):
    prompts = write_jsonl(tmp_path / "p.jsonl", PROMPTS[:1])
    with scripted_server(Script(echo)) as url:
        secret_url = url.replace("http://", "http://me:sk-SECRET-42@")
        result = cli("generate", prompts, "-o", tmp_path / "c.jsonl", "--base-url", secret_url, "--model", "m",
                     "--n", "1", "--report-json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    for text in ((tmp_path / "c.jsonl").read_text(), (tmp_path / "r.json").read_text(), result.output):
        assert "sk-SECRET-42" not in text
    assert load_output(tmp_path / "c.jsonl")[0]["generator"]["base_url"] == url


# --- judge -------------------------------------------------------------------------------------------------------

def _candidates(tmp_path: Path, prompts: int = 3) -> str:
    return write_jsonl(tmp_path / "cands.jsonl", [{"id": str(k), "prompt": [{"role": "user", "content": p["prompt"]}],
                                                   "responses": ["short", "a longer answer"],
                                                   "generator": {"model": "m"}} for k, p in enumerate(PROMPTS[:prompts])])


def test_judge_exit_codes_and_a_resume_that_sends_only_the_missing_pairs(tmp_path, cli):
    cands = _candidates(tmp_path)
    out = tmp_path / "j.jsonl"
    base = ["judge", cands, "-o", out, "--judge-model", "j", "--retries", "0", "--concurrency", "1", "--timeout", "2"]
    with scripted_server(Script(verdict_a, fault=lambda n: 500)) as url:
        total = cli(*base, "--judge-url", url)
    assert total.exit_code == 1 and not out.exists(), total.output  # every pair failed
    with scripted_server(Script(verdict_a, faults=[500])) as url:  # the first pair's first order fails
        partial = cli(*base, "--judge-url", url, "--report-json", tmp_path / "r.json")
    assert partial.exit_code == 3, partial.output
    assert json.loads((tmp_path / "r.json").read_text())["failed"] == {"http_500": 1}
    assert len(load_output(out)) == 2
    script = Script(verdict_a)
    with scripted_server(script) as url:
        again = cli(*base, "--judge-url", url)
    assert again.exit_code == 0 and len(script.requests) == 2  # one pair, both orders
    assert len(load_output(out)) == 3 and all(r["verdict"] == "tie" for r in load_output(out))  # A both times
    assert len({tuple(r["source"]["responses"]) + (r["source"]["prompt_id"],) for r in load_output(out)}) == 3


def test_score_mode_writes_a_prompt_once_all_its_answers_are_scored(tmp_path):
    cands = _candidates(tmp_path, prompts=2)
    out = tmp_path / "s.jsonl"
    with scripted_server(Script(lambda r, i: "[[7]]", faults=[content(3)])) as url:
        report = judge(cands, str(out), judge_url=url, judge_model="j", mode="score", concurrency=1, retries=0)
    assert report.failed == {"bad_content": 1} and report.exit_code == 3 and len(load_output(out)) == 1
    script = Script(lambda r, i: "[[3]] then [[8]]")  # two different ratings: unparsed, never the last one
    with scripted_server(script) as url:
        report = judge(cands, str(out), judge_url=url, judge_model="j", mode="score")
    assert len(script.requests) == 2 and load_output(out)[1]["scores"] == [None, None] and report.unscored == 2


def _run_until(args: list[str], out: Path, lines: int, env: dict | None = None) -> subprocess.Popen:
    proc = subprocess.Popen([*PREFKIT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=as_in_a_terminal,
                            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (out.exists() and out.read_text().count("\n") >= lines):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    return proc


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGHUP, signal.SIGKILL], ids=lambda s: s.name)
@pytest.mark.parametrize("command", ["generate", "judge"])
def test_an_interrupted_run_keeps_its_results_and_the_next_sends_the_rest(tmp_path, command, how):
    prompts, cands = write_jsonl(tmp_path / "p.jsonl", PROMPTS), _candidates(tmp_path, prompts=4)
    out = tmp_path / "out.jsonl"
    script = Script(echo if command == "generate" else verdict_a, fault=lambda n: HANG if n >= 2 else None)
    with scripted_server(script) as url:
        args = (["generate", prompts, "-o", str(out), "--base-url", url, "--model", "m", "--n", "1"] if command ==
                "generate" else ["judge", cands, "-o", str(out), "--judge-url", url, "--judge-model", "j"])
        proc = _run_until(args + ["--concurrency", "1", "--timeout", "60", "--report-json", str(tmp_path / "r.json")],
                          out, 2 if command == "generate" else 1)
        proc.send_signal(how)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == {signal.SIGINT: 130}.get(how, -how), err
    if how == signal.SIGINT:
        assert "Interrupted: the results so far are kept" in err and "Traceback" not in err, err
    kept = load_output(out)
    assert len(kept) == (2 if command == "generate" else 1) and not (tmp_path / "r.json").exists()
    assert temps(tmp_path) == []
    again = Script(echo if command == "generate" else verdict_a)
    with scripted_server(again) as url:
        if command == "generate":
            generate(prompts, str(out), base_url=url, model="m", n=1)
        else:
            judge(cands, str(out), judge_url=url, judge_model="j")
    assert len(again.requests) == (2 if command == "generate" else 2 * 3)
    assert len(load_output(out)) == 4


# --- eval: answers are kept whatever the judge does ----------------------------------------------------------------

@pytest.fixture
def fake_models(tmp_path, monkeypatch) -> dict[str, str]:
    """Two inference YAMLs served by the stand-in llamafactory-cli, and a registered dataset of prompts."""
    cli_path = tmp_path / "llamafactory-cli"
    cli_path.write_text(f"#!/bin/sh\nexec {sys.executable} {ROOT / 'tests/handoff/fake_llamafactory_cli.py'} \"$@\"\n")
    cli_path.chmod(0o755)
    config = tmp_path / "infer.yaml"
    config.write_text(f"model_name_or_path: {tmp_path / 'base'}\ntemplate: qwen\n")
    for key, value in {"PREFKIT_LLAMAFACTORY_CLI": str(cli_path), "FAKE_STATE": str(tmp_path / "state"),
                       "PYTHONPATH": str(ROOT)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("API_KEY", raising=False)
    data = tmp_path / "data"
    data.mkdir()
    convert([fixture("dpo_en_demo.sample.json")], str(data / "pairs.json"), register="pairs", dataset_dir=str(data))
    return {"config": str(config), "data": str(data)}


@pytest.mark.slow
def test_eval_writes_the_answers_when_every_judgment_fails(tmp_path, fake_models, cli):
    with scripted_server(Script(verdict_a, fault=lambda n: 500)) as url:
        result = cli("eval", "--dataset", "pairs", "--dataset-dir", fake_models["data"], "--model-config",
                     fake_models["config"], "--baseline-config", fake_models["config"], "--limit", "3",
                     "--judge-url", url, "--judge-model", "j", "--retries", "0", "--output-dir", tmp_path / "ev",
                     "--report-json", tmp_path / "r.json")
    assert result.exit_code == 3, result.output  # the answers came back, the judgments did not
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["answered"] == {"model": 3, "baseline": 3} and report["judge"]["failed"] == {"http_500": 3}
    rows = load_output(tmp_path / "ev" / "eval_answers.jsonl")
    assert [r["model"] for r in rows] == ["fake answer"] * 3 and all(r["verdicts"] is None for r in rows)


# --- files: read-only targets, --save-to-disk, the registry -------------------------------------------------------

def test_a_read_only_output_is_refused_and_kept(tmp_path, cli):
    out = tmp_path / "pairs.json"
    out.write_text("[]\n")
    out.chmod(0o444)
    result = cli("convert", fixture("dpo_en_demo.sample.json"), "-o", out)
    assert result.exit_code == 2 and "read-only" in result.output, result.output
    assert out.read_text() == "[]\n" and temps(tmp_path) == []


def test_an_unwritable_registry_changes_no_file(tmp_path, cli):
    data = tmp_path / "data"
    data.mkdir()
    (data / "dataset_info.json").write_text("{}\n")
    (data / "dataset_info.json").chmod(0o444)
    (data / "pairs.json").write_text("[]\n")
    result = cli("convert", fixture("dpo_en_demo.sample.json"), "-o", data / "pairs.json", "--register", "pairs",
                 "--dataset-dir", data)
    assert result.exit_code == 2 and "read-only" in result.output, result.output
    assert (data / "pairs.json").read_text() == "[]\n" and temps(data) == []


SAVE_CASES = ["output inside", "input inside", "dataset dir", "a file it did not write"]


@pytest.mark.parametrize("case", SAVE_CASES)
def test_save_to_disk_never_takes_a_folder_holding_other_files(tmp_path, cli, case):
    folder = tmp_path / "saved"
    folder.mkdir()
    src = tmp_path / "in.json"
    src.write_bytes(Path(fixture("dpo_en_demo.sample.json")).read_bytes())
    args = ["convert", src, "-o", tmp_path / "pairs.json", "--save-to-disk", folder]
    if case == "output inside":
        args[3] = folder / "pairs.json"
    elif case == "input inside":
        src = folder / "in.json"
        src.write_bytes(Path(fixture("dpo_en_demo.sample.json")).read_bytes())
        args[1] = src
    elif case == "dataset dir":
        (folder / "dataset_info.json").write_text('{"other": {"file_name": "o.json"}}\n')
        args += ["--register", "pairs", "--dataset-dir", folder]
        args[3] = folder / "pairs.json"
    else:
        convert([str(src)], str(tmp_path / "first.json"), save_to_disk=str(folder))
        (folder / "README.md").write_text("my notes")
    before = snapshot(*folder.iterdir(), src)
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert snapshot(*folder.iterdir(), src) == before and temps(tmp_path) == []


def test_save_to_disk_replaces_its_own_folder_and_leaves_no_cache(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    folder = tmp_path / "saved"
    for source in ("dpo_en_demo.sample.json", "dpo_zh_demo.sample.json"):
        convert([fixture(source)], str(tmp_path / "pairs.json"), save_to_disk=str(folder))
        assert len(datasets.load_from_disk(str(folder))) == len(load_output(tmp_path / "pairs.json"))
    assert temps(tmp_path) == [] and not (tmp_path / "hf").exists()


def test_a_failed_save_to_disk_replaces_nothing(tmp_path, monkeypatch, cli):
    data = tmp_path / "data"
    data.mkdir()
    (data / "pairs.json").write_text("[]\n")
    before = snapshot(data / "pairs.json", data / "dataset_info.json")

    def broken(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("prefkit.io.hf.save_to_disk", broken)
    result = cli("convert", fixture("dpo_en_demo.sample.json"), "-o", data / "pairs.json", "--register", "pairs",
                 "--dataset-dir", data, "--save-to-disk", tmp_path / "saved")
    assert result.exit_code == 2, result.output
    assert snapshot(data / "pairs.json", data / "dataset_info.json") == before
    assert temps(tmp_path) == [] and not (tmp_path / "saved").exists()


# --- signals during convert ---------------------------------------------------------------------------------------

def _big_input(path: Path, rows: int = 60_000) -> Path:
    row = load_output(fixture("dpo_en_demo.sample.json"))[0]
    with open(path, "w") as f:
        for k in range(rows):
            f.write(json.dumps({**row, "conversations": [{"from": "human", "value": f"question {k}"}]}) + "\n")
    return path


@pytest.mark.parametrize("how", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_during_convert_leaves_no_temporary_file(tmp_path, how):
    src = _big_input(tmp_path / "in.jsonl")
    proc = subprocess.Popen([*PREFKIT, "convert", str(src), "-o", str(tmp_path / "out.jsonl"), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=as_in_a_terminal,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 60
    while not temps(tmp_path) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(how)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == {signal.SIGINT: 130}.get(how, -how), err
    assert temps(tmp_path) == [] and not (tmp_path / "out.jsonl").exists()


def test_stale_temporary_files_of_any_dead_run_are_swept_on_a_write_into_the_folder(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = dead.stdout.strip()
    (tmp_path / f".prefkit-other.json.{pid}.abcd1234.tmp").write_text("half")
    (tmp_path / f".prefkit-saved.{pid}.abcd1234.tmp").mkdir()
    convert([fixture("dpo_en_demo.sample.json")], str(tmp_path / "pairs.json"))
    assert temps(tmp_path) == []


# --- Ray: kill -9 of prefkit leaves none of a local Ray's processes --------------------------------------------------

@pytest.mark.ray
@pytest.mark.slow
def test_kill_9_during_a_ray_convert_leaves_no_ray_process(tmp_path):
    pytest.importorskip("ray")
    src = _big_input(tmp_path / "in.jsonl", rows=400_000)
    proc = subprocess.Popen([*PREFKIT, "convert", str(src), "-o", str(tmp_path / "out.jsonl"), "-q", "--executor",
                             "ray"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 120
    while not marked({f"_{proc.pid}/"}) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert marked({f"_{proc.pid}/"}), proc.communicate()
    time.sleep(5)  # its workers are up
    proc.kill()
    proc.wait(timeout=30)
    deadline = time.monotonic() + 15
    while marked({f"_{proc.pid}/"}) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not marked({f"_{proc.pid}/"})  # by command line, or by a log file open in the session folder



@pytest.mark.ray
def test_an_address_that_is_not_ray_is_refused_in_seconds(tmp_path, cli):
    pytest.importorskip("ray")
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list = []
    threading.Thread(target=lambda: held.append(listener.accept()), daemon=True).start()  # accepts, never speaks
    start = time.monotonic()
    result = cli("convert", fixture("dpo_en_demo.sample.json"), "-o", tmp_path / "o.json", "--executor", "ray",
                 "--ray-address", f"127.0.0.1:{listener.getsockname()[1]}")
    listener.close()
    assert result.exit_code == 2 and "not as a Ray cluster does" in result.output, result.output
    assert time.monotonic() - start < 20 and not (tmp_path / "o.json").exists()


@pytest.mark.ray
@pytest.mark.slow
def test_a_ray_run_caps_workers_and_keeps_rays_log_lines_off_the_terminal(tmp_path):
    pytest.importorskip("ray")
    proc = subprocess.run([*PREFKIT, "convert", fixture("dpo_en_demo.sample.json"), "-o", str(tmp_path / "o.json"),
                           "--executor", "ray", "--workers", "1000", "-q"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    cpus = os.cpu_count()
    assert proc.stderr.splitlines() == [f"prefkit: --workers 1000: the Ray cluster has {cpus} CPUs; using {cpus} "
                                        "workers"], proc.stderr


def test_an_error_on_a_temporary_file_names_the_target(tmp_path):
    from prefkit.io.run import Run

    target = tmp_path / "pairs.jsonl"
    with pytest.raises(Exception) as caught, Run() as run:
        rows = run.rows("-o", str(target))
        raise OSError(28, "No space left on device", rows.tmp)
    assert str(caught.value) == f"{target}: cannot write it (no space left on device)"
    assert temps(tmp_path) == []


@pytest.mark.parametrize("tail", [b'{"id": "b", "big": "' + b"x" * (3 << 20), b'{"id": "b"}'], ids=["cut", "whole"])
def test_an_appended_file_is_repaired_whatever_the_length_of_its_last_line(tmp_path, tail):
    from prefkit.io.run import AppendFile

    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"id": "a"}\n' + tail)
    AppendFile(str(path)).repair()
    assert path.read_bytes() == (b'{"id": "a"}\n' if tail.startswith(b'{"id": "b", "big"') else
                                 b'{"id": "a"}\n{"id": "b"}\n')
