"""prefkit's axolotl target drops, cuts and refuses rows as axolotl 0.19 itself does, row for row: `validate --config
axolotl.yaml --lengths` against axolotl's own length functions and dataset types, loaded from its released wheel
(tests/tools/axolotl_oracle.py), on real pairs (chat_template.default and chatml.intel rows, KTO chatml.prompt_pairs
rows) with the Qwen2.5 tokenizer, under each excess_length_strategy at limits that drop and cut many rows."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import ROOT, fixture, write_jsonl
from prefkit.pipeline.convert import convert
from prefkit.pipeline.validate import validate
from prefkit.pipeline.validate_config import validate_config

WHEEL = ROOT / ".cache" / "wheels" / "axolotl-0.19.0-py3-none-any.whl"
ORACLE = ROOT / "tests" / "tools" / "axolotl_oracle.py"
PYTHON = ROOT / ".venv" / "bin" / "python"
LIMITS = (128, 256, 512)
STRATEGIES = ("drop", "truncate", "raise")
ROWS = {"chat": ("chat_template.default", "dpo"), "intel": ("chatml.intel", "dpo"), "kto": ("chatml.prompt_pairs", "kto")}


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("axolotl_rows")
    out = {}
    lines = []
    for source in ("dpo_en_demo.sample.json", "hh_rlhf.edge.jsonl"):
        convert([fixture(source)], str(folder / "part.jsonl"), to="axolotl")
        lines += [json.loads(x) for x in (folder / "part.jsonl").read_text().splitlines()]
    lines = [r for r in lines if r["chosen"]["content"] and r["rejected"]["content"]]  # an empty answer raises
    out["chat"] = write_jsonl(folder / "chat.jsonl", lines)
    intel = [{"system": "".join(m["content"] for m in r["messages"] if m["role"] == "system"),
              "question": r["messages"][-1]["content"], "chosen": r["chosen"]["content"],
              "rejected": r["rejected"]["content"]} for r in lines]
    out["intel"] = write_jsonl(folder / "intel.jsonl", intel)
    convert([fixture("kto_en_demo.sample.json")], str(folder / "kto.jsonl"), to="axolotl-kto")
    out["kto"] = str(folder / "kto.jsonl")
    return out


@pytest.fixture(scope="module")
def oracle(rows, qwen_tokenizer) -> dict[tuple[str, str, int], list[dict]]:
    """axolotl's own lines, one subprocess for every file, strategy and limit."""
    if not WHEEL.exists():
        pytest.skip("the axolotl wheel is not in .cache/wheels (scripts/setup.sh downloads it)")
    specs = [f"{rows[k]}:{kind}:{rl}" for k, (kind, rl) in ROWS.items()]
    strategies = [x for s in STRATEGIES for x in ("--strategy", s)]
    proc = subprocess.run([str(PYTHON), str(ORACLE), "--wheel", str(WHEEL), "--model", qwen_tokenizer, "--rows", *specs,
                           "--sequence-len", *map(str, LIMITS), *strategies], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found: dict[tuple[str, str, int], list[dict]] = {}
    for line in map(json.loads, proc.stdout.splitlines()):
        found.setdefault((line["rows"], line["strategy"], line["sequence_len"]), []).append(line)
    return found


CASES = [(k, s, n) for k in ROWS for s in STRATEGIES for n in LIMITS]


@pytest.mark.parametrize("rows_key,strategy,limit", CASES, ids=[f"{k}-{s}-{n}" for k, s, n in CASES])
def test_prefkit_drops_and_cuts_as_axolotl(tmp_path, rows, oracle, qwen_tokenizer, rows_key, strategy, limit):
    kind, rl = ROWS[rows_key]
    theirs = oracle[(rows[rows_key], strategy, limit)]
    config = tmp_path / "axolotl.yaml"
    config.write_text(f"base_model: {qwen_tokenizer}\nrl: {rl}\nsequence_len: {limit}\nexcess_length_strategy: "
                      f"{strategy}\ndatasets:\n  - path: {rows[rows_key]}\n    type: {kind}\nlearning_rate: 5.0e-7\n")
    lengths = tmp_path / "lengths.jsonl"
    report = validate_config(str(config), None, {}, lengths_path=str(lengths))
    ours = [json.loads(line) for line in lengths.read_text().splitlines()]
    assert len(ours) == len(theirs) > 0
    sides = ("completion",) if rl == "kto" else ("chosen", "rejected")
    keys = ("prompt", *sides) + tuple(f"{s}_after" for s in sides)
    mismatches = []
    for o, t in zip(ours, theirs, strict=True):
        raises = o["dropped"] == "axolotl_raises_on_length"
        dropped = o["dropped"] == "axolotl_exceeds_sequence_len"
        if (raises, dropped) != (bool(t.get("raises")), t["dropped"]) or any(
                o.get(k) != t[k] for k in keys if k in t and not (raises or dropped)):
            mismatches.append((o["index"], o, t))
    assert mismatches == [], mismatches[:2]
    if strategy == "raise":
        assert any(t.get("raises") for t in theirs)  # the limit bites: some row stops the run
    else:
        assert sum(d["code"] == "axolotl_exceeds_sequence_len" for d in report.would_drop) == \
            sum(t["dropped"] for t in theirs)
        if strategy == "truncate" and limit < 512:
            assert any(t.get(f"{sides[0]}_after", 0) < t[sides[0]] for t in theirs)  # the cut is compared


def test_axolotl_rows_validate_clean(tmp_path, rows):
    """What `--to axolotl` / `--to axolotl-kto` writes validates with 0 errors for --target axolotl."""
    for key in ("chat", "kto"):
        report = validate(rows[key], target="axolotl")
        assert report.findings.by_level("error") == [], report.findings.by_level("error")[:2]

