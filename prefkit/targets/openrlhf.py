"""The OpenRLHF target: preference rows as OpenRLHF's ``RewardDataset`` reads them (``train_dpo.py``: layout
``openrlhf``; ``train_rm.py``: ``openrlhf-rm``), with ``--prompt_key prompt`` when the rows have a prompt and
``--apply_chat_template`` when their texts are message lists. :mod:`prefkit.targets.openrlhf_tokens` counts, cuts and
drops as ``reward_dataset.py`` does.
"""

from __future__ import annotations

from typing import Any

from .base import Counter, Parsed, RowCheck, Target, TokenOptions
from .openrlhf_tokens import OpenRlhfCounter
from .trl import aligned
from .trl_rows import is_messages, kind


def explicit(row: dict[str, Any]) -> dict[str, Any]:
    """The row with a prompt, for the content checks: without one, message lists give ``chosen[:-1]``."""
    if row.get("prompt") is not None:
        return row
    chosen, rejected = row["chosen"], row["rejected"]
    if is_messages(chosen):
        return {**row, "prompt": chosen[:-1], "chosen": chosen[-1:], "rejected": rejected[-1:]}
    return {**row, "prompt": ""}


class OpenRlhf(Target):
    name = "openrlhf"
    trainer = "OpenRLHF"
    layouts = ("openrlhf", "openrlhf-rm")  # train_dpo (drops long prompts), train_rm (never drops)
    registry = None
    limit_option = "--max-len"
    limit_required = False  # OpenRLHF's default max_len, 512

    def owns(self, entry: dict[str, Any]) -> bool:
        return entry.get("layout") in self.layouts

    def fits(self, record: dict[str, Any]) -> bool:
        return False  # the rows are TRL's shape: named with --target openrlhf

    def file_entry(self, path: str, layout: str | None) -> dict[str, Any]:
        return {"file_name": path, "layout": layout or "openrlhf"}

    def stage(self, entry: dict[str, Any]) -> str:
        return "rm"

    def counter(self, options: TokenOptions, entry: dict[str, Any]) -> Counter:
        return OpenRlhfCounter(options, dpo=entry.get("layout") != "openrlhf-rm")

    def parser(self, entry: dict[str, Any], counter: Counter | None, template: str = "auto",  # type: ignore[no-untyped-def]
               media_dir: str | None = None):
        def parse(data: dict[str, Any], result: RowCheck) -> Parsed | str:
            missing = [k for k in ("chosen", "rejected") if data.get(k) is None]
            if missing:
                return result.dropped("breaks_loader", missing[0], f"no {missing[0]!r}: OpenRLHF's preprocess_data "
                                      "raises (KeyError) on this row and the run fails")
            keys = [k for k in ("prompt", "chosen", "rejected") if data.get(k) is not None]
            for key in keys:
                if not isinstance(data[key], str) and not is_messages(data[key]):
                    return result.dropped("breaks_loader", key, f"{key} is {kind(data[key])}: OpenRLHF takes a "
                                          "string or a list of {role, content} messages")
            if len({is_messages(data[k]) for k in keys}) > 1:
                return result.dropped("breaks_loader", keys[0], "strings and message lists mixed in one row: "
                                      "OpenRLHF renders every text with the chat template (--apply_chat_template) "
                                      "or none")
            row = explicit(data)
            if not row["prompt"]:
                result.add("no_prompt", "warning", "prompt", "the row has no prompt")
            return Parsed(aligned(row, ("chosen", "rejected")), data)

        return parse
