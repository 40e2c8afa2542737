"""What is sent is what was asked: a prompt's images go to the served model and to the judge as ``image_url``
parts (generate, judge, eval: prefkit.serving.image_parts), or the prompt is refused in one line, never sent as a
bare ``<image>``; a ``--decontaminate`` file with nothing to match is refused, not silently checked against."""

from __future__ import annotations

import json

import pytest

from conftest import fixture, load_output, write_jsonl
from handoff.image_pairs import image_pairs
from helpers.eval_models import fake_models
from helpers.fake_openai import Script, always_a, scripted_server
from prefkit.handoff.evaluate import evaluate

pytest.importorskip("openai")


def kinds(request: dict) -> list[list[str]]:
    """The part types of each message of a request ("text" for plain content)."""
    return [[p["type"] for p in m["content"]] if isinstance(m["content"], list) else ["text"]
            for m in request["messages"]]


# --- images ------------------------------------------------------------------------------------------------------

def test_generate_sends_a_registered_datasets_images_and_keeps_them_for_judge(tmp_path, cli):
    data = image_pairs(tmp_path / "data")
    script = Script(lambda request, i: f"answer {i}")
    with scripted_server(script) as url:
        result = cli("generate", "pairs", "--dataset-dir", data, "-o", tmp_path / "c.jsonl", "--base-url", url,
                     "--model", "m", "--n", "2", "--concurrency", "1")
    assert result.exit_code == 0, result.output
    assert all("<image>" not in json.dumps([p.get("text") for m in r["messages"] for p in m["content"]])
               for r in script.requests)  # every placeholder became an image part
    assert kinds(script.requests[0]) == [["image_url", "text"]]
    assert kinds(script.requests[-1]) == [["image_url", "text", "image_url", "text"]]
    rows = load_output(tmp_path / "c.jsonl")
    assert rows[0]["prompt"] == [{"role": "user", "content": "<image>What colour is square 0?"}]
    assert rows[0]["images"] == [str((data / "images" / "red.png").resolve())]
    judged = Script(always_a)
    with scripted_server(judged) as url:
        result = cli("judge", tmp_path / "c.jsonl", "-o", tmp_path / "j.jsonl", "--judge-url", url, "--judge-model",
                     "j", "--concurrency", "1")
    assert result.exit_code == 0, result.output
    assert all(kinds(r) == [["text"], ["image_url", "text"]] for r in judged.requests[:-2])
    assert kinds(judged.requests[-1]) == [["text"], ["image_url", "image_url", "text"]]
    assert load_output(tmp_path / "j.jsonl")[0]["images"] == rows[0]["images"]


def test_a_prompt_file_with_images_is_refused_in_one_line(tmp_path, cli):
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "<image>What is it?", "images": ["x.png"]}])
    result = cli("generate", prompts, "-o", tmp_path / "c.jsonl", "--base-url", "http://127.0.0.1:9/v1", "--model", "m")
    assert result.exit_code == 1 and "p.jsonl: record 0: images:" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "c.jsonl").exists()


def test_judge_refuses_image_placeholders_without_images(tmp_path, cli):
    cands = write_jsonl(tmp_path / "c.jsonl", [{"id": "0", "prompt": [{"role": "user", "content": "<image>Which?"}],
                                                 "responses": ["a", "b"], "generator": {"model": "m"}}])
    script = Script(always_a)
    with scripted_server(script) as url:
        result = cli("judge", cands, "-o", tmp_path / "j.jsonl", "--judge-url", url, "--judge-model", "j")
    assert result.exit_code == 1 and "c.jsonl: record 0: the prompt has <image> placeholders" in result.output, \
        result.output
    assert script.requests == [] and not (tmp_path / "j.jsonl").exists()


def test_evals_judge_sees_the_prompts_images(tmp_path, monkeypatch):
    models = fake_models(tmp_path, monkeypatch, data=image_pairs(tmp_path / "data"))
    script = Script(always_a)
    with scripted_server(script) as url:
        report = evaluate("pairs", models["data"], models["config"], models["baseline"], str(tmp_path / "ev"),
                          limit=1, judge_url=url, judge_model="j")
    assert report.exit_code == 0 and len(script.requests) == 2
    assert all(kinds(r) == [["text"], ["image_url", "text"]] for r in script.requests)


# --- --decontaminate ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["convert", "validate"])
def test_a_decontaminate_file_of_empty_items_is_a_usage_error_naming_it(tmp_path, cli, command):
    items = write_jsonl(tmp_path / "bench.jsonl", [{"prompt": ""}, {"prompt": "  !? "}, {"turns": []}])
    args = [fixture("dpo_en_demo.sample.json"), "-o", tmp_path / "out.json"] if command == "convert" else \
        [fixture("dpo_en_demo.sample.json")]
    result = cli(command, *args, "--decontaminate", items)
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (f"Error: --decontaminate {items}: all 3 of its items are empty (no words), so "
                                     "nothing would be checked; give items with text in prompt, instruction, question "
                                     "or turns")
    assert not (tmp_path / "out.json").exists()


def test_a_decontaminate_file_with_some_empty_items_says_how_many_were_skipped(tmp_path, capsys):
    from prefkit.hygiene.decontaminate import load

    items = write_jsonl(tmp_path / "bench.jsonl", [{"prompt": ""}, {"prompt": "Write a haiku about the sea."}])
    decontaminator = load(items)
    assert [item.text for item in decontaminator.items] == ["Write a haiku about the sea."]
    assert f"--decontaminate {items}: 1 of 2 items are empty (no words) and skipped; checking 1" in \
        capsys.readouterr().err


def test_a_prompt_file_with_image_placeholders_and_no_images_is_refused(tmp_path, cli):
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "Name a tree."}, {"prompt": "<image>What is it?"}])
    result = cli("generate", prompts, "-o", tmp_path / "c.jsonl", "--base-url", "http://127.0.0.1:9/v1", "--model", "m")
    assert result.exit_code == 1 and "p.jsonl: record 1: the prompt has <image> placeholders" in result.output, \
        result.output
    assert not (tmp_path / "c.jsonl").exists()
