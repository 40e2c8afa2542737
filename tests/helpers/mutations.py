"""Mutated copies of real data for the acceptance parity tests (each mutation in its own file, so every
column keeps one JSON type and LLaMA-Factory's loader can read it)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from conftest import raw

SHAREGPT = {"formatting": "sharegpt", "ranking": True,
            "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}}
KTO = {"formatting": "sharegpt", "columns": {"messages": "messages", "kto_tag": "label"},
       "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
                "system_tag": "system"}}
ALPACA = {"formatting": "alpaca", "ranking": True,
          "columns": {"prompt": "question", "chosen": "response_chosen", "rejected": "response_rejected",
                      "system": "system", "history": "history"}}
OPENAI = {"formatting": "openai", "ranking": True, "columns": {"messages": "messages", "chosen": "chosen",
                                                               "rejected": "rejected", "tools": "tools"},
          "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
                   "observation_tag": "tool", "function_tag": "function_call", "system_tag": "system"}}


def _every(rows: list[dict], step: int, change) -> list[dict]:
    rows = copy.deepcopy(rows)
    for i, row in enumerate(rows):
        if i % step == 0:
            change(row)
    return rows


def datasets() -> dict[str, tuple[dict[str, Any], list[dict]]]:
    """name -> (dataset_info entry without file_name, rows)"""
    en = raw("dpo_en_demo.sample.json")
    kto = raw("kto_en_demo.sample.json")
    med = raw("medicalgpt_dpo_zh.sample.jsonl")
    out = {
        "en": (SHAREGPT, en),
        "en_wrong_role": (SHAREGPT, _every(en, 3, lambda r: r["conversations"][0].update({"from": "gpt"}))),
        "en_even_count": (SHAREGPT, _every(en, 4, lambda r: r["conversations"].append({"from": "gpt", "value": "x"}))),
        "en_string_answers": (SHAREGPT, _every(en, 1, lambda r: r.update(chosen=r["chosen"]["value"],
                                                                         rejected=r["rejected"]["value"]))),
        "en_missing_rejected": (SHAREGPT, _every(en, 5, lambda r: r.pop("rejected"))),
        "en_answer_role": (SHAREGPT, _every(en, 2, lambda r: r["chosen"].update({"from": "human"}))),
        "en_system_late": (SHAREGPT, _every(en, 3, lambda r: r["conversations"].insert(
            len(r["conversations"]) - 1, {"from": "system", "value": "late"}))),
        "kto": (KTO, kto),
        "kto_string_label": (KTO, _every(kto, 1, lambda r: r.update(label=str(r["label"]).lower()))),
        "kto_odd": (KTO, _every(kto, 3, lambda r: r["messages"].pop())),
        "alpaca": (ALPACA, med),
        "alpaca_missing_chosen": (ALPACA, _every(med, 4, lambda r: r.pop("response_chosen"))),
        "alpaca_history": (ALPACA, _every(med, 2, lambda r: r.update(history=[["hi", "hello"], ["more", "sure"]]))),
    }
    return out


def openai_datasets() -> dict[str, tuple[dict[str, Any], list[dict]]]:
    tools = raw("openai_tools.sample.jsonl")
    for row in tools:  # LLaMA-Factory's loader needs one type per column: tools as a JSON string
        if isinstance(row.get("tools"), list):
            row["tools"] = json.dumps(row["tools"])
        row.setdefault("tools", "")
    return {"oa_tools": (OPENAI, tools)}


def write(dataset_dir: Path, sets: dict[str, tuple[dict[str, Any], list[dict]]]) -> None:
    info = {}
    for name, (entry, rows) in sets.items():
        (dataset_dir / f"{name}.json").write_text(json.dumps(rows, ensure_ascii=False))
        info[name] = {"file_name": f"{name}.json", **entry}
    (dataset_dir / "dataset_info.json").write_text(json.dumps(info, indent=1))
