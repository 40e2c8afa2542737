"""Serving a trained adapter through LLaMA-Factory's OpenAI-compatible API, and prefkit eval's accounting."""

import json
import os
import signal
import subprocess
import urllib.request

import pytest

from conftest import ROOT
from helpers.signals import as_in_a_terminal
from prefkit.create.verdicts import PairVerdict, combine
from prefkit.handoff.evaluate import _tally, evaluate, wilson
from prefkit.serving.serve import serving


def test_tally_counts_a_verdict_only_when_both_orders_agree_and_wilson():
    orders = {0: ("a", "b"), 1: ("a", "a"), 2: ("b", None), 3: (None, None), 4: ("tie", "b"), 5: ("b", "a")}
    outcomes = {i: PairVerdict(combine(*o), o, ("", "")) for i, o in orders.items()}  # each order in its own A/B terms
    result = _tally(outcomes, "judge")
    assert (result["win"], result["tie"], result["loss"], result["unparsed"], result["unparsed_orders"]) == (1, 2, 1, 2, 3)
    assert result["inconsistent"] == 2 and result["win_rate"] == 0.5 and result["pairs"] == 6
    low, high = wilson(7, 10)
    assert low < 0.7 < high and 0 <= low and high <= 1
    assert wilson(0, 0) == (0.0, 1.0)



@pytest.mark.llamafactory
@pytest.mark.slow
def test_serve_answers_an_openai_client_and_stops(trained):
    from openai import OpenAI

    _, result, env = trained
    infer, _ = result.infer_configs
    with serving(infer, env=env) as server:
        assert server.base_url.startswith("http://127.0.0.1:") and server.model == "out"
        reply = OpenAI(base_url=server.base_url, api_key="0").chat.completions.create(
            model=server.model, messages=[{"role": "user", "content": "Hi"}], max_tokens=4)
        assert isinstance(reply.choices[0].message.content, str) and reply.usage.completion_tokens <= 4
    assert server.process.poll() is not None


@pytest.mark.llamafactory
@pytest.mark.slow
def test_eval_accounts_for_every_prompt_with_the_model_as_its_own_judge(trained, tmp_path):
    data, result, env = trained
    infer, base = result.infer_configs
    with serving(base, env=env) as judge:
        report = evaluate("pairs_eval", str(data), infer, base, str(tmp_path), judge_url=judge.base_url,
                          judge_model=judge.model, max_tokens=8, env=env, judge_max_tokens=8)
    assert report.prompts > 0
    for side in ("model", "baseline"):
        assert report.answered[side] + sum(report.failed[side].values()) == report.prompts
    j = report.judge
    assert j["pairs"] == report.compared and j["win"] + j["tie"] + j["loss"] + j["unparsed"] == j["pairs"]
    assert 0 <= j["unparsed_orders"] <= 2 * j["pairs"]
    lines = [json.loads(x) for x in open(report.answers_file)]
    assert len(lines) == report.prompts and all(len(x["verdicts"]) == 2 for x in lines if x["verdicts"])
    assert "<table>" in open(report.html_file).read()


@pytest.mark.llamafactory
@pytest.mark.slow
def test_serve_cli_prints_the_url_and_stops_on_ctrl_c(trained):
    _, result, env = trained
    proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "prefkit"), "serve", result.infer_configs[0]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env},
                            preexec_fn=as_in_a_terminal)
    try:
        base_url, model = proc.stdout.readline().split()
        with urllib.request.urlopen(f"{base_url}/models", timeout=10) as response:
            assert json.loads(response.read())["data"][0]["id"] == model
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "stopped" in err
