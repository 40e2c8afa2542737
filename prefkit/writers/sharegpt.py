"""sharegpt ranking rows, LLaMA-Factory's own layout (as data/dpo_en_demo.json)::

    {"conversations": [{"from": "system", "value": "..."}, {"from": "human", "value": "..."}],
     "chosen": {"from": "gpt", "value": "..."}, "rejected": {"from": "gpt", "value": "..."}}

The system prompt, when there is one, is the first message (LLaMA-Factory's ``system_tag`` rule);
``tools`` is a column only when some record has tools.
"""

from __future__ import annotations

from typing import Any

from ..records import KtoExample, Message, PreferencePair
from ..vocab import SHAREGPT_ROLE_TAG
from .base import ArrowTypes, Writer

TAG = SHAREGPT_ROLE_TAG


def message(m: Message) -> dict[str, str]:
    return {"from": TAG[m.role], "value": m.content}


def sharegpt_prompt(record: PreferencePair | KtoExample) -> list[dict[str, str]]:
    head = [{"from": "system", "value": record.system}] if record.system else []
    return head + [message(m) for m in record.prompt]


class SharegptWriter(Writer):
    name = "sharegpt"

    @classmethod
    def arrow_fields(cls, types: ArrowTypes) -> list[tuple[str, Any]]:
        msg = types.sharegpt_msg
        return [("conversations", types.pa.list_(msg)), ("chosen", msg), ("rejected", msg), ("tools", types.text)]

    def row(self, record: PreferencePair) -> dict[str, Any]:
        out: dict[str, Any] = {"conversations": sharegpt_prompt(record), "chosen": message(record.chosen),
                               "rejected": message(record.rejected)}
        if record.tools:
            out["tools"] = record.tools
        return self.with_images(record, out)

    def columns(self) -> dict[str, str]:
        cols = {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}
        if "tools" in self.seen:
            cols["tools"] = "tools"
        return self.with_image_column(cols)
