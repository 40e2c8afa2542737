"""LLaMA-Factory v1 pair rows (``USE_V1=1``; its ``pair`` converter reads them)::

    {"chosen": [{"role": "system", "content": "..."}, {"role": "user", "content": "..."},
                {"role": "assistant", "content": "the chosen answer"}],
     "rejected": [... the same conversation ..., {"role": "assistant", "content": "the rejected answer"}]}

Each side is the whole conversation. ``--register NAME`` adds ``NAME: {path, source: local, converter: pair}``
to the v1 dataset YAML (``dataset_info.yaml``). v1's pair converter reads a ``tool`` message as tool calls and
has no role for tool results, so records with tool turns are rejected (``lf_v1_cannot_hold_tools``).

Records with images are rejected (``lf_v1_cannot_hold_images``). v1's sample type has ``image_url`` content parts
(``v1/utils/types.py``; LLaMA-Factory's ``v1_multimodal_demo.jsonl`` uses them, in rows for an entry without a
converter), but in 0.9.5 nothing reads them: the ``pair`` converter makes each content one text part, and every
renderer (``chatml`` in ``v1/core/utils/rendering.py``, the ``qwen3`` plugins) raises "Unsupported content type:
image_url" on any other part. v1 0.9.5 cannot train on an image pair in any row shape.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import UsageError
from ..records import Message, PreferencePair, RowProblem
from ..vocab import ROLE_ASSISTANT, ROLE_USER
from .base import ArrowTypes, Writer


class LfV1Writer(Writer):
    name = "lf-v1"
    registry = "v1"
    target = "lf-v1"
    options = {"weight": "a key of LLaMA-Factory v1's dataset YAML", "size": "a key of LLaMA-Factory v1's dataset YAML"}

    def __init__(self, parquet: bool = False, weight: float | None = None, size: int | None = None) -> None:
        super().__init__(parquet)
        if weight is not None and not (math.isfinite(weight) and weight > 0):
            raise UsageError(f"--weight {weight}: expected a finite number above 0 (the entry's sampling weight)")
        self.weight = weight  # written to the v1 entry when set (--weight, --size)
        self.size = size

    @classmethod
    def arrow_fields(cls, types: ArrowTypes) -> list[tuple[str, Any]]:
        msgs = types.pa.list_(types.role_msg)
        return [("chosen", msgs), ("rejected", msgs), ("tools", types.text)]

    def row(self, record: PreferencePair) -> dict[str, Any]:
        if {m.role for m in (*record.prompt, record.chosen, record.rejected)} - {ROLE_USER, ROLE_ASSISTANT}:
            raise RowProblem("lf_v1_cannot_hold_tools", "the record has tool calls or results, which v1's pair "
                                                        "converter cannot read; use --to sharegpt")
        if record.images:
            raise RowProblem("lf_v1_cannot_hold_images", "the record has images, which LLaMA-Factory v1 (0.9.5) cannot "
                                                         "read: its pair converter keeps text only and its renderers "
                                                         "refuse image_url parts; use --to sharegpt")
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
