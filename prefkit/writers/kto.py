"""KTO rows: sharegpt messages ending with the labelled answer, and a boolean ``kto_tag``::

    {"conversations": [{"from": "human", "value": "..."}, {"from": "gpt", "value": "..."}], "kto_tag": true}
"""

from __future__ import annotations

from typing import Any

from ..records import KtoExample
from .base import ArrowTypes, Writer
from .sharegpt import message, sharegpt_prompt


class KtoWriter(Writer):
    name = "kto"
    ranking = False
    record_type = KtoExample

    @classmethod
    def arrow_fields(cls, types: ArrowTypes) -> list[tuple[str, Any]]:
        return [("conversations", types.pa.list_(types.sharegpt_msg)), ("kto_tag", types.pa.bool_()),
                ("tools", types.text)]

    def row(self, record: KtoExample) -> dict[str, Any]:
        out: dict[str, Any] = {"conversations": sharegpt_prompt(record) + [message(record.completion)],
                               "kto_tag": record.label}
        if record.tools:
            out["tools"] = record.tools
        return self.with_images(record, out)

    def columns(self) -> dict[str, str]:
        cols = {"messages": "conversations", "kto_tag": "kto_tag"}
        if "tools" in self.seen:
            cols["tools"] = "tools"
        return self.with_image_column(cols)
