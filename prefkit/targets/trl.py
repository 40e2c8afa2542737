"""The TRL target: rows as TRL's DPOTrainer and KTOTrainer read them, counted and cut as TRL does.

TRL reads preference rows ``{"prompt", "chosen", "rejected"}`` (or without ``prompt``: it takes the common start
of chosen and rejected, ``maybe_extract_prompt``), and unpaired rows ``{"prompt", "completion", "label"}``;
each text either a string ("standard") or a list of ``{"role", "content"}`` messages ("conversational"), which
TRL renders with the tokenizer's own chat template (``maybe_apply_chat_template``). See
``docs/notes/trl-tokenization.md`` for each step, per TRL version, and :mod:`prefkit.targets.trl_tokens` for the
counting.
"""

from __future__ import annotations

import json
from typing import Any

from ..checks.acceptance import Aligned
from ..images.checks import IMAGE_PLACEHOLDER
from ..io.sample import sample
from .base import Counter, Parsed, RowCheck, Target, TokenOptions
from .trl_rows import explicit, is_kto, is_messages, kind
from .trl_tokens import TrlCounter

PAIR_KEYS = ("prompt", "chosen", "rejected")
KTO_KEYS = ("prompt", "completion", "label")


def _text(content: Any) -> str:
    """A content's text: a string, or typed parts' text with an image part as LLaMA-Factory's placeholder."""
    if isinstance(content, list):
        return "".join(p.get("text") or "" if p.get("type") == "text" else IMAGE_PLACEHOLDER if p.get("type") == "image"
                       else "" for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def _message_text(m: dict[str, Any]) -> str:
    """A message's text for the content checks: its content, or its tool calls as JSON."""
    if m.get("content") is None and m.get("tool_calls"):
        return json.dumps(m["tool_calls"], ensure_ascii=False, sort_keys=True)
    return _text(m.get("content"))


def aligned(row: dict[str, Any], answers: tuple[str, ...]) -> Aligned:
    """The row as the content checks read it: prompt turns, system, and the final answers (a KTO example's one
    answer first when desirable, second when not, as LLaMA-Factory's converter places it)."""
    prompt = row["prompt"]
    last = lambda v: _message_text(v[-1]) if is_messages(v) else _text(v)  # noqa: E731
    response = [{"role": "assistant", "content": last(row[k])} for k in answers]
    if "label" in row:
        empty = {"role": "assistant", "content": ""}
        response = [response[0], empty] if row["label"] else [empty, response[0]]
    if isinstance(prompt, str):
        return Aligned([{"role": "user", "content": prompt}], response, "", "")
    system = "".join(_text(m.get("content")) for m in prompt if m.get("role") == "system")
    turns = [{"role": m.get("role"), "content": _message_text(m)} for m in prompt if m.get("role") != "system"]
    return Aligned(turns, response, system, "")


class Trl(Target):
    """TRL: its row layouts, ``maybe_extract_prompt`` / ``maybe_apply_chat_template`` and its truncation."""

    name = "trl"
    trainer = "TRL"
    layouts = ("trl", "trl-kto")
    registry = None
    limit_option = "--max-length"
    limit_required = False  # each TRL version's DPOConfig/KTOConfig default
    options = ("max_prompt_length", "truncation_mode", "trl_version")

    def owns(self, entry: dict[str, Any]) -> bool:
        return "layout" in entry and entry["layout"] in self.layouts

    def fits(self, record: dict[str, Any]) -> bool:
        if "completion" in record and isinstance(record.get("label"), bool) and "prompt" in record:
            return True
        return "prompt" in record and "chosen" in record and "rejected" in record and \
            "conversations" not in record and "instruction" not in record

    def file_entry(self, path: str, layout: str | None) -> dict[str, Any]:
        if layout is None:
            rows = sample(path)
            layout = "trl-kto" if rows and "completion" in rows[0] else "trl"
        return {"file_name": path, "layout": layout}

    def stage(self, entry: dict[str, Any]) -> str:
        return "kto" if is_kto(entry) else "rm"

    def counter(self, options: TokenOptions, entry: dict[str, Any]) -> Counter:
        return TrlCounter(options, kto=is_kto(entry))

    def parser(self, entry: dict[str, Any], counter: Counter | None, template: str = "auto",  # type: ignore[no-untyped-def]
               media_dir: str | None = None):
        kto = is_kto(entry)
        keys = KTO_KEYS if kto else PAIR_KEYS
        answers = ("completion",) if kto else ("chosen", "rejected")

        def parse(data: dict[str, Any], result: RowCheck) -> Parsed | str:
            required = keys if kto else ("chosen", "rejected")
            missing = [k for k in required if data.get(k) is None]
            if missing:
                return result.dropped("breaks_loader", missing[0], f"no {missing[0]!r}: TRL's tokenization raises "
                                      "(KeyError) on this row and the run fails")
            if kto and not isinstance(data["label"], bool):
                return result.dropped("breaks_loader", "label", f"label is {kind(data['label'])}, not true/false: "
                                      "TRL's KTO trainer splits desirable from undesirable examples by it")
            row = explicit(data) if not kto else data
            for key in ("prompt", *answers):
                value = row[key]
                if not isinstance(value, str) and not is_messages(value) and value != []:
                    return result.dropped("breaks_loader", key, f"{key} is {kind(value)}: TRL takes a string or a "
                                          "list of {role, content} messages")
            if not row["prompt"]:
                result.add("no_prompt", "warning", "prompt", "the prompt is empty" + (
                    "" if "prompt" in data else ": chosen and rejected share no start, so TRL extracts none"))
            kinds = {k: is_messages(row[k]) for k in ("prompt", *answers) if row[k]}
            if len(set(kinds.values())) > 1:
                mixed = ", ".join(f"{k} {'messages' if v else 'a string'}" for k, v in kinds.items())
                return result.dropped("breaks_loader", "prompt", f"{mixed}: TRL renders a row with the chat template "
                                      "only when every part is messages; mixed rows fail")
            return Parsed(aligned(row, answers), data)

        return parse
