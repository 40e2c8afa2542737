"""The axolotl target: rows as axolotl 0.19's ``rl: dpo`` (ipo, simpo) and ``rl: kto`` read them through a dataset
``type`` (:mod:`prefkit.targets.axolotl_rows`), dropped, cut or refused at ``sequence_len`` as its
``excess_length_strategy`` says, then counted as TRL 1.x counts what is left (:mod:`prefkit.targets.axolotl_tokens`).
Without ``--config axolotl.yaml`` the type is recognised from the columns (``messages``: chat_template.default,
``question``: chatml.intel, ``prompt``: chatml.prompt_pairs), with rl dpo (kto for rows with a ``label``) and drop.
"""

from __future__ import annotations

from typing import Any

from ..checks.acceptance import Aligned
from .axolotl_rows import DPO_TYPES, KTO_TYPES, QUESTION, message, needed
from .axolotl_tokens import AxolotlCounter
from ..io.sample import sample
from .base import Counter, Parsed, RowCheck, Target, TokenOptions
from .trl_rows import kind


def row_type(row: dict[str, Any]) -> str:
    return "chat_template.default" if "messages" in row else "chatml.intel" if "question" in row else \
        "chatml.prompt_pairs"


def aligned(row: dict[str, Any], entry: dict[str, Any]) -> Aligned:
    """The row as the content checks read it."""
    sides = ("completion",) if entry.get("rl") == "kto" else ("chosen", "rejected")
    if entry["type"] == "chat_template.default":
        turns = row["messages"] if isinstance(row["messages"], list) else [{"role": "user", "content": row["messages"]}]
        system = "".join(str(m.get("content") or "") for m in turns if m.get("role") == "system")
        prompt = [{"role": m.get("role"), "content": m.get("content")} for m in turns if m.get("role") != "system"]
        response = [{"role": "assistant", "content": message(row[s])["content"]} for s in sides]
    else:
        system, prompt = str(row.get("system") or ""), [{"role": "user", "content": row[QUESTION[entry["type"]]]}]
        response = [{"role": "assistant", "content": row[s]} for s in sides]
    if entry.get("rl") == "kto":
        empty = {"role": "assistant", "content": ""}
        response = [response[0], empty] if row.get("label") else [empty, response[0]]
    return Aligned(prompt, response, system, "")


class Axolotl(Target):
    name = "axolotl"
    trainer = "axolotl"
    layouts = ("axolotl", "axolotl-kto")
    registry = None
    limit_option = "--sequence-len"
    limit_required = False  # axolotl's default sequence_len, 512

    def owns(self, entry: dict[str, Any]) -> bool:
        return entry.get("layout") in self.layouts

    def fits(self, record: dict[str, Any]) -> bool:
        return False  # its rows are LLaMA-Factory's openai shape or TRL's: named with --target axolotl

    def file_entry(self, path: str, layout: str | None) -> dict[str, Any]:
        rows = sample(path)
        kto = layout == "axolotl-kto" or (layout is None and bool(rows) and "label" in rows[0])
        return {"file_name": path, "layout": "axolotl-kto" if kto else "axolotl", "rl": "kto" if kto else "dpo",
                "type": row_type(rows[0]) if rows else "chat_template.default", "excess_length_strategy": "drop"}

    def stage(self, entry: dict[str, Any]) -> str:
        return "kto" if entry.get("rl") == "kto" else "rm"

    def counter(self, options: TokenOptions, entry: dict[str, Any]) -> Counter:
        return AxolotlCounter(options, entry)

    def parser(self, entry: dict[str, Any], counter: Counter | None, template: str = "auto",  # type: ignore[no-untyped-def]
               media_dir: str | None = None):
        kto = entry.get("rl") == "kto"
        types = KTO_TYPES if kto else DPO_TYPES
        if entry["type"] not in types:
            from ..errors import UsageError

            raise UsageError(f"{entry.get('config', 'datasets')}: type {entry['type']!r}: prefkit models "
                             f"{', '.join(types)} for rl {entry.get('rl')}")

        def parse(data: dict[str, Any], result: RowCheck) -> Parsed | str:
            for key in needed(entry["type"], kto):
                if data.get(key) is None:
                    return result.dropped("breaks_loader", key, f"no {key!r}: axolotl's {entry['type']} raises "
                                          "(KeyError) on this row and the run fails")
            if kto and not isinstance(data.get("label"), bool):
                return result.dropped("breaks_loader", "label", f"label is {kind(data.get('label'))}, not "
                                      "true/false: TRL's KTO trainer splits the examples by it")
            return Parsed(aligned(data, entry), data)

        return parse
