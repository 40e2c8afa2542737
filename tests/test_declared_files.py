"""Every file a command can write is checked against what it reads, before anything is written or sent.

FILES classifies every path option of every command. A new path option that is not listed fails
``test_every_path_option_is_classified``, so it cannot skip the check; each option that writes is then pointed at
the command's input (or at LLaMA-Factory's registry, for commands that read no file) and must be refused with
exit 2, the target byte-identical, and no request sent to the (dead) server.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest
import typer

from conftest import fixture, write_jsonl
from prefkit import convert
from prefkit.cli import app

DEAD_URL = "http://127.0.0.1:9/v1"  # nothing listens: a command that sent a request would fail differently

# command -> option (parameter name) -> what the command does with the path
FILES: dict[str, dict[str, str]] = {
    "convert": {"output": "writes", "rejects": "writes", "report_json": "writes", "save_to_disk": "writes",
                "dataset_dir": "registry", "questions": "reads", "answers": "reads"},
    "validate": {"dataset_dir": "registry", "report_json": "writes", "lengths": "writes", "html_path": "writes",
                 "media_dir": "reads"},
    "register": {"file": "reads", "dataset_dir": "registry"},
    "train": {"dataset_dir": "registry", "config_out": "writes", "output_dir": "trainer"},
    "serve": {"config": "reads"},
    "eval": {"dataset_dir": "registry", "model_config": "reads", "baseline_config": "reads", "output_dir": "writes",
             "report_json": "writes"},
    "generate": {"output": "writes", "model_config": "reads", "dataset_dir": "registry", "report_json": "writes"},
    "judge": {"output": "writes", "prompt_template": "reads", "reward_model_config": "reads", "report_json": "writes"},
    "label push": {"inputs": "reads", "guidelines": "reads", "rejects": "writes", "report_json": "writes"},
    "label status": {"report_json": "writes"},
    "label pull": {"output": "writes", "rejects": "writes", "dataset_dir": "registry", "report_json": "writes"},
}
WRITES = [(command, option) for command, options in FILES.items() for option, kind in options.items()
          if kind == "writes"]


def _commands() -> dict[str, typing.Callable]:
    found = {info.name: info.callback for info in app.registered_commands}
    for group in app.registered_groups:
        found.update({f"{group.name} {info.name}": info.callback for info in group.typer_instance.registered_commands})
    return found


def _path_options(callback: typing.Callable) -> set[str]:
    hints = typing.get_type_hints(callback)
    return {name for name, hint in hints.items() if "Path" in str(hint)}


def test_every_path_option_is_classified():
    commands = _commands()
    assert set(commands) == set(FILES), "a command was added or removed: classify its path options in FILES"
    for name, callback in commands.items():
        unlisted = _path_options(callback) - set(FILES[name])
        assert not unlisted, f"prefkit {name}: path options {unlisted} are not in FILES"


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, str]:
    """Inputs for every command: a dataset dir with a registered dataset, prompts, candidates, model configs."""
    data = tmp_path / "data"
    data.mkdir()
    convert([fixture("dpo_en_demo.sample.json")], str(data / "pairs.json"), register="pairs", dataset_dir=str(data))
    out = tmp_path / "out"
    out.mkdir()
    config = out / "eval_answers.jsonl"  # eval writes OUT/eval_answers.jsonl: a model config of that name collides
    config.write_text("model_name_or_path: base\ntemplate: qwen\n")
    return {"data": str(data), "pairs": str(data / "pairs.json"), "registry": str(data / "dataset_info.json"),
            "out": str(out), "config": str(config),
            "prompts": write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": "Name a tree."}]),
            "cands": write_jsonl(tmp_path / "cands.jsonl", [{"id": "1", "prompt": "Hi", "responses": ["a", "b"],
                                                             "generator": {"model": "m"}}])}


def _flag(command: str, option: str) -> str:
    group = typer.main.get_command(app)
    for word in command.split():
        group = group.commands[word]
    return next(p.opts[0] for p in group.params if p.name == option)


def _invocation(command: str, option: str, s: dict[str, str]) -> tuple[list[str], str]:
    """(the command line with ``option`` aimed at something it must not write, that target)."""
    flag = _flag(command, option)
    base: dict[str, tuple[list[str], str]] = {
        "convert": (["convert", s["pairs"], "-o", f"{s['out']}/o.json"], s["pairs"]),
        "validate": (["validate", s["pairs"]], s["pairs"]),
        "train": (["train", "--dataset", "pairs", "--dataset-dir", s["data"], "--model", "Qwen/Qwen2.5-0.5B-Instruct",
                   "--template", "qwen", "--cutoff-len", "256", "--no-validate", "--dry-run"], s["pairs"]),
        "eval": (["eval", "--dataset", "pairs", "--dataset-dir", s["data"], "--model-config", s["config"],
                  "--baseline-config", s["config"]], s["pairs"]),
        "generate": (["generate", s["prompts"], "-o", f"{s['out']}/c.jsonl", "--base-url", DEAD_URL, "--model", "m"],
                     s["prompts"]),
        "judge": (["judge", s["cands"], "-o", f"{s['out']}/j.jsonl", "--judge-url", DEAD_URL, "--judge-model", "m"],
                  s["cands"]),
        "label push": (["label", "push", s["pairs"], "--dataset", "d", "--api-url", DEAD_URL, "--api-key", "k"],
                       s["pairs"]),
        "label status": (["label", "status", "--dataset", "d", "--api-url", DEAD_URL, "--api-key", "k"], s["registry"]),
        "label pull": (["label", "pull", "--dataset", "d", "-o", f"{s['out']}/p.json", "--api-url", DEAD_URL,
                        "--api-key", "k"], s["registry"]),
    }
    args, target = base[command]
    if option == "output":  # replaces the -o of the base line
        args = args[:args.index("-o")] + args[args.index("-o") + 2:]
    if option == "output_dir" and command == "eval":
        return args + ["--output-dir", s["out"]], s["config"]
    if option == "save_to_disk":
        return args + [flag, str(Path(target).parent)], target  # the folder that holds the input
    return args + [flag, target], target


@pytest.mark.parametrize("command,option", WRITES, ids=[f"{c}:{o}" for c, o in WRITES])
def test_an_option_that_writes_is_refused_on_an_input(command, option, setup, cli):
    args, target = _invocation(command, option, setup)
    before = Path(target).read_bytes()
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert any(why in result.output for why in ("is also the", "holds the", "LLaMA-Factory's dataset registry")), \
        result.output
    assert Path(target).read_bytes() == before
    assert not [p for p in Path(setup["out"]).iterdir() if p.name != "eval_answers.jsonl"]


def test_two_outputs_of_one_command_are_refused(setup, cli):
    result = cli("label", "pull", "--dataset", "d", "-o", f"{setup['out']}/p.json", "--rejects",
                 f"{setup['out']}/p.json", "--api-url", DEAD_URL, "--api-key", "k")
    assert result.exit_code == 2 and "is also the -o file" in result.output, result.output
    report = json.loads(Path(setup["registry"]).read_text())
    assert list(report) == ["pairs"]
