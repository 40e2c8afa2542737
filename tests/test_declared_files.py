"""Every file a command can write is checked against what it reads, before anything is written or sent; every file
it touches, derived or discovered ones included, is one it declared (the traced tests at the end).

FILES classifies every path option of every command. A new path option that is not listed fails
``test_every_path_option_is_classified``, so it cannot skip the check; each option that writes is then pointed at
the command's input (or at LLaMA-Factory's registry, for commands that read no file) and must be refused with
exit 2, the target byte-identical, and no request sent to the (dead) server.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import typing
from pathlib import Path

import pytest
import typer

from conftest import fixture, write_jsonl
from prefkit import convert
from prefkit.cli import app
from prefkit.io import files as io
from prefkit.io.run import Declared, Run

DEAD_URL = "http://127.0.0.1:9/v1"  # nothing listens: a command that sent a request would fail differently

# command -> option (parameter name) -> what the command does with the path
FILES: dict[str, dict[str, str]] = {
    "convert": {"output": "writes", "rejects": "writes", "report_json": "writes", "save_to_disk": "writes",
                "dataset_dir": "registry", "questions": "reads", "answers": "reads"},
    "validate": {"dataset_dir": "registry", "report_json": "writes", "lengths": "writes", "html_path": "writes",
                 "media_dir": "reads", "config": "reads"},
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
    # the server's own state (its database, media, credentials.json), kept across runs as a trainer's output_dir is
    "label serve": {"data_dir": "server", "label_studio": "reads"},
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


# --- derived and discovered files: every file a command touches is one it declared -------------------------------
#
# The checks above cover the path options. A command also writes files whose names it derives (the PNG beside an
# HTML, <stem>_images/, the registry's lock, eval's folder) and reads files a reader discovers (a judge layout's
# answers, the images an entry points to). Each command below runs for real under an audit hook that records every
# file it opens, makes, renames or removes inside the test's folder; each must be one that the run harness declared
# (or lie inside a folder it declared), so a new derived or discovered file cannot skip the harness's checks.

DERIVED = {"validate": ["--html's PNG beside it"], "convert": ["<stem>_images/", "<stem>.rejects.jsonl",
           "the registry's lock"], "register": ["the registry's lock"], "eval": ["--output-dir"]}
DISCOVERED = {"validate": ["the images an entry points to"],
              "convert": ["--questions / --answers and a judge layout's files", "the images a record points to"]}

_touched: list[tuple[str, str]] | None = None  # (read | write, path) while a traced command runs


def _audit(event: str, args: tuple) -> None:
    if _touched is None:
        return
    if event == "open" and isinstance(args[0], (str, bytes)):
        mode, flags = args[1], args[2]
        if not mode and flags & getattr(os, "O_TMPFILE", 0) == getattr(os, "O_TMPFILE", -1):
            return  # an unnamed file in a folder (filelock's probe): no file appears
        writes = any(c in mode for c in "wax+") if mode else bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
        _touched.append(("write" if writes else "read", os.fsdecode(args[0])))
    elif event in ("os.rename", "os.replace"):
        _touched.append(("write", os.fsdecode(args[1])))
    elif event in ("os.mkdir", "os.remove", "os.rmdir", "shutil.rmtree") and isinstance(args[0], (str, bytes)):
        if not (event == "os.mkdir" and os.path.isdir(args[0])):  # makedirs(exist_ok=True) on a folder: no change
            _touched.append(("write", os.fsdecode(args[0])))


sys.addaudithook(_audit)


def _target(path: str) -> str:
    """A temporary file or staged folder (``.prefkit-NAME.PID.RANDOM.tmp``) stands for NAME, its target."""
    parts = []
    for part in Path(os.path.abspath(path)).parts:
        if part.startswith(io.TEMP_PREFIX) and part.endswith(".tmp"):
            part = part[len(io.TEMP_PREFIX):-len(".tmp")].rsplit(".", 2)[0]
        parts.append(part)
    return os.path.realpath(os.path.join(*parts))


def _covered(path: str, declared: list[Declared], writes: bool) -> bool:
    for item in declared:
        if writes and item.kind in ("input",):
            continue
        top = os.path.realpath(item.path)
        if path == top or (item.holds and path.startswith(top + os.sep)):
            return True
    return False


@pytest.fixture
def traced(monkeypatch, tmp_path):
    """Run a command under the audit hook; return the touched paths that no declaration covers."""
    runs: list[Run] = []
    enter = Run.__enter__

    def remember(self):
        runs.append(self)
        return enter(self)

    monkeypatch.setattr(Run, "__enter__", remember)

    def run(cli, *args: str) -> list[str]:
        global _touched
        _touched, runs[:] = [], []
        try:
            result = cli(*args)
        finally:
            touched, _touched = _touched, None
        assert result.exit_code == 0, result.output
        declared = [d for r in runs for d in (*r.declared, *r.found_inputs.values())]
        root = os.path.realpath(tmp_path)
        bad = set()
        for how, path in touched:
            target = _target(path)
            if target.startswith(root + os.sep) and not _covered(target, declared, how == "write"):
                bad.add(f"{how} {os.path.relpath(target, root)}")
        return sorted(bad)

    return run


def _png() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _image_pair(image: str) -> dict:
    return {"conversations": [{"from": "human", "value": "<image>Colour?"}], "chosen": {"from": "gpt", "value": "red"},
            "rejected": {"from": "gpt", "value": "blue"}, "images": [image]}


def test_convert_touches_only_declared_files(tmp_path, traced, cli):
    data = tmp_path / "data"
    data.mkdir()
    (data / "dataset_info.json").write_text("{}\n")
    (tmp_path / "cat.png").write_bytes(_png())
    url = "data:image/png;base64," + base64.b64encode(_png()).decode()
    src = write_jsonl(tmp_path / "in.jsonl", [_image_pair(url), _image_pair("cat.png"), {"broken": True}])
    assert traced(cli, "convert", src, "-o", data / "x.json", "--register", "x", "--dataset-dir", data,
                  "--report-json", tmp_path / "r.json", "-q") == []
    assert (data / "x_images").is_dir() and (data / "x.rejects.jsonl").is_file() and (data / ".dataset_info.json.lock").exists()


def test_convert_of_a_judge_layout_touches_only_declared_files(tmp_path, traced, cli):
    (tmp_path / "ans").mkdir()
    write_jsonl(tmp_path / "q.jsonl", [{"question_id": 1, "turns": ["Hi?"]}])
    for model in ("a", "b"):
        write_jsonl(tmp_path / "ans" / f"{model}.jsonl",
                    [{"question_id": 1, "model_id": model, "choices": [{"index": 0, "turns": [f"{model} says hi"]}]}])
    judged = write_jsonl(tmp_path / "j.jsonl", [{"question_id": 1, "model_1": "a", "model_2": "b", "g1_winner": "model_1",
                                                 "g2_winner": "model_1", "judge": ["gpt-4", "pair-v2"], "turn": 1}])
    assert traced(cli, "convert", judged, "--from", "fastchat-judge", "--questions", tmp_path / "q.jsonl", "--answers",
                  tmp_path / "ans", "-o", tmp_path / "out.jsonl", "-q") == []


def test_validate_touches_only_declared_files(tmp_path, traced, cli):
    pytest.importorskip("PIL")
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "cat.png").write_bytes(_png())
    (ds / "data.json").write_text(json.dumps([_image_pair("cat.png")]))
    assert traced(cli, "validate", ds / "data.json", "--html", tmp_path / "v.html", "--report-json",
                  tmp_path / "v.json", "-q") == []


def test_register_touches_only_declared_files(tmp_path, traced, cli):
    data = tmp_path / "data"
    data.mkdir()
    (data / "pairs.json").write_bytes(Path(fixture("dpo_en_demo.sample.json")).read_bytes())
    assert traced(cli, "register", "pairs", "--file", data / "pairs.json", "--dataset-dir", data) == []


def test_the_trace_catches_an_undeclared_file(tmp_path, traced, cli, monkeypatch):
    """The check can fail: a PNG written beside the HTML without being declared is named."""
    from prefkit.pipeline import validate as module

    monkeypatch.setattr(module, "png_path", lambda html: html)  # what the PNG's declaration now names ...
    real = module.Run.file

    def undeclared(self, option, path):
        if option == "--html (histogram)":
            return io.Outputs().add(io.AtomicFile(str(tmp_path / "v.png")))  # ... while it writes elsewhere
        return real(self, option, path)

    monkeypatch.setattr(module.Run, "file", undeclared)
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "data.json").write_bytes(Path(fixture("dpo_en_demo.sample.json")).read_bytes())
    assert traced(cli, "validate", ds / "data.json", "--html", tmp_path / "v.html", "-q") == ["write v.png"]
