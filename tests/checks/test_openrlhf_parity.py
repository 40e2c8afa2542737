"""prefkit's OpenRLHF target drops, cuts and overwrites with EOS as OpenRLHF 0.11.2's own RewardDataset does, row for
row: `validate --target openrlhf --lengths` against reward_dataset.py loaded from the released wheel
(tests/tools/openrlhf_oracle.py), for DPO and RM, on real pairs as `--to openrlhf` writes them (message lists with a
prompt), conversations without a prompt, and plain-text rows, with the Qwen2.5 tokenizer, at limits that drop and cut."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import ROOT, fixture, write_jsonl
from prefkit.pipeline.convert import convert
from prefkit.pipeline.validate import validate

WHEELS = sorted((ROOT / ".cache" / "wheels").glob("openrlhf-0.11.2-*.whl"))
ORACLE = ROOT / "tests" / "tools" / "openrlhf_oracle.py"
PYTHON = ROOT / ".venv" / "bin" / "python"
LIMITS = (64, 256, 1024)
METHODS = ("dpo", "rm")
KEYS = ("chosen_sequence_kept", "rejected_sequence_kept", "chosen_eos_forced", "rejected_eos_forced")


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("openrlhf_rows")
    lines = []
    for source in ("dpo_en_demo.sample.json", "hh_rlhf.edge.jsonl"):
        convert([fixture(source)], str(folder / "part.jsonl"), to="openrlhf")
        lines += [json.loads(x) for x in (folder / "part.jsonl").read_text().splitlines()]
    lines = [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in lines]
    whole = [{"chosen": r["prompt"] + r["chosen"], "rejected": r["prompt"] + r["rejected"]} for r in lines]
    text = [{"prompt": r["prompt"][-1]["content"], "chosen": r["chosen"][0]["content"] + "\n",
             "rejected": r["rejected"][0]["content"]} for r in lines]
    return {"pairs": write_jsonl(folder / "pairs.jsonl", lines), "whole": write_jsonl(folder / "whole.jsonl", whole),
            "text": write_jsonl(folder / "text.jsonl", text)}


@pytest.fixture(scope="module")
def oracle(rows, qwen_tokenizer) -> dict[tuple[str, str, int], list[dict]]:
    if not WHEELS:
        pytest.skip("the OpenRLHF wheel is not in .cache/wheels (scripts/setup.sh downloads it)")
    methods = [x for m in METHODS for x in ("--method", m)]
    proc = subprocess.run([str(PYTHON), str(ORACLE), "--wheel", str(WHEELS[0]), "--model", qwen_tokenizer, "--rows",
                           *rows.values(), "--max-len", *map(str, LIMITS), *methods],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found: dict[tuple[str, str, int], list[dict]] = {}
    for line in map(json.loads, proc.stdout.splitlines()):
        found.setdefault((line["rows"], line["method"], line["max_len"]), []).append(line)
    return found


CASES = [(k, m, n) for k in ("pairs", "whole", "text") for m in METHODS for n in LIMITS]


@pytest.mark.parametrize("rows_key,method,limit", CASES, ids=[f"{k}-{m}-{n}" for k, m, n in CASES])
def test_prefkit_drops_and_cuts_as_openrlhf(tmp_path, rows, oracle, qwen_tokenizer, rows_key, method, limit):
    theirs = oracle[(rows[rows_key], method, limit)]
    lengths = tmp_path / "lengths.jsonl"
    report = validate(rows[rows_key], target="openrlhf", layout="openrlhf" if method == "dpo" else "openrlhf-rm",
                      model=qwen_tokenizer, cutoff_len=limit, lengths_path=str(lengths))
    ours = [json.loads(line) for line in lengths.read_text().splitlines()]
    assert len(ours) == len(theirs) > 0
    keys = KEYS + (("prompt_ids_len",) if method == "dpo" else ())
    mismatches = [(o["index"], {k: (o.get(k), t.get(k)) for k in keys if o.get(k) != t.get(k)})
                  for o, t in zip(ours, theirs, strict=True)
                  if bool(o["dropped"]) != t["dropped"] or (not t["dropped"] and any(o.get(k) != t[k] for k in keys))]
    assert mismatches == [], mismatches[:3]
    assert sum(d["code"] == "openrlhf_prompt_too_long" for d in report.would_drop) == sum(t["dropped"] for t in theirs)
    if method == "rm":
        assert not any(t["dropped"] for t in theirs)
    if limit == 64:
        assert any(t.get("chosen_eos_forced") for t in theirs)  # the cut and the overwrite are compared
        assert method == "rm" or any(t["dropped"] for t in theirs)


def test_openrlhf_rows_validate_clean(rows):
    """What `--to openrlhf` writes validates with 0 errors for --target openrlhf (no model: the loader's view)."""
    for layout in ("openrlhf", "openrlhf-rm"):
        report = validate(rows["pairs"], target="openrlhf", layout=layout)
        assert report.findings.by_level("error") == [], report.findings.by_level("error")[:2]
