"""axolotl's preference rows (axolotl 0.19, ``rl: dpo`` / ``rl: kto``; never registered: axolotl reads them from
its YAML's ``datasets[].path``).

``--to axolotl``: the dataset ``type: chat_template.default`` (LLaMA-Factory's openai-style ranking rows too)::

    {"messages": [{"role": "system", ...}, {"role": "user", "content": "..."}, ...],
     "chosen": {"role": "assistant", "content": "..."}, "rejected": {"role": "assistant", "content": "..."}}

``--to axolotl-kto``: ``type: chatml.prompt_pairs`` with ``rl: kto``: ``{"system", "prompt", "completion",
"label"}``, one user turn. axolotl's transforms keep only each message's role and content, so a record with tools or
tool turns is rejected (``axolotl_cannot_hold_tools``), a KTO example of several turns too (``axolotl_kto_one_turn``),
and so is one with images (``axolotl_cannot_hold_images``).
"""

from __future__ import annotations

from typing import Any

from ..errors import UsageError
from ..records import KtoExample, Message, PreferencePair, RowProblem
from ..vocab import ROLE_FUNCTION, ROLE_OBSERVATION, ROLE_USER
from .base import Writer


def check(record: PreferencePair | KtoExample, answers: list[Message]) -> None:
    if record.images:
        raise RowProblem("axolotl_cannot_hold_images", "axolotl's preference types read text only")
    if record.tools or any(m.role in (ROLE_FUNCTION, ROLE_OBSERVATION) for m in [*record.prompt, *answers]):
        raise RowProblem("axolotl_cannot_hold_tools", "axolotl's preference types keep each message's role and "
                                                      "content only: tools and tool turns are lost")


class _AxolotlWriter(Writer):
    registry = None
    target = "axolotl"

    def columns(self) -> dict[str, str]:
        return {}

    def entry(self, file_name: str) -> dict[str, Any]:
        raise UsageError(f"--to {self.name} writes axolotl rows, which LLaMA-Factory does not read: drop --register "
                         "(name the file in your axolotl YAML's datasets)")


class AxolotlWriter(_AxolotlWriter):
    name = "axolotl"

    def row(self, record: PreferencePair) -> dict[str, Any]:
        check(record, [record.chosen, record.rejected])
        head = [{"role": "system", "content": record.system}] if record.system else []
        return {"messages": head + [{"role": m.role, "content": m.content} for m in record.prompt],
                "chosen": {"role": "assistant", "content": record.chosen.content},
                "rejected": {"role": "assistant", "content": record.rejected.content}}


class AxolotlKtoWriter(_AxolotlWriter):
    name = "axolotl-kto"
    ranking = False
    record_type = KtoExample

    def row(self, record: KtoExample) -> dict[str, Any]:
        check(record, [record.completion])
        if len(record.prompt) != 1 or record.prompt[0].role != ROLE_USER:
            raise RowProblem("axolotl_kto_one_turn", "axolotl's KTO type chatml.prompt_pairs holds one user turn; "
                                                     f"this prompt has {len(record.prompt)}")
        out: dict[str, Any] = {"system": record.system} if record.system else {}
        return {**out, "prompt": record.prompt[0].content, "completion": record.completion.content,
                "label": record.label}
