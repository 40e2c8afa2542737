"""OpenRLHF's token counts of a preference row, and what ``max_len`` drops and cuts (``openrlhf/datasets/
reward_dataset.py`` of 0.11.2; tests/tools/openrlhf_oracle.py runs that code on the same rows).

``preprocess_data``: with message lists (``--apply_chat_template``) the prompt is the chat template with the generation
prompt, each answer the rest of prompt + answer rendered (without a prompt key, DPO takes the prompt from
``chosen[:-1]``; the RM trains on the whole conversation); with strings, the texts as they are.
``process_data`` (DPO only): the prompt tokenized (cut at ``max_len``); a row whose prompt reaches ``max_len - 2`` is
left out, silently. ``__getitem__``: each sequence is ``(prompt + answer).rstrip("\\n")``, plus ``" " + eos`` when it
does not end with EOS, tokenized without special tokens, cut on the right at ``max_len``, and its last token
overwritten by EOS (a cut answer ends with an EOS in mid-text). The RM never drops a row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import PairCounts, TokenOptions
from .tokens import load_tokenizer

DEFAULT_MAX_LEN = 512  # train_dpo.py / train_rm.py --max_len
DROPPED = "openrlhf_prompt_too_long"


def texts(row: dict[str, Any], render: Any, dpo: bool) -> tuple[str, str, str]:
    """``preprocess_data``: (prompt, chosen, rejected) as texts; ``render`` is the tokenizer's apply_chat_template."""
    chosen, rejected, prompt = row["chosen"], row["rejected"], row.get("prompt")
    if not isinstance(chosen, list):
        return prompt or "", chosen, rejected
    if prompt is not None:
        head = render(prompt, tokenize=False, add_generation_prompt=True)
        return (head, render(prompt + chosen, tokenize=False)[len(head):],
                render(prompt + rejected, tokenize=False)[len(head):])
    whole_c, whole_r = render(chosen, tokenize=False), render(rejected, tokenize=False)
    if not dpo:
        return "", whole_c, whole_r
    head = render(chosen[:-1], tokenize=False, add_generation_prompt=True)
    return head, whole_c[len(head):], whole_r[len(head):]


def sequence(prompt: str, answer: str, eos: str) -> str:
    """``__getitem__``'s text of one side."""
    text = (prompt + answer).rstrip("\n")
    return text if text.endswith(eos) else text + " " + eos


@dataclass(slots=True)
class OpenRlhfLengths(PairCounts):
    """One row as OpenRLHF trains on it: its sequences (prompt + answer, tokenized together) before and after the cut."""

    chosen_sequence: int
    rejected_sequence: int
    chosen_eos_forced: bool  # the cut's last token was overwritten by EOS
    rejected_eos_forced: bool
    max_len: int
    dpo: bool
    drop: str | None = None

    @property
    def total(self) -> int:
        return max(self.chosen_sequence, self.rejected_sequence)

    @property
    def truncated(self) -> bool:
        return self.drop is None and self.total > self.max_len

    @property
    def lost_eos(self) -> bool:
        return False  # OpenRLHF writes EOS over the last token kept: the cut shows as eos_forced

    def to_json(self, index: int) -> dict[str, Any]:
        kept = lambda n: min(n, self.max_len)  # noqa: E731
        return {"index": index, "prompt": self.prompt, "prompt_ids_len": self.prompt_kept, "chosen": self.chosen,
                "rejected": self.rejected,
                "chosen_sequence": self.chosen_sequence, "rejected_sequence": self.rejected_sequence,
                "chosen_sequence_kept": kept(self.chosen_sequence), "rejected_sequence_kept": kept(self.rejected_sequence),
                "chosen_eos_forced": self.chosen_eos_forced, "rejected_eos_forced": self.rejected_eos_forced,
                "dropped": self.drop or False}

    def problems(self) -> list[tuple[str, str, str, str]]:
        if self.drop:
            return [(DROPPED, "error", "prompt", f"the prompt is {self.prompt:,} tokens, max_len {self.max_len:,}: "
                     "OpenRLHF's DPO leaves out a row whose prompt reaches max_len - 2, and says nothing")]
        found = []
        empty = [side for side, length, kept in self.answers() if length and kept <= 1]
        if empty:
            found.append(("openrlhf_answer_cut_off", "error", empty[0], f"max_len {self.max_len:,} keeps none of the "
                          f"{' and '.join(empty)} answer but the EOS written over the prompt's last token"))
        forced = [side for side in ("chosen", "rejected") if getattr(self, f"{side}_eos_forced")]
        if forced and not empty:
            found.append(("openrlhf_eos_overwrites", "warning", forced[0], f"max_len {self.max_len:,} cuts the "
                          f"{' and '.join(forced)} sequence and OpenRLHF writes EOS over its last token kept: the "
                          "model learns to stop in mid-answer"))
        return found


class OpenRlhfCounter:
    """OpenRLHF's RewardDataset counts for one tokenizer (its own chat template), method (DPO or RM) and max_len."""

    limit_name = "max_len"

    def __init__(self, options: TokenOptions, dpo: bool = True) -> None:
        self.cutoff_len = options.cutoff_len or DEFAULT_MAX_LEN
        self.dpo = dpo
        self.tokenizer = load_tokenizer(options.model, options.trust_remote_code)
        self.eos, self.eos_id = self.tokenizer.eos_token, self.tokenizer.eos_token_id

    def limits(self) -> dict[str, Any]:
        return {"model": self.tokenizer.name_or_path, "template": "the tokenizer's chat template",
                "template_source": "given", "cutoff_len": self.cutoff_len, "max_len": self.cutoff_len,
                "method": "dpo" if self.dpo else "rm"}

    def notes(self) -> list[tuple[str, str, str]]:
        return []

    def _encode(self, values: list[str]) -> list[list[int]]:
        return self.tokenizer(values, add_special_tokens=False)["input_ids"] if values else []

    def measure(self, rows: list[dict[str, Any]]) -> list[OpenRlhfLengths]:
        found = [texts(row, self.tokenizer.apply_chat_template, self.dpo) for row in rows]
        flat = [t for p, c, r in found for t in (p, sequence(p, c, self.eos), sequence(p, r, self.eos))]
        ids = self._encode(flat)
        return [self._lengths(*ids[3 * i:3 * i + 3]) for i in range(len(rows))]

    def _lengths(self, prompt: list[int], chosen: list[int], rejected: list[int]) -> OpenRlhfLengths:
        m = self.cutoff_len
        p = len(prompt)  # process_data tokenizes it with truncation at max_len: its prompt_ids_len is min(p, m)
        forced = [len(s) > m and s[m - 1] != self.eos_id for s in (chosen, rejected)]
        kept = [min(len(s), m) for s in (chosen, rejected)]
        same = chosen[:m - 1] == rejected[:m - 1] and kept[0] == kept[1]
        drop = DROPPED if self.dpo and p >= m - 2 else None
        return OpenRlhfLengths(p, max(len(chosen) - p, 0), max(len(rejected) - p, 0), min(p, m),
                               max(kept[0] - p, 0), max(kept[1] - p, 0), same, len(chosen), len(rejected),
                               forced[0], forced[1], m, self.dpo, drop)
