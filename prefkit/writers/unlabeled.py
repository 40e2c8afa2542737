"""Pairs to label (``convert --unlabeled``): the input of ``prefkit label push``, not a training set::

    {"prompt": [{"role": "system", "content": "..."}, {"role": "user", "content": "..."}],
     "response_a": "...", "response_b": "...", "suggestion": "a", "score_a": 8.0, "score_b": 3.5,
     "metadata": {"origin": "votes.jsonl:0"}}

The layout is the ``pairwise`` reader's with the verdict stored as ``suggestion``: a verdict that still
needs checking, which ``label push`` shows to annotators and ``convert`` never takes as a preference.
``metadata.origin`` names the input file and record index the pair came from.
"""

from __future__ import annotations

from typing import Any

from ..errors import UsageError
from ..records import UnlabeledPair
from ..vocab import OPENAI_ROLE_TAG
from .base import Writer

ROLE = OPENAI_ROLE_TAG


class UnlabeledWriter(Writer):
    name = "unlabeled"
    formatting = ""
    ranking = False
    record_type = UnlabeledPair
    registry = None  # pairs to label are not a training set
    target = None

    def row(self, record: UnlabeledPair) -> dict[str, Any]:
        head = [{"role": "system", "content": record.system}] if record.system else []
        out: dict[str, Any] = {"prompt": head + [{"role": ROLE[m.role], "content": m.content} for m in record.prompt],
                               "response_a": record.response_a.content, "response_b": record.response_b.content}
        for key in ("suggestion", "score_a", "score_b", "tools"):
            if getattr(record, key):
                out[key] = getattr(record, key)
        p = record.provenance  # where the pair came from, kept through later pushes and pulls
        out["metadata"] = {"origin": f"{p.source}:{p.index}", **record.metadata}
        return self.with_images(record, out)

    def columns(self) -> dict[str, str]:
        return {}

    def entry(self, file_name: str) -> dict[str, Any]:
        raise UsageError("pairs to label are not a LLaMA-Factory dataset: push them with prefkit label push, "
                         "and register what label pull writes")
