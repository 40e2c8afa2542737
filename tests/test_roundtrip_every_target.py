"""Every `--to` prefkit writes reads back with no flags: detected, and the same records (system, history, prompt, tools,
chosen, rejected, label). Pairs and KTO examples are defined here as plain tuples, written in two source shapes each,
converted to every target, read back with a bare `prefkit convert OUT -o back.json` (`--to kto` for KTO examples,
`--unlabeled` for pairs to label), and compared with the tuples themselves.

Where a target cannot hold a record it rejects it by name (alpaca: tools; lf-v1: tool turns), and the test says so.
A tool call is compared by its meaning (the calls, arguments parsed): TRL rows hold arguments as objects, as TRL's chat
templates take them, where an OpenAI file holds JSON text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import load_output, write_jsonl
from prefkit.names import WRITER_NAMES

WEATHER = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                             "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
PARIS = [{"name": "get_weather", "arguments": {"city": "Paris"}}]
ROME = [{"name": "get_weather", "arguments": {"city": "Rome"}}]

# (system, tools, prompt turns (role, content), answer (role, content)...): content of a function turn is the calls.
PAIRS: list[dict[str, Any]] = [
    {"system": "Be brief.", "tools": None, "prompt": [("user", "Hi"), ("assistant", "Hello!"), ("user", "2+2?")],
     "chosen": ("assistant", "4"), "rejected": ("assistant", "5")},
    {"system": "", "tools": None, "prompt": [("user", "Capital of France?")],
     "chosen": ("assistant", "Paris."), "rejected": ("assistant", "Lyon.")},
    {"system": "", "tools": WEATHER, "prompt": [("user", "Weather in Paris?")],
     "chosen": ("function", PARIS), "rejected": ("assistant", "Sunny, surely.")},
    {"system": "You check the weather.", "tools": WEATHER,
     "prompt": [("user", "Weather in Rome?"), ("function", ROME), ("observation", "18C, clear")],
     "chosen": ("assistant", "18C and clear in Rome."), "rejected": ("assistant", "Hot.")},
    {"system": "", "tools": WEATHER, "prompt": [("user", "Say hi")],
     "chosen": ("assistant", "hi"), "rejected": ("assistant", "bye")},
]
KTO: list[dict[str, Any]] = [
    {"system": "Be brief.", "tools": None, "prompt": [("user", "Hi"), ("assistant", "Hello!"), ("user", "2+2?")],
     "completion": ("assistant", "4"), "label": True},
    {"system": "", "tools": None, "prompt": [("user", "3+3?")], "completion": ("assistant", "7"), "label": False},
    {"system": "", "tools": WEATHER, "prompt": [("user", "Weather in Paris?")], "completion": ("function", PARIS),
     "label": True},
    {"system": "", "tools": WEATHER, "prompt": [("user", "Weather in Rome?"), ("function", ROME), ("observation", "18C")],
     "completion": ("assistant", "Hot."), "label": False},
]
SHAREGPT_TAG = {"user": "human", "assistant": "gpt", "function": "function_call", "observation": "observation"}
ROLE_OF = {v: k for k, v in SHAREGPT_TAG.items()}


def _text(role: str, content: Any) -> str:
    return json.dumps(content) if role == "function" else content


# --- the records in their source shapes ---------------------------------------------------------------------------

def _sharegpt_turns(record: dict[str, Any]) -> list[dict[str, str]]:
    head = [{"from": "system", "value": record["system"]}] if record["system"] else []
    return head + [{"from": SHAREGPT_TAG[r], "value": _text(r, c)} for r, c in record["prompt"]]


def _sharegpt(record: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"conversations": _sharegpt_turns(record)}
    if "label" in record:
        row["conversations"].append({"from": SHAREGPT_TAG[record["completion"][0]],
                                     "value": _text(*record["completion"])})
        row["kto_tag"] = record["label"]
    else:
        for side in ("chosen", "rejected"):
            row[side] = {"from": SHAREGPT_TAG[record[side][0]], "value": _text(*record[side])}
    if record["tools"]:
        row["tools"] = json.dumps(record["tools"])
    return row


def _openai_message(role: str, content: Any, assistant: str = "assistant") -> dict[str, Any]:
    if role == "function":  # OpenAI: arguments as JSON text
        calls = [{"id": f"call_{i}", "type": "function",
                  "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}} for i, c in enumerate(content)]
        return {"role": assistant, "content": None, "tool_calls": calls}
    return {"role": {"observation": "tool", "assistant": assistant}.get(role, role), "content": content}


def _openai_preference(record: dict[str, Any]) -> dict[str, Any]:
    head = [{"role": "system", "content": record["system"]}] if record["system"] else []
    data: dict[str, Any] = {"messages": head + [_openai_message(*m) for m in record["prompt"]]}
    if record["tools"]:
        data.update(tools=record["tools"], parallel_tool_calls=False)
    return {"input": data, "preferred_output": [_openai_message(*record["chosen"])],
            "non_preferred_output": [_openai_message(*record["rejected"])]}


def _kto_rows(record: dict[str, Any]) -> dict[str, Any]:
    """turbo-alignment's KTO record: context, answer and is_desirable; the assistant is ``bot``."""
    head = [{"role": "system", "content": record["system"]}] if record["system"] else []
    row = {"id": "x", "context": head + [_openai_message(*m, assistant="bot") for m in record["prompt"]],
           "answer": _openai_message(*record["completion"], assistant="bot"), "is_desirable": record["label"]}
    if record["tools"]:
        row["tools"] = record["tools"]
    return row


SOURCES = {"sharegpt": (PAIRS, _sharegpt, "sharegpt"), "openai-preference": (PAIRS, _openai_preference, "openai-preference"),
           "sharegpt-kto": (KTO, _sharegpt, "sharegpt"), "kto-rows": (KTO, _kto_rows, "kto-rows")}
KTO_TARGETS = ("kto", "trl-kto", "axolotl-kto")
# The reader that detects what each target writes.
READ_BACK_AS = {"sharegpt": "sharegpt", "alpaca": "alpaca", "kto": "sharegpt", "unlabeled": "pairwise", "trl": "trl",
                "trl-kto": "trl", "lf-v1": "trl", "axolotl": "openai", "axolotl-kto": "trl", "openrlhf": "trl"}


# --- the records read back, from what convert writes (sharegpt, kto, unlabeled) ------------------------------------

def _content(role: str, content: Any) -> Any:
    """A function turn's calls, as a list with parsed arguments (their meaning); other content as it is."""
    if role != "function":
        return content
    calls = json.loads(content) if isinstance(content, str) else content
    calls = calls if isinstance(calls, list) else [calls]
    return [{**c, "arguments": json.loads(c["arguments"]) if isinstance(c["arguments"], str) else c["arguments"]}
            for c in calls]


def _turn(message: dict[str, str]) -> tuple[str, Any]:
    role = ROLE_OF[message["from"]]
    return role, _content(role, message["value"])


def _from_sharegpt(row: dict[str, Any]) -> dict[str, Any]:
    turns = row["conversations"]
    system = turns[0]["value"] if turns and turns[0]["from"] == "system" else ""
    turns = turns[1:] if system else turns
    out: dict[str, Any] = {"system": system, "tools": json.loads(row["tools"]) if row.get("tools") else None}
    if "kto_tag" in row:
        return {**out, "prompt": [_turn(t) for t in turns[:-1]], "completion": _turn(turns[-1]), "label": row["kto_tag"]}
    return {**out, "prompt": [_turn(t) for t in turns], "chosen": _turn(row["chosen"]), "rejected": _turn(row["rejected"])}


def _from_unlabeled(row: dict[str, Any]) -> dict[str, Any]:
    """A pair to label: its answers are texts (what an annotator reads), its suggestion the verdict."""
    roles = {"user": "user", "assistant": "assistant", "function_call": "function", "tool": "observation"}
    turns = row["prompt"]
    system = turns[0]["content"] if turns and turns[0]["role"] == "system" else ""
    turns = turns[1:] if system else turns
    a, b = ("response_a", "response_b") if row["suggestion"] == "a" else ("response_b", "response_a")
    return {"system": system, "tools": json.loads(row["tools"]) if row.get("tools") else None,
            "prompt": [(roles[t["role"]], _content(roles[t["role"]], t["content"])) for t in turns],
            "chosen": ("assistant", _answer_text(row[a])), "rejected": ("assistant", _answer_text(row[b]))}


def _answer_text(text: str) -> Any:
    """An answer to label is text; a tool call's text is compared by the calls it holds."""
    try:
        calls = json.loads(text)
    except ValueError:
        return text
    return _content("function", calls) if isinstance(calls, list) and all("name" in c for c in calls) else text


def _expected(records: list[dict[str, Any]], to: str) -> list[dict[str, Any]]:
    """The records as ``to`` holds them: pairs split into two KTO examples for a KTO target; for pairs to label,
    answers as text (a tool call's text, as the annotator sees it: an assistant answer)."""
    out = []
    for r in records:
        if to in KTO_TARGETS and "chosen" in r:
            base = {k: r[k] for k in ("system", "tools", "prompt")}
            out += [{**base, "completion": r["chosen"], "label": True}, {**base, "completion": r["rejected"], "label": False}]
        elif to == "unlabeled":
            out.append({**r, **{side: ("assistant", r[side][1]) for side in ("chosen", "rejected")}})
        else:
            out.append(r)
    return out


def _holds(to: str, record: dict[str, Any]) -> str | None:
    """The reason ``to`` rejects the record, when it cannot hold it."""
    roles = {role for role, _ in record["prompt"]} | {record.get(k, ("", ""))[0] for k in ("chosen", "rejected", "completion")}
    if to == "alpaca" and (record["tools"] or roles & {"function", "observation"}):
        return "alpaca_cannot_hold_tools"
    if to == "lf-v1" and roles & {"function", "observation"}:
        return "lf_v1_cannot_hold_tools"
    if to in ("axolotl", "axolotl-kto") and (record["tools"] or roles & {"function", "observation"}):
        return "axolotl_cannot_hold_tools"
    if to == "axolotl-kto" and len(record["prompt"]) != 1:
        return "axolotl_kto_one_turn"
    return None


def _cases() -> list[tuple[str, str]]:
    cases = []
    for source, (records, _, _) in SOURCES.items():
        for to in WRITER_NAMES:
            kto_source = "label" in records[0]
            if kto_source and to not in KTO_TARGETS:
                continue  # a KTO example never becomes a pair (kto_example_not_a_pair, tests/test_convert.py)
            cases.append((source, to))
    return cases


@pytest.mark.parametrize("source,to", _cases())
def test_every_target_reads_back_detected_with_the_same_records(tmp_path: Path, cli, source: str, to: str) -> None:
    records, shape, fmt = SOURCES[source]
    src = write_jsonl(tmp_path / "source.jsonl", [shape(r) for r in records])
    held = [r for r in records if _holds(to, r) is None]
    out = tmp_path / "out.jsonl"
    first = cli("convert", src, "--to", to, "-o", out, "--report-json", tmp_path / "first.json", "--quiet")
    assert first.exit_code == 0, first.output
    report = json.loads((tmp_path / "first.json").read_text())
    assert report["sources"][0]["format"] == fmt
    not_held = [_holds(to, r) for r in records if _holds(to, r)
                for _ in range(2 if to in KTO_TARGETS and "chosen" in r else 1)]  # a pair is two KTO examples
    rejects = load_output(tmp_path / "out.rejects.jsonl") if not_held else []
    assert [r["reason"] for r in rejects] == not_held

    flags = ["--to", "kto"] if to in KTO_TARGETS else ["--unlabeled"] if to == "unlabeled" else []
    back = cli("convert", out, "-o", tmp_path / "back.json", *flags, "--report-json", tmp_path / "back.report.json",
               "--quiet")
    assert back.exit_code == 0, back.output
    again = json.loads((tmp_path / "back.report.json").read_text())
    assert again["sources"][0]["format"] == READ_BACK_AS[to], "read back with no --from: detected"
    assert again["rejected"] == 0
    read = _from_unlabeled if to == "unlabeled" else _from_sharegpt
    assert [read(row) for row in load_output(tmp_path / "back.json")] == _expected(held, to)


def test_every_target_is_covered() -> None:
    assert {to for _, to in _cases()} == set(WRITER_NAMES) and set(READ_BACK_AS) == set(WRITER_NAMES)
