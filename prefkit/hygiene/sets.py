"""Benchmark items: the built-in sets shipped in ``prefkit/benchmarks/`` and the user's own files.

A built-in set is compact JSONL, one ``{"id", "text"}`` line per text (MT-Bench has a line per turn, both with the
question's id). ``python -m prefkit.hygiene.sets SOURCE_DIR`` rebuilds them from the upstream files listed in
``prefkit/benchmarks/NOTICE.md`` (the same bytes as /work/shared/data/benchmarks/).

>>> items = load_items("mt-bench")
>>> len(items), items[0].name, items[0].text[:38]
(160, 'mt-bench:81', 'Compose an engaging travel blog post a')
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ..errors import InputError, UsageError
from ..io.sources import check_regular, iter_rows

# name -> (file in prefkit/benchmarks/, upstream file, its id key)
BUILTIN = {"mt-bench": ("mt-bench.jsonl", "mt_bench_question.jsonl", "question_id"),
           "arena-hard": ("arena-hard.jsonl", "arena_hard_v0.1_question.jsonl", "uid"),
           "arena-hard-v2": ("arena-hard-v2.jsonl", "arena_hard_v2.0_question.jsonl", "uid"),
           "ifeval": ("ifeval.jsonl", "ifeval_input_data.jsonl", "key")}
TEXT_KEYS = ("prompt", "instruction", "question", "turns")  # where readers find a prompt; turns are joined
ID_KEYS = ("question_id", "uid", "key", "id")


@dataclass(frozen=True, slots=True)
class Item:
    """One benchmark text; ``name`` (``mt-bench:81``, no whitespace) is how rejects and findings cite it."""

    benchmark: str
    id: str
    text: str

    @property
    def name(self) -> str:
        return f"{self.benchmark}:{self.id}"


def load_items(spec: str) -> list[Item]:
    """The items of one SPEC: a built-in set name, or a JSON/JSONL file (benchmark name: the file's stem)."""
    if spec in BUILTIN:
        data = resources.files("prefkit").joinpath("benchmarks", BUILTIN[spec][0]).read_text(encoding="utf-8")
        return [Item(spec, str(r["id"]), r["text"]) for r in map(json.loads, filter(None, data.split("\n")))]
    check_regular(spec)  # a FIFO or device: refused as such, never read
    if not os.path.isfile(spec):
        raise UsageError(f"--decontaminate {spec}: neither a built-in set ({', '.join(BUILTIN)}) nor a file")
    name = _word(os.path.basename(spec).removesuffix(".jsonl").removesuffix(".json"))
    items = []
    for row in iter_rows(spec):
        where = f"{spec} record {row.index}"
        if row.error is not None or not isinstance(row.data, dict):
            raise InputError(f"--decontaminate {where}: {row.error or 'not a JSON object'}")
        ident = next((row.data[k] for k in ID_KEYS if row.data.get(k) is not None), row.index)
        items.append(Item(name, _word(str(ident)), item_text(row.data, where)))
    return items


def _word(text: str) -> str:
    return re.sub(r"\s+", "_", text.strip()) or "_"


def item_text(record: dict[str, Any], where: str) -> str:
    """The first of TEXT_KEYS a record has: a string, or a list of turns (strings or {"content"}) joined."""
    key = next((k for k in TEXT_KEYS if record.get(k) is not None), None)
    value = record.get(key) if key else None
    if isinstance(value, list):
        value = "\n".join(t["content"] if isinstance(t, dict) else t for t in value)
    if not isinstance(value, str):
        raise InputError(f"--decontaminate {where}: no text in {', '.join(TEXT_KEYS)}")
    return value


def build(source_dir: str, target_dir: str) -> None:
    """Write the built-in sets from the upstream files (MT-Bench: one line per turn)."""
    for _, (target, source, id_key) in BUILTIN.items():
        lines = []
        for row in iter_rows(os.path.join(source_dir, source)):
            texts = row.data["turns"] if "turns" in row.data else [row.data["prompt"]]
            lines += [json.dumps({"id": row.data[id_key], "text": t.strip()}, ensure_ascii=False, separators=(",", ":"))
                      for t in texts]
        with open(os.path.join(target_dir, target), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    build(sys.argv[1], os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
