"""LLaMA-Factory v1 pair rows (``USE_V1=1``; its ``pair`` converter reads them)::

    {"chosen": [{"role": "system", "content": "..."}, {"role": "user", "content": "..."},
                {"role": "assistant", "content": "the chosen answer"}],
     "rejected": [... the same conversation ..., {"role": "assistant", "content": "the rejected answer"}]}

Each side is the whole conversation. ``--register NAME`` adds ``NAME: {path, source: local, converter: pair}``
to the v1 dataset YAML (``dataset_info.yaml``). v1's pair converter reads a ``tool`` message as tool calls and
has no role for tool results, so records with tool turns are rejected (``lf_v1_cannot_hold_tools``).
"""

from __future__ import annotations

from typing import Any

from ..lf_vocab import ROLE_ASSISTANT, ROLE_USER
from ..records import Message, PreferencePair, RowProblem
from .base import Writer


class LfV1Writer(Writer):
    name = "lf-v1"
    registry = "v1"
    target = "lf-v1"

    def __init__(self) -> None:
        super().__init__()
        self.weight: float | None = None  # written to the v1 entry when set (--weight, --size)
        self.size: int | None = None

    def row(self, record: PreferencePair) -> dict[str, Any]:
        if {m.role for m in (*record.prompt, record.chosen, record.rejected)} - {ROLE_USER, ROLE_ASSISTANT}:
            raise RowProblem("lf_v1_cannot_hold_tools", "the record has tool calls or results, which v1's pair "
                                                        "converter cannot read; use --to sharegpt")
        if record.images:
            raise RowProblem("lf_v1_cannot_hold_images", "the record has images, which v1's pair converter (0.9.5) "
                                                         "cannot read; use --to sharegpt")
        head = [{"role": "system", "content": record.system}] if record.system else []
        prompt = head + [_message(m) for m in record.prompt]
        out: dict[str, Any] = {"chosen": prompt + [_message(record.chosen)],
                               "rejected": prompt + [_message(record.rejected)]}
        if record.tools:
            out["tools"] = record.tools
        return out

    def columns(self) -> dict[str, str]:
        return {}

    def entry(self, file_name: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"path": file_name, "source": "local", "converter": "pair"}
        if self.weight is not None:
            entry["weight"] = self.weight
        if self.size is not None:
            entry["size"] = self.size
        return entry


def _message(m: Message) -> dict[str, str]:
    return {"role": m.role, "content": m.content}
