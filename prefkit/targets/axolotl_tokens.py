"""axolotl's length rules at ``sequence_len`` (``axolotl/utils/data/rl.py`` of 0.19.0; tests/tools/axolotl_oracle.py
runs that code on the same rows), then TRL 1.x's counting of what it keeps (axolotl 0.19 trains with TRL 1.9 and
passes ``max_length = sequence_len``).

Every text is tokenized alone, as a plain string without special tokens. ``drop`` (the default) keeps a row when
prompt + chosen and prompt + rejected each fit ``sequence_len`` (KTO: prompt + completion) and logs only a count.
``truncate`` cuts each answer that does not fit to its first ``sequence_len - prompt`` tokens and decodes them back
to text; the row is then measured again as ``drop`` measures it (decoding and re-tokenizing may not give the same
tokens), and a row that still does not fit (a prompt that fills ``sequence_len``) is dropped. ``raise`` stops the run
on the first row that does not fit. An empty prompt or answer raises (ValueError) in every strategy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .axolotl_rows import transform
from .base import TokenOptions
from .trl_tokens import TrlCounter

STRATEGIES = ("drop", "truncate", "raise")
DEFAULT_SEQUENCE_LEN = 512  # axolotl's AxolotlInputConfig default
DROPPED = "axolotl_exceeds_sequence_len"
RAISES = "axolotl_raises_on_length"


@dataclass(slots=True)
class AxolotlLengths:
    """One row at ``sequence_len``: axolotl's plain-text counts, what its strategy did, and TRL's lengths of the rest."""

    answers_full: dict[str, int]  # side -> tokens, before any cut
    answers_after: dict[str, int]  # side -> tokens after truncate's decode, re-tokenized
    prompt: int
    sequence_len: int
    strategy: str
    cut_text: bool  # truncate rewrote an answer
    trl: Any = None  # TRL's lengths of the kept row, or None
    drop: str | None = None

    @property
    def prompt_kept(self) -> int:
        return self.trl.prompt_kept if self.trl is not None else 0

    @property
    def total(self) -> int:
        return self.prompt + max(self.answers_full.values())

    @property
    def truncated(self) -> bool:
        return self.drop is None and (self.cut_text or self.trl.truncated)

    @property
    def became_identical(self) -> bool:
        return self.trl is not None and self.trl.became_identical

    @property
    def lost_eos(self) -> bool:
        return self.drop is None and (self.cut_text or self.trl.lost_eos)

    @property
    def chosen_kept(self) -> int:
        return self.trl.chosen_kept if self.trl is not None else 0

    def answers(self) -> list[tuple[str, int, int]]:
        sides = {"completion": "chosen"} if "completion" in self.answers_full else {}
        kept = dict((side, k) for side, _, k in self.trl.answers()) if self.trl is not None else {}
        return [(sides.get(s, s), n, min(n, kept.get(sides.get(s, s), 0))) for s, n in self.answers_full.items()]

    def to_json(self, index: int) -> dict[str, Any]:
        return {"index": index, "prompt": self.prompt, **self.answers_full,
                **{f"{s}_after": n for s, n in self.answers_after.items()}, "strategy": self.strategy,
                "dropped": self.drop or False, "trl": self.trl.to_json(index) if self.trl is not None else None}

    def problems(self) -> list[tuple[str, str, str, str]]:
        need = f"{self.total:,} tokens (prompt {self.prompt:,})"
        if self.drop == RAISES:
            return [(RAISES, "error", "", f"needs {need}, sequence_len {self.sequence_len:,}: excess_length_strategy "
                     "raise stops the run (ValueError) on this row")]
        if self.drop == DROPPED:
            why = "the prompt alone fills it, so truncate drops the row" if self.strategy == "truncate" else \
                "axolotl drops the row and logs only a count"
            return [(DROPPED, "error", "", f"needs {need}, sequence_len {self.sequence_len:,}: {why}")]
        found = []
        if self.cut_text:
            cut = [s for s in self.answers_full if self.answers_after[s] < self.answers_full[s]]
            found.append(("axolotl_truncated", "warning", cut[0] if cut else "", f"sequence_len {self.sequence_len:,}: "
                          f"excess_length_strategy truncate cuts the {' and '.join(cut)} text (decoded back): its "
                          "end-of-turn is lost"))
        return found + [p for p in self.trl.problems() if p[0] != "trl_tools_ignored"]


def encode(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


class AxolotlCounter:
    """axolotl's rules for one tokenizer, dataset type, rl method and strategy; TRL 1.x's counts of the rest."""

    limit_name = "sequence_len"

    def __init__(self, options: TokenOptions, entry: dict[str, Any]) -> None:
        self.kto = entry.get("rl") == "kto"
        self.kind, self.strategy = entry["type"], entry.get("excess_length_strategy") or "drop"
        trl_options = TokenOptions(options.model, options.cutoff_len or DEFAULT_SEQUENCE_LEN,
                                   trust_remote_code=options.trust_remote_code, trl_version="1")
        self.trl = TrlCounter(trl_options, kto=self.kto)
        self.tokenizer, self.cutoff_len = self.trl.tokenizer, self.trl.cutoff_len

    def limits(self) -> dict[str, Any]:
        return {**self.trl.limits(), "sequence_len": self.cutoff_len, "excess_length_strategy": self.strategy,
                "type": self.kind, "rl": "kto" if self.kto else "dpo", "trl_version": "TRL 1.x (axolotl 0.19: TRL 1.9)"}

    def notes(self) -> list[tuple[str, str, str]]:
        return []

    def measure(self, rows: list[dict[str, Any]]) -> list[AxolotlLengths]:
        return [self.one(row) for row in rows]

    def one(self, row: dict[str, Any]) -> AxolotlLengths:
        sample = transform(row, self.kind, self.kto, self.tokenizer)
        sides = ("completion",) if self.kto else ("chosen", "rejected")
        if not all(sample.get(k) for k in ("prompt", *sides)):  # _drop_long_sequences
            raise ValueError("an empty prompt or answer: axolotl raises (Prompt, chosen and rejected keys are "
                             "required) and the run stops")
        m, tok = self.cutoff_len, self.tokenizer
        prompt = len(encode(tok, sample["prompt"]))
        ids = {s: encode(tok, sample[s]) for s in sides}
        full = {s: len(v) for s, v in ids.items()}
        fits = lambda lengths: all(prompt + n <= m for n in lengths.values())  # noqa: E731
        after, cut = dict(full), False
        lengths = AxolotlLengths(full, after, prompt, m, self.strategy, False)
        if fits(full):
            pass
        elif self.strategy == "raise":
            lengths.drop = RAISES
            return lengths
        elif self.strategy == "truncate" and m - prompt > 0:
            for s in sides:
                if full[s] > m - prompt:
                    sample = {**sample, s: tok.decode(ids[s][:m - prompt], skip_special_tokens=False)}
                    after[s], cut = len(encode(tok, sample[s])), True
        lengths.cut_text = cut
        if not fits(after):
            lengths.drop = DROPPED
            return lengths
        trl_row = {"prompt": sample["prompt"], **{s: sample[s] for s in sides}}
        if self.kto:
            trl_row["label"] = bool(row.get("label"))
        lengths.trl = self.trl.measure([trl_row])[0]
        lengths.drop = lengths.trl.drop  # TRL 1.x's own drop (a prompt that fills max_length)
        return lengths
