"""What validate passes, the trainer loads (issue 28, item 3), for a set of hostile strings: lone surrogates, NUL,
non-characters, BOM, CR / LS / PS / NEL, bidi controls, a very long word, control characters, emoji ZWJ sequences,
combining marks, private use. convert rejects the strings that are no Unicode text (``invalid_unicode``, naming
record and field) and writes the rest; validate finds no error in what it wrote; then the trainers' own loaders read
every row: LLaMA-Factory's ``get_dataset`` (0.9.5 in .venv, 0.9.3 in .venv-lf093, tests/tools/lf_load.py), v1's
DataEngine (0.9.5), and TRL's dataset preparation (0.24 in .venv, 1.x in .venv-trl, tests/tools/trl_oracle.py).
The other way round: a file holding a lone surrogate is an error for validate, and LLaMA-Factory's loader fails on
it (DatasetGenerationError), so the error is real."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT
from prefkit.pipeline.convert import convert
from prefkit.pipeline.validate import validate

HOSTILE = {
    "nul": "a\x00b", "fffe_ffff": "a\ufffe b\uffff", "astral_nonchar": "\U0010ffff \U0001fffe", "fdd0": "x\ufdd0y",
    "bom": "\ufeffhello", "cr": "a\rb\r\nc", "ls_ps_nel": "a\u2028b\u2029c\x85d", "bidi": "\u202eabc\u200f \u2066x\u2069",
    "long_word": "w" * 20_000, "controls": "\x01\x07\x1b[31mred\x1b[0m\x7f", "zwj": "👩\u200d👩\u200d👧\u200d👦 🇺🇳 👍🏽",
    "combining": "e\u0301" * 50 + " Z\u0336\u0337", "private_use": "\ue000\U000f0000", "tab_vt_ff": "a\tb\x0bc\x0cd",
    "escape_text": "\\udfff \\u0000", "pair_escape": "\ud83d\ude00",  # json.dumps writes it as a valid pair escape
}
INVALID = {"lone_low": "x\udfff", "lone_high": "\ud800y", "reversed_pair": "\ude00\ud83d"}
TARGETS = {"sharegpt": ("pf_sharegpt", ".json", "rm"), "alpaca": ("pf_alpaca", ".jsonl", "rm"),
           "kto": ("pf_kto", ".json", "kto")}
LF_TOOL = ROOT / "tests" / "tools" / "lf_load.py"
TRL_PYTHONS = {"0.24": ROOT / ".venv" / "bin" / "python", "1": ROOT / ".venv-trl" / "bin" / "python"}


def raw_rows() -> list[dict]:
    """One sharegpt pair per string, the string in the system prompt, the question and both answers."""
    rows = []
    for name, text in {**HOSTILE, **INVALID}.items():
        rows.append({"system": f"sys {text}", "conversations": [{"from": "human", "value": f"{name}: {text}?"}],
                     "chosen": {"from": "gpt", "value": f"good {text}"},
                     "rejected": {"from": "gpt", "value": f"bad {name}"}})
    return rows


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    """convert's outputs for each target, registered in one dataset dir; their row counts."""
    data = tmp_path_factory.mktemp("hostile")
    raw = data / "raw.jsonl"
    raw.write_text("".join(json.dumps(r) + "\n" for r in raw_rows()), encoding="ascii")  # surrogates as escapes
    counts = {}
    for to, (name, suffix, _) in {**TARGETS, "lf-v1": ("v1", ".jsonl", ""), "trl": ("trl", ".jsonl", ""),
                                  "trl-kto": ("trl_kto", ".jsonl", "")}.items():
        rejects = data / f"{name}.rejects.jsonl"
        report = convert([str(raw)], str(data / f"{name}{suffix}"), fmt="sharegpt", to=to, rejects=str(rejects),
                         **({"register": name, "dataset_dir": str(data)} if to in TARGETS else {}))
        assert report.input_records == report.accepted + report.rejected == len(HOSTILE) + len(INVALID)
        found = [json.loads(line) for line in rejects.read_text().splitlines()]
        assert sorted(r["index"] for r in found) == list(range(len(HOSTILE), len(HOSTILE) + len(INVALID))), found
        assert all(r["reason"] == "invalid_unicode" and r["message"].startswith("system: a lone surrogate")
                   for r in found), found
        counts[to] = report.pairs_written
    return data, counts


@pytest.mark.parametrize("to", [*TARGETS, "lf-v1", "trl", "trl-kto"])
def test_validate_finds_no_error_in_what_convert_wrote(written, to):
    data, counts = written
    name, suffix, _ = {**TARGETS, "lf-v1": ("v1", ".jsonl", ""), "trl": ("trl", ".jsonl", ""),
                       "trl-kto": ("trl_kto", ".jsonl", "")}[to]
    target = {"lf-v1": "lf-v1", "trl": "trl", "trl-kto": "trl"}.get(to, "lf")
    report = validate(str(data / f"{name}{suffix}"), target=target)
    assert report.records == counts[to] > 0
    assert not [f for f in report.findings.items if f.level == "error"], report.findings.items


@pytest.mark.llamafactory
def test_llamafactory_get_dataset_loads_every_row(written, lf_python):
    version, python = lf_python
    data, counts = written
    specs = [f"{name}:{stage}" for name, _, stage in TARGETS.values()]
    proc = subprocess.run([str(python), str(LF_TOOL), str(data), *specs], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = {r["name"]: r for r in map(json.loads, [x for x in proc.stdout.splitlines() if x.startswith("{")])}
    for to, (name, _, _) in TARGETS.items():
        assert loaded[name]["version"] == version
        assert loaded[name]["rows_in"] == loaded[name]["rows_out"] == counts[to], loaded[name]


V1_LOAD = """
import json, os, sys, tempfile
os.environ["HF_HOME"] = tempfile.mkdtemp(); os.environ["HF_HUB_OFFLINE"] = "1"
from llamafactory.v1.core.data_engine import DataEngine
engine = DataEngine(sys.argv[1])
texts = [m["content"] for i in range(len(engine)) for m in engine[i]["chosen_messages"]]
print(json.dumps({"rows": len(engine), "texts": len(texts)}))
"""


@pytest.mark.llamafactory
def test_llamafactory_v1_data_engine_loads_every_row(written):
    if not (ROOT / ".venv" / "lib").exists():
        pytest.skip("LLaMA-Factory 0.9.5 venv not set up (make setup)")
    data, counts = written
    yaml = data / "v1.yaml"
    yaml.write_text(f"pairs:\n  path: {data / 'v1.jsonl'}\n  source: local\n  converter: pair\n")
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-c", V1_LOAD, str(yaml)], capture_output=True,
                          text=True, timeout=600, cwd=data)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.splitlines()[-1])["rows"] == counts["lf-v1"]


@pytest.mark.llamafactory
@pytest.mark.parametrize("version", list(TRL_PYTHONS))
@pytest.mark.parametrize("to,method", [("trl", "dpo"), ("trl-kto", "kto")])
def test_trl_prepares_every_row(written, qwen_tokenizer, version, to, method):
    python = TRL_PYTHONS[version]
    if not python.exists():
        pytest.skip(f"TRL {version} venv not set up (make setup)")
    data, counts = written
    rows = data / ("trl.jsonl" if to == "trl" else "trl_kto.jsonl")
    proc = subprocess.run([str(python), str(ROOT / "tests" / "tools" / "trl_oracle.py"), "--model", qwen_tokenizer,
                           "--rows", str(rows), "--method", method, "--max-length", "65536"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout[-1000:], proc.stderr[-2000:])
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert not [line for line in lines if line.get("error") or line.get("dropped")], lines
    assert len({line["index"] for line in lines}) == counts[to]


@pytest.mark.llamafactory
def test_a_lone_surrogate_is_a_validate_error_and_breaks_the_loader(tmp_path):
    python = ROOT / ".venv" / "bin" / "python"
    if not python.exists():
        pytest.skip("LLaMA-Factory 0.9.5 venv not set up (make setup)")
    row = raw_rows()[0]
    row["chosen"]["value"] = INVALID["lone_low"]
    (tmp_path / "bad.json").write_text(json.dumps([raw_rows()[1], row]))  # written as is, by hand: not by convert
    (tmp_path / "dataset_info.json").write_text(json.dumps({"bad": {
        "file_name": "bad.json", "formatting": "sharegpt", "ranking": True,
        "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected", "system": "system"}}}))
    report = validate("bad", str(tmp_path))
    [error] = [f for f in report.findings.items if f.level == "error"]
    assert (error.code, error.index, error.path) == ("invalid_unicode", 1, "chosen.value")
    proc = subprocess.run([str(python), str(LF_TOOL), str(tmp_path), "bad:rm"], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode != 0 and "DatasetGenerationError" in proc.stderr, proc.stderr[-2000:]
