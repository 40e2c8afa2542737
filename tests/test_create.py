"""Creating pairs from prompts (issue 12): generate against a scripted OpenAI-compatible server, judge in both
orders, scores, retries, resuming; the real tiny model is served in tests/handoff/test_generate_served.py."""

from __future__ import annotations

import json

import pytest

from conftest import load_output, write_jsonl
from helpers.fake_openai import Script, always_a, answers_shown, prefers_longer, scripted_server
from prefkit import convert
from prefkit.create.candidates import pairs_of
from prefkit.create.generate import generate
from prefkit.create.judge import judge
from prefkit.errors import DataError, UsageError

pytest.importorskip("openai")
PROMPTS = [{"prompt": "Name a colour."}, {"prompt": [{"role": "system", "content": "Be brief."},
                                                     {"role": "user", "content": "Name a fruit."}]},
           {"instruction": "Name a tree.", "input": ""}, {"prompt": "Name a colour."}, {"unrelated": 1}]


def lengths(request: dict, i: int) -> str:
    """A policy whose answers differ in length (the i-th answer has i+1 sentences)."""
    return " ".join(["Here is one sentence."] * (i + 1))


def candidates(tmp_path, n: int = 3) -> str:
    with scripted_server(Script(lengths)) as url:
        generate(write_jsonl(tmp_path / "p.jsonl", PROMPTS), str(tmp_path / "c.jsonl"), base_url=url, model="pol", n=n)
    return str(tmp_path / "c.jsonl")


# --- generate ---------------------------------------------------------------------------------------------------

def test_generate_answers_each_distinct_prompt_and_resumes(tmp_path, cli):
    prompts = write_jsonl(tmp_path / "p.jsonl", PROMPTS)
    out = tmp_path / "c.jsonl"
    script = Script(lengths)
    with scripted_server(script) as url:
        report = generate(prompts, str(out), base_url=url, model="pol", n=3, temperature=0.7, max_tokens=32)
        assert (report.prompts, report.generated, report.no_prompt, report.responses) == (3, 3, 1, 9)
        assert report.usage["requests_sent"] == 3 and report.usage["completion_tokens"] > 0
        assert {r["n"] for r in script.requests} == {3} and {r["temperature"] for r in script.requests} == {0.7}
        rows = load_output(out)
        assert sorted(r["prompt"][-1]["content"] for r in rows) == ["Name a colour.", "Name a fruit.", "Name a tree."]
        assert all(len(r["responses"]) == 3 and r["generator"]["model"] == "pol" for r in rows)
        fruit = next(r for r in rows if r["prompt"][-1]["content"] == "Name a fruit.")
        assert fruit["prompt"][0] == {"role": "system", "content": "Be brief."}
        again = generate(prompts, str(out), base_url=url, model="pol", n=3)
        assert (again.usage["requests_sent"], again.already_complete, again.generated) == (0, 3, 0)
        # an interrupted run: the last line was cut in the middle
        text = out.read_bytes()
        out.write_bytes(text[: text.rindex(b"\n", 0, len(text) - 1) + 20])
        resumed = generate(prompts, str(out), base_url=url, model="pol", n=3)
        assert (resumed.usage["requests_sent"], resumed.already_complete, resumed.generated) == (1, 2, 1)
        assert len(load_output(out)) == 3
        result = cli("generate", prompts, "-o", tmp_path / "c2.jsonl", "--base-url", url, "--model", "pol",
                     "--n", "2", "--report-json", tmp_path / "r.json")
        assert result.exit_code == 0, result.output
        assert json.loads((tmp_path / "r.json").read_text())["responses"] == 6


def test_generate_retries_429_and_5xx_and_counts_what_fails(tmp_path, cli, monkeypatch):
    monkeypatch.setattr("prefkit.create.client.BACKOFF", 0.01)
    prompts = write_jsonl(tmp_path / "p.jsonl", PROMPTS[:1])
    with scripted_server(Script(lengths, fail_first=[429, 503])) as url:
        report = generate(prompts, str(tmp_path / "a.jsonl"), base_url=url, model="pol", n=1)
    assert report.generated == 1 and report.usage["retries"] == 2 and report.usage["requests_sent"] == 3
    with scripted_server(Script(lengths, fail_first=[400])) as url:  # a client error is not retried
        result = cli("generate", prompts, "-o", tmp_path / "b.jsonl", "--base-url", url, "--model", "pol",
                     "--report-json", tmp_path / "r.json")
    report = json.loads((tmp_path / "r.json").read_text())
    assert result.exit_code == 1 and report["failed"] == {"http_400": 1} and report["usage"]["retries"] == 0
    assert not (tmp_path / "b.jsonl").exists()  # no answer, no file: the prompt stays to be asked by the next run
    with pytest.raises(UsageError, match="--model-config"):
        generate(prompts, str(tmp_path / "c.jsonl"), model="pol")


def test_generate_sends_the_api_key(tmp_path, monkeypatch):
    monkeypatch.setenv("API_KEY", "sesame")
    prompts = write_jsonl(tmp_path / "p.jsonl", PROMPTS[:1])
    with scripted_server(Script(lengths, api_key="sesame")) as url:
        assert generate(prompts, str(tmp_path / "a.jsonl"), base_url=url, model="pol", n=1).generated == 1


# --- judge --------------------------------------------------------------------------------------------------------

def test_a_judge_that_always_says_a_gives_no_pairs(tmp_path):
    cands = candidates(tmp_path)
    with scripted_server(Script(always_a)) as url:
        report = judge(cands, str(tmp_path / "j.jsonl"), judge_url=url, judge_model="judge")
    assert report.pairs == 9 and report.verdicts == {"inconsistent": 9}
    assert report.consistent_share == 0.0 and report.position_bias == 1.0
    rows = load_output(tmp_path / "j.jsonl")
    assert {r["verdict"] for r in rows} == {"tie"} and all(r["judge"]["orders"] == ["a", "a"] for r in rows)
    with pytest.raises(DataError, match="no rows to write: all 9 records were rejected .tie 9"):
        convert([str(tmp_path / "j.jsonl")], str(tmp_path / "pairs.json"), fmt="pairwise")


def test_a_judge_that_prefers_the_longer_answer_gives_longer_chosen(tmp_path, cli):
    cands = candidates(tmp_path)
    script = Script(prefers_longer)
    with scripted_server(script) as url:
        result = cli("judge", cands, "-o", tmp_path / "j.jsonl", "--judge-url", url, "--judge-model", "judge",
                     "--report-json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["verdicts"] == {"b": 9} and report["consistent_share"] == 1.0 and report["position_bias"] == 0.5
    assert report["wins"] == {"pol": 9} and report["usage"]["requests_sent"] == 18
    # every pair was shown in both orders
    shown = [tuple(answers_shown(r).values()) for r in script.requests]
    assert all((b, a) in shown for a, b in shown)
    convert([str(tmp_path / "j.jsonl")], str(tmp_path / "pairs.json"), fmt="pairwise")
    pairs = load_output(tmp_path / "pairs.json")
    assert len(pairs) == 9 and all(len(p["chosen"]["value"]) > len(p["rejected"]["value"]) for p in pairs)
    # the same rows are pairs to label, with the judge's verdict as the suggestion
    convert([str(tmp_path / "j.jsonl")], str(tmp_path / "label.json"), fmt="pairwise", unlabeled=True)
    assert {r["suggestion"] for r in load_output(tmp_path / "label.json")} == {"b"}


def test_unparsable_replies_are_counted_never_guessed(tmp_path):
    cands = candidates(tmp_path, n=2)
    replies = iter(["I like A.", "[[B]]"] * 10)
    with scripted_server(Script(lambda request, i: next(replies))) as url:
        report = judge(cands, str(tmp_path / "j.jsonl"), judge_url=url, judge_model="judge", concurrency=1)
    assert report.verdicts == {"unparsed": 3} and report.consistent_share is None
    assert {r["verdict"] for r in load_output(tmp_path / "j.jsonl")} == {"failed"}


def test_score_mode_writes_ratings_rows(tmp_path):
    cands = candidates(tmp_path)
    score = lambda request, i: f"Rating: [[{min(10, len(request['messages'][-1]['content']) // 40)}]]"  # noqa: E731
    with scripted_server(Script(score)) as url:
        report = judge(cands, str(tmp_path / "s.jsonl"), judge_url=url, judge_model="judge", mode="score")
    assert report.pairs == 9 and report.unscored == 0
    rows = load_output(tmp_path / "s.jsonl")
    assert all(len(r["scores"]) == len(r["responses"]) == 3 for r in rows)
    converted = convert([str(tmp_path / "s.jsonl")], str(tmp_path / "pairs.json"), fmt="ratings")
    assert converted.pairs_written == 3


def test_templates_and_pair_choice(tmp_path):
    (tmp_path / "t.txt").write_text("Which is better? {answer_a} or {answer_b}")
    with pytest.raises(UsageError, match="missing \\{conversation\\}"):
        judge(candidates(tmp_path), str(tmp_path / "j.jsonl"), judge_url="http://127.0.0.1:9/v1", judge_model="j",
              prompt_template=str(tmp_path / "t.txt"))
    assert pairs_of(6, "a") == pairs_of(6, "a") != pairs_of(6, "b")
    assert all(len({i for p in pairs_of(n, "k") for i in p}) == n for n in range(2, 9))  # every answer is compared
