"""alpaca ranking rows::

    {"instruction": "...", "chosen": "...", "rejected": "...", "system": "...", "history": [["q", "a"]]}

The last user turn is ``instruction``; earlier turns go to ``history`` as [user, assistant] pairs.
``system`` and ``history`` appear only on rows that have them (and as columns only when some row does).
alpaca cannot hold tool calls, tool results or tool definitions: such records are rejected
(``alpaca_cannot_hold_tools``); write sharegpt for them.
"""

from __future__ import annotations

from typing import Any

from ..records import PreferencePair, RowProblem
from .base import ArrowTypes, Writer


class AlpacaWriter(Writer):
    name = "alpaca"
    formatting = "alpaca"

    @classmethod
    def arrow_fields(cls, types: ArrowTypes) -> list[tuple[str, Any]]:
        text = types.text
        return [("instruction", text), ("chosen", text), ("rejected", text), ("system", text),
                ("history", types.pa.list_(types.pa.list_(text)))]

    def row(self, record: PreferencePair) -> dict[str, Any]:
        roles = {m.role for m in record.prompt} | {record.chosen.role, record.rejected.role}
        if record.tools or roles - {"user", "assistant"}:
            raise RowProblem("alpaca_cannot_hold_tools", "the record has tool calls or tools, which alpaca "
                                                         "cannot hold; use --to sharegpt")
        out: dict[str, Any] = {"instruction": record.prompt[-1].content, "chosen": record.chosen.content,
                               "rejected": record.rejected.content}
        if record.system:
            out["system"] = record.system
        if len(record.prompt) > 1:
            turns = record.prompt[:-1]
            out["history"] = [[turns[i].content, turns[i + 1].content] for i in range(0, len(turns), 2)]
        return self.with_images(record, out)

    def columns(self) -> dict[str, str]:
        cols = {"prompt": "instruction", "chosen": "chosen", "rejected": "rejected"}
        for name in ("system", "history"):
            if name in self.seen:
                cols[name] = name
        return self.with_image_column(cols)
