"""Work kept: ``prefkit eval`` appends every answer and verdict to eval_progress.jsonl as it comes, so Ctrl-C after
the model's answers (or during the judging) loses none of them, and the rerun sends only what is missing: a model
whose answers are all kept is not served, a pair already judged is not asked again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, load_output
from helpers.eval_models import fake_models
from helpers.fake_openai import HANG, Script, scripted_server
from helpers.signals import as_in_a_terminal
from prefkit.handoff.evaluate import evaluate

pytest.importorskip("openai")
PREFKIT = [sys.executable, "-c", "from prefkit.cli import main; main()"]
LIMIT = 3


def verdict_a(request: dict, i: int) -> str:
    return "A is better. [[A]]"


def progress_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def interrupt_when(args: list[str], progress: Path, done, timeout: float = 60) -> str:
    """Run ``prefkit *args``, send SIGINT once ``done(lines of progress)`` holds; its stderr."""
    proc = subprocess.Popen([*PREFKIT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=as_in_a_terminal, env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not done(progress_lines(progress)):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Interrupted: the results so far are kept" in err and "Traceback" not in err, err
    return err


def eval_args(models: dict[str, str], out: Path, *extra: str) -> list[str]:
    return ["eval", "--dataset", "pairs", "--dataset-dir", models["data"], "--model-config", models["config"],
            "--baseline-config", models["baseline"], "--limit", str(LIMIT), "--output-dir", str(out),
            "--concurrency", "1", *extra]


def rerun(models: dict[str, str], out: Path, monkeypatch, **judge):
    monkeypatch.setenv("FAKE_STATE", str(out.parent / "state-rerun"))  # shows whether a model was served again
    return evaluate("pairs", models["data"], models["config"], models["baseline"], str(out), limit=LIMIT,
                    concurrency=1, **judge)


@pytest.mark.slow
def test_ctrl_c_while_the_baseline_loads_keeps_the_models_answers_and_the_rerun_serves_only_the_baseline(
        tmp_path, monkeypatch):
    models = fake_models(tmp_path, monkeypatch)
    monkeypatch.setenv("FAKE_LOAD_SECONDS", "1.5")  # each server loads a while: the signal comes during the second
    out = tmp_path / "ev"
    progress = out / "eval_progress.jsonl"
    err = interrupt_when(eval_args(models, out), progress, lambda lines: len(lines) >= LIMIT)
    assert "eval_progress.jsonl" in err
    kept = progress_lines(progress)
    assert len(kept) == LIMIT and all(line["text"] == "fake answer" for line in kept)
    assert not (out / "eval_answers.jsonl").exists() and not (out / "eval_answers.html").exists()
    monkeypatch.setenv("FAKE_LOAD_SECONDS", "0")
    report = rerun(models, out, monkeypatch)
    assert report.resumed == {"model": LIMIT, "baseline": 0}
    assert report.requests_sent == {"model": 0, "baseline": LIMIT}
    assert report.answered == {"model": LIMIT, "baseline": LIMIT} and report.exit_code == 0
    assert json.loads((tmp_path / "state-rerun" / "args.json").read_text())[1] == models["baseline"]
    rows = load_output(out / "eval_answers.jsonl")
    assert [(r["model"], r["baseline"]) for r in rows] == [("fake answer", "fake answer")] * LIMIT


@pytest.mark.slow
def test_ctrl_c_during_the_judging_keeps_answers_and_verdicts_and_the_rerun_asks_only_the_missing_pairs(
        tmp_path, monkeypatch):
    models = fake_models(tmp_path, monkeypatch)
    out = tmp_path / "ev"
    progress = out / "eval_progress.jsonl"
    hanging = Script(verdict_a, fault=lambda n: HANG if n >= 2 else None)  # the first pair, both orders, then hang
    with scripted_server(hanging) as url:
        interrupt_when(eval_args(models, out, "--judge-url", url, "--judge-model", "j", "--timeout", "60"), progress,
                       lambda lines: any("judgment" in line for line in lines))
    kept = progress_lines(progress)
    assert sum("answer" in line for line in kept) == 2 * LIMIT and sum("judgment" in line for line in kept) == 1
    script = Script(verdict_a)
    with scripted_server(script) as url:
        report = rerun(models, out, monkeypatch, judge_url=url, judge_model="j")
    assert report.resumed == {"model": LIMIT, "baseline": LIMIT, "judgments": 1}
    assert report.requests_sent == {"model": 0, "baseline": 0, "judge": 2 * (LIMIT - 1)}
    assert len(script.requests) == 2 * (LIMIT - 1) and not (tmp_path / "state-rerun").exists()  # no model served
    assert report.judge["pairs"] == LIMIT and report.judge["failed"] == {} and report.exit_code == 0
    rows = load_output(out / "eval_answers.jsonl")
    assert len(rows) == LIMIT and all(r["verdicts"] == ["a", "b"] for r in rows)  # A both times: a tie
    again = Script(verdict_a)  # everything is kept: nothing is sent at all
    with scripted_server(again) as url:
        report = rerun(models, out, monkeypatch, judge_url=url, judge_model="j")
    assert again.requests == [] and sum(report.requests_sent.values()) == 0 and report.exit_code == 0


def test_a_retrained_model_is_asked_again_and_a_foreign_progress_file_is_refused(tmp_path, monkeypatch):
    models = fake_models(tmp_path, monkeypatch)
    out = tmp_path / "ev"
    evaluate("pairs", models["data"], models["config"], models["baseline"], str(out), limit=1)
    (tmp_path / "model" / "adapter_model.safetensors").write_bytes(b"new weights")  # the model folder changed
    report = evaluate("pairs", models["data"], models["config"], models["baseline"], str(out), limit=1)
    assert report.resumed == {"model": 0, "baseline": 1} and report.requests_sent == {"model": 1, "baseline": 0}
    (out / "eval_progress.jsonl").write_text('{"id": 1}\n')
    from prefkit.errors import InputError

    with pytest.raises(InputError, match="eval_progress.jsonl: line 1 is not a prefkit eval progress line"):
        evaluate("pairs", models["data"], models["config"], models["baseline"], str(out), limit=1)
