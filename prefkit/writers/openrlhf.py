"""``--to openrlhf``: preference rows as OpenRLHF's ``RewardDataset`` reads them with ``--prompt_key prompt
--chosen_key chosen --rejected_key rejected --apply_chat_template`` (train_dpo.py, train_rm.py)::

    {"prompt": [{"role": "system", ...}, {"role": "user", "content": "..."}],
     "chosen": [{"role": "assistant", "content": "..."}], "rejected": [{"role": "assistant", "content": "..."}]}

The rows are TRL's conversational rows (``prefkit convert`` reads them back as ``trl``); ``tools`` is kept for that,
though OpenRLHF renders without it. Records with images are rejected: OpenRLHF's reward dataset reads text only.
"""

from __future__ import annotations

from typing import Any

from ..errors import UsageError
from ..records import PreferencePair, RowProblem
from .base import ArrowTypes
from .trl import TrlWriter


class OpenRlhfWriter(TrlWriter):
    name = "openrlhf"
    target = "openrlhf"

    @classmethod
    def arrow_fields(cls, types: ArrowTypes) -> None:
        return None  # JSON only

    def row(self, record: PreferencePair) -> dict[str, Any]:
        if record.images:
            raise RowProblem("openrlhf_cannot_hold_images", "OpenRLHF's reward dataset reads text only")
        return super().row(record)

    def entry(self, file_name: str) -> dict[str, Any]:
        raise UsageError("--to openrlhf writes OpenRLHF rows, which LLaMA-Factory does not read: drop --register")
