"""TRL's token counts of a row, and what ``max_length`` cuts and drops, for TRL 0.24 (what LLaMA-Factory installs)
and TRL 1.x. Each step is TRL's (docs/notes/trl-tokenization.md names the functions); the parity tests run TRL's own
code on the same rows (tests/tools/trl_oracle.py).

DPO, 0.24: the prompt is rendered with the chat template and the generation prompt, each completion as the rest of
prompt + completion rendered (``maybe_apply_chat_template``); the three texts are tokenized apart, EOS appended to
each completion, the prompt cut to its last ``max_prompt_length`` tokens (``tokenize_row``); each sequence is then cut
to ``max_length`` from the left (``keep_end``) or the right (``concatenated_forward``). Nothing is dropped.
DPO, 1.x: prompt, prompt + chosen and prompt + rejected are tokenized whole; the prompt is their common start; each
sequence is cut to ``max_length`` by the collator, and with ``keep_start`` a row whose prompt alone fills
``max_length`` is dropped before training without a word (#6321).
KTO, 0.24: prompt and prompt + completion are tokenized (``_tokenize``), then ``_process_tokens`` cuts the prompt to
``max_prompt_length`` and the completion to what is left, and adds BOS and EOS. KTO, 1.x: as DPO 1.x with one
completion; a row whose prompt fills ``max_length`` is always dropped. The KL term's mismatched completions are not
measured (TRL pairs them by batch position, and takes their log-probabilities without a gradient).
"""

from __future__ import annotations

import importlib.metadata
import json
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from .base import PairCounts, TokenOptions
from .tokens import load_tokenizer
from .trl_rows import explicit

VERSIONS = ("0.24", "1")
BIG = 1 << 40  # a limit that cuts nothing
DEFAULTS = {  # (version, kto) -> TRL's config defaults: max_length, max_prompt_length, truncation_mode
    ("0.24", False): (1024, 512, "keep_end"), ("0.24", True): (1024, 512, "keep_end"),
    ("1", False): (1024, None, "keep_start"), ("1", True): (1024, None, "keep_start"),
}
DROPPED = "trl_prompt_fills_max_length"


def resolve_version(wanted: str) -> tuple[str, str]:
    """(the rules to follow, where they come from): "auto" is the TRL installed here, else the current TRL (1.x)."""
    if wanted in VERSIONS:
        return wanted, f"TRL {wanted} (given)"
    if wanted != "auto":
        raise UsageError(f"--trl-version {wanted}: choose auto, {' or '.join(VERSIONS)}")
    try:
        installed = importlib.metadata.version("trl")
    except importlib.metadata.PackageNotFoundError:
        return "1", "TRL 1.x (TRL is not installed here: the current TRL's rules)"
    return ("0.24" if installed.split(".")[0] == "0" else "1"), f"TRL {installed} (installed here)"


def common_prefix(a: Any, b: Any) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def cut(length: int, first: int, keep_start: bool, limit: int) -> tuple[int, int]:
    """What ``limit`` keeps of a sequence of ``first`` tokens then ``length - first``: (first kept, rest kept)."""
    if length <= limit:
        return first, length - first
    if keep_start:
        return min(first, limit), max(0, limit - first)
    rest = length - first
    return max(0, limit - rest), min(rest, limit)


TOOLS_IGNORED = ("trl_tools_ignored", "warning", "tools", "TRL 0.24 renders the chat template without the row's tools "
                 "(it takes tools from the config's tools only): the model never sees them")


def dropped(prompt: int, max_length: int) -> tuple[str, str, str, str]:
    return (DROPPED, "error", "prompt", f"the prompt alone is {prompt:,} tokens, max_length {max_length:,}: TRL drops "
            "the row before training, and says nothing")


@dataclass(slots=True)
class TrlPairLengths(PairCounts):
    """One DPO row as TRL trains on it: TRL's counts before any cut, and what reaches the model."""

    prompt_kept_rejected: int  # prompt_kept is with the chosen sequence; this, with the rejected one (keep_end)
    max_length: int
    drop: str | None = None
    tools_ignored: bool = False  # 0.24 renders without the row's tools

    @property
    def total(self) -> int:
        return self.prompt + max(self.chosen, self.rejected)

    @property
    def truncated(self) -> bool:
        return self.drop is None and (min(self.prompt_kept, self.prompt_kept_rejected), self.chosen_kept,
                                      self.rejected_kept) != (self.prompt, self.chosen, self.rejected)

    @property
    def lost_eos(self) -> bool:
        return self.drop is None and (self.chosen_kept < self.chosen or self.rejected_kept < self.rejected)

    def to_json(self, index: int) -> dict[str, Any]:
        return {"index": index, "prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected,
                "prompt_kept": self.prompt_kept, "prompt_kept_rejected": self.prompt_kept_rejected,
                "chosen_kept": self.chosen_kept, "rejected_kept": self.rejected_kept, "dropped": self.drop or False}

    def problems(self) -> list[tuple[str, str, str, str]]:
        if self.drop:
            return [dropped(self.prompt, self.max_length)]
        empty = [side for side, length, kept in self.answers() if length and not kept]
        found = [("trl_answer_cut_off", "error", empty[0], f"max_length {self.max_length:,} keeps none of the "
                  f"{' and '.join(empty)} answer: the pair trains on nothing")] if empty else []
        return found + ([TOOLS_IGNORED] if self.tools_ignored else [])


@dataclass(slots=True)
class TrlKtoLengths:
    """One KTO row as TRL trains on it."""

    prompt: int
    completion: int
    prompt_kept: int
    completion_kept: int
    desirable: bool
    max_length: int
    drop: str | None = None
    tools_ignored: bool = False

    @property
    def total(self) -> int:
        return self.prompt + self.completion

    @property
    def truncated(self) -> bool:
        return self.drop is None and (self.prompt_kept, self.completion_kept) != (self.prompt, self.completion)

    @property
    def became_identical(self) -> bool:
        return False

    @property
    def lost_eos(self) -> bool:
        return self.drop is None and self.completion_kept < self.completion

    def answers(self) -> list[tuple[str, int, int]]:
        return [("chosen" if self.desirable else "rejected", self.completion, self.completion_kept)]

    def to_json(self, index: int) -> dict[str, Any]:
        return {"index": index, "label": self.desirable, "prompt": self.prompt, "completion": self.completion,
                "prompt_kept": self.prompt_kept, "completion_kept": self.completion_kept,
                "dropped": self.drop or False}

    def problems(self) -> list[tuple[str, str, str, str]]:
        if self.drop:
            return [dropped(self.prompt, self.max_length)]
        found = [("trl_answer_cut_off", "error", "completion", f"max_length {self.max_length:,} keeps none of the "
                  "completion: the example trains on nothing")] if self.completion and not self.completion_kept else []
        return found + ([TOOLS_IGNORED] if self.tools_ignored else [])


class TrlCounter:
    """TRL's token counts for one tokenizer (its own chat template), version and limits."""

    limit_name = "max_length"

    def __init__(self, options: TokenOptions, kto: bool = False) -> None:
        self.version, self.version_source = resolve_version(options.trl_version)
        self.kto = kto
        max_length, max_prompt_length, mode = DEFAULTS[(self.version, kto)]
        if self.version == "1" and options.max_prompt_length is not None:
            raise UsageError("--max-prompt-length: TRL 1.x has no max_prompt_length (its configs cut the whole "
                             "sequence at max_length); use --trl-version 0.24 for TRL 0.x")
        if options.truncation_mode not in (None, "keep_end", "keep_start"):
            raise UsageError(f"--truncation-mode {options.truncation_mode}: choose keep_end or keep_start")
        if self.version == "1" and kto and options.truncation_mode == "keep_end":
            raise UsageError("--truncation-mode keep_end: TRL 1.x's KTO keeps the start of each sequence only")
        self.cutoff_len = options.cutoff_len or max_length
        self.max_prompt_length = options.max_prompt_length or max_prompt_length
        self.truncation_mode = options.truncation_mode or mode
        self.tokenizer = load_tokenizer(options.model, options.trust_remote_code)
        self.eos_id = self.tokenizer.eos_token_id
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        self._backend = backend if getattr(self.tokenizer, "is_fast", False) else None

    def limits(self) -> dict[str, Any]:
        return {"model": self.tokenizer.name_or_path, "template": "the tokenizer's chat template",
                "template_source": "given", "cutoff_len": self.cutoff_len, "max_length": self.cutoff_len,
                "max_prompt_length": self.max_prompt_length, "truncation_mode": self.truncation_mode,
                "trl_version": self.version_source}

    def notes(self) -> list[tuple[str, str, str]]:
        return []

    # --- tokenizing ----------------------------------------------------------------------------------

    def _encode(self, texts: list[str], special: bool) -> list[list[int]]:
        if not texts:
            return []
        if self._backend is not None:
            return [e.ids for e in self._backend.encode_batch(texts, add_special_tokens=special)]
        return self.tokenizer(texts, add_special_tokens=special)["input_ids"]

    def _render(self, messages: list[dict[str, Any]], tools: Any = None, **kwargs: Any) -> str:
        return self.tokenizer.apply_chat_template(messages, tools=tools, tokenize=False, **kwargs)

    def _prompt_kwargs(self, prompt: list[dict[str, Any]]) -> dict[str, bool]:
        """0.24's maybe_apply_chat_template: the generation prompt after a user turn, the last turn continued after
        an assistant one; any other last role raises."""
        last = prompt[-1].get("role")
        if last == "user":
            return {"add_generation_prompt": True, "continue_final_message": False}
        if last == "assistant":
            return {"add_generation_prompt": False, "continue_final_message": True}
        raise ValueError(f"Invalid role in the last message: {last}")

    def _texts_v0(self, row: dict[str, Any], answers: tuple[str, ...]) -> list[str]:
        """0.24: the prompt and each completion as texts (the completion: the rest of prompt + completion)."""
        prompt = row["prompt"]
        if isinstance(prompt, str):
            return [prompt, *(row[k] for k in answers)]
        text = self._render(prompt, **self._prompt_kwargs(prompt))
        rest = []
        for key in answers:
            whole = self._render(prompt + row[key])
            text = text[:common_prefix(text, whole)]
            rest.append(whole[len(text):])
        return [text, *rest]

    def _texts_v1(self, row: dict[str, Any], answers: tuple[str, ...]) -> tuple[list[str], bool]:
        """1.x: the prompt and each prompt + completion as texts, and whether they take special tokens."""
        prompt = row["prompt"]
        if isinstance(prompt, str):
            eos = self.tokenizer.eos_token or ""
            ends = [row[k] if row[k].endswith(eos) else row[k] + eos for k in answers]
            return [prompt, *(prompt + end for end in ends)], True
        tools = row.get("tools")
        tools = json.loads(tools) if isinstance(tools, str) else tools
        return [self._render(prompt, tools, add_generation_prompt=True),
                *(self._render(prompt + row[k], tools) for k in answers)], False

    # --- measuring -----------------------------------------------------------------------------------

    def measure(self, rows: list[dict[str, Any]]) -> list[TrlPairLengths] | list[TrlKtoLengths]:
        answers = ("completion",) if self.kto else ("chosen", "rejected")
        if not self.kto:
            rows = [explicit(row, self.version) for row in rows]
        if self.version == "0.24":
            texts = [self._texts_v0(row, answers) for row in rows]
            if self.kto:  # _tokenize: the prompt, and prompt + completion, tokenized whole
                ids = self._encode([t for p, c in texts for t in (p, p + c)], False)
                found = [self._kto_v0(ids[2 * i], ids[2 * i + 1], row) for i, row in enumerate(rows)]
            else:
                ids = self._encode([t for triple in texts for t in triple], False)
                found = [self._pair_v0(*ids[3 * i:3 * i + 3]) for i in range(len(rows))]
            for lengths, row in zip(found, rows, strict=True):
                lengths.tools_ignored = bool(row.get("tools")) and not isinstance(row["prompt"], str)
            return found
        found = [self._texts_v1(row, answers) for row in rows]
        width = 1 + len(answers)
        plain = [i for i, (_, special) in enumerate(found) if not special]
        special = [i for i, (_, s) in enumerate(found) if s]
        ids: dict[int, list[list[int]]] = {}
        for group, flag in ((plain, False), (special, True)):
            encoded = self._encode([t for i in group for t in found[i][0]], flag)
            ids.update((i, encoded[k * width:(k + 1) * width]) for k, i in enumerate(group))
        if self.kto:
            return [self._kto_v1(ids[i][0], ids[i][1], rows[i]) for i in range(len(rows))]
        return [self._pair_v1(*ids[i]) for i in range(len(rows))]

    def _pair_v0(self, prompt: list[int], chosen: list[int], rejected: list[int]) -> TrlPairLengths:
        chosen, rejected = chosen + [self.eos_id], rejected + [self.eos_id]  # tokenize_row
        kept_prompt = len(prompt[-self.max_prompt_length:]) if self.max_prompt_length else len(prompt)
        return self._cut_pair(len(prompt), kept_prompt, chosen, rejected)

    def _pair_v1(self, prompt: list[int], with_chosen: list[int], with_rejected: list[int]) -> TrlPairLengths:
        p = min(common_prefix(prompt, with_chosen), common_prefix(prompt, with_rejected))
        chosen, rejected = with_chosen[p:], with_rejected[p:]
        if self.truncation_mode == "keep_start" and p >= self.cutoff_len:
            return TrlPairLengths(p, len(chosen), len(rejected), 0, 0, 0, False, 0, self.cutoff_len, DROPPED)
        return self._cut_pair(p, p, chosen, rejected)

    def _cut_pair(self, prompt: int, kept_prompt: int, chosen: list[int], rejected: list[int]) -> TrlPairLengths:
        """What max_length keeps of prompt + chosen and prompt + rejected, each cut on its own (both versions), and
        whether the kept answers are the same ids."""
        keep_start, m = self.truncation_mode == "keep_start", self.cutoff_len
        pc, c = cut(kept_prompt + len(chosen), kept_prompt, keep_start, m)
        pr, r = cut(kept_prompt + len(rejected), kept_prompt, keep_start, m)
        same = c == r and (chosen[:c] if keep_start else chosen[len(chosen) - c:]) == \
            (rejected[:r] if keep_start else rejected[len(rejected) - r:])
        return TrlPairLengths(prompt, len(chosen), len(rejected), pc, c, r, same, pr, m)

    def _kto_v0(self, prompt: list[int], whole: list[int], row: dict[str, Any]) -> TrlKtoLengths:
        start = len(prompt) if prompt == whole[:len(prompt)] else len(prompt) - 1  # _tokenize: a merged last token
        prompt, answer = whole[:start], whole[start:]
        full = self._process_tokens(prompt, answer, BIG, BIG)
        kept = self._process_tokens(prompt, answer, self.cutoff_len, self.max_prompt_length)
        return TrlKtoLengths(*full, *kept, bool(row["label"]), self.cutoff_len)

    def _process_tokens(self, prompt: list[int], answer: list[int], max_length: int, max_prompt_length: int
                        ) -> tuple[int, int]:
        """0.24's _process_tokens: (prompt tokens, completion tokens) after its cuts, with the BOS and EOS it adds."""
        bos, eos = self.tokenizer.bos_token_id, self.eos_id
        limit = max_length - (bool(prompt) and prompt[0] != bos) - (bool(answer) and answer[-1] != eos)
        if len(prompt) + len(answer) > limit:
            prompt = prompt[:max_prompt_length] if self.truncation_mode == "keep_start" else prompt[-max_prompt_length:]
        if len(prompt) + len(answer) > limit:
            answer = answer[:limit - max_prompt_length]
        p = len(prompt) + (bos is not None and (not prompt or prompt[0] != bos))
        return p, len(answer) + (not answer or answer[-1] != eos)

    def _kto_v1(self, prompt: list[int], whole: list[int], row: dict[str, Any]) -> TrlKtoLengths:
        p = common_prefix(prompt, whole)
        completion, m = len(whole) - p, self.cutoff_len
        if p >= m:
            return TrlKtoLengths(p, completion, 0, 0, bool(row["label"]), m, DROPPED)
        return TrlKtoLengths(p, completion, *cut(p + completion, p, True, m), bool(row["label"]), m)
