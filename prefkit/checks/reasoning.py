"""Reasoning findings: what LLaMA-Factory's reasoning templates do with the thoughts (``<think>...</think>``) in a
row, under ``enable_thinking`` and ``preserve_thinking`` (docs/reasoning.md names each code and what to do).

LLaMA-Factory's ``ReasoningTemplate.encode_oneturn`` strips the thoughts of history answers (unless 0.9.5's
``preserve_thinking``), strips the answer's with ``enable_thinking: false``, and gives an answer with neither
thought word an empty thought (trained with ``true``, in the masked prompt otherwise). It strips with a regex of its
thought words exactly as written (0.9.5's ``<think>\\n`` ... ``\\n</think>\\n\\n``), so a thought written otherwise
stays; it looks for the words stripped of whitespace, so such a thought also gets no empty one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..speakers import same_text
from ..vocab import ANSWER_ROLES
from .acceptance import Aligned
from .findings import Findings

DEFAULT_WORDS = ("<think>", "</think>")  # the words looked for when the template is not known
LISTED = 10  # record indices a dataset-level finding names
# Each code, its level and what it says (docs/reasoning.md has what to do about each).
CODES = {
    "thought_in_one_answer": "warning",  # only one answer of a pair thinks: DPO learns the thought as the preference
    "thought_unclosed": "warning",  # an opening thought word without its closing one: never stripped
    "thought_closing_only": "warning",  # a closing thought word without an opening one: never stripped
    "thought_not_stripped": "warning",  # the setting strips it, but its whitespace is not the template's words'
    "thought_stripped": "warning",  # enable_thinking: false strips the answer's thought: the answer trains without it
    "identical_after_thought_stripped": "error",  # the answers differ only by thoughts the setting strips: no signal
    "history_thought_stripped": "warning",  # the thoughts of history answers go (preserve_thinking: false)
    "reasoning_template_without_thoughts": "warning",  # a reasoning template, and no record thinks
    "thoughts_without_reasoning_template": "warning",  # records think, and the template is not a reasoning one
    "preserve_thinking_unsupported": "warning",  # preserve_thinking on a release without it
    "thinking_option_ignored": "info",  # enable_thinking / preserve_thinking with a template that is not reasoning
}

Add = Callable[[str, str, str, str], None]  # (code, level, path, message) for the row at hand


def _short(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


@dataclass(frozen=True)
class Thinking:
    """A template's thought handling as LLaMA-Factory sets it up: its thought words, whether its class is a
    ReasoningTemplate, and the data arguments get_template_and_fix_tokenizer gives it."""

    template: str | None  # None: not known (validate without --model or --template)
    reasoning: bool = False
    words: tuple[str, str] = DEFAULT_WORDS
    enable_thinking: bool | None = True
    preserve_thinking: bool = False
    has_preserve: bool = True  # the release has preserve_thinking (0.9.5; 0.9.3 always strips history)
    empty: str = "<think>\n\n</think>\n\n"  # the empty thought the template adds (add_thought())
    nothink: str | None = None  # the template's ``_nothink`` twin, where the release has one
    release: str = ""
    _exact: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        start, end = self.words
        object.__setattr__(self, "_exact", re.compile(f"{re.escape(start)}(.*?){re.escape(end)}", re.DOTALL))

    @classmethod
    def of(cls, template: Any, name: str, enable_thinking: bool | None, preserve_thinking: bool,
           names: Any = (), release: str = "") -> Thinking:
        """From a template object: prefkit's FastTemplate (its ``reasoning`` variant) or LLaMA-Factory's own."""
        variant = getattr(template, "reasoning", None) if hasattr(template, "variant") else None
        reasoning = bool(variant) or any(c.__name__ == "ReasoningTemplate" for c in type(template).__mro__)
        has_preserve = variant == "0.9.5" if variant else hasattr(template, "preserve_thinking")
        words = tuple(getattr(template, "thought_words", DEFAULT_WORDS))
        empty = template.add_thought() if reasoning and hasattr(template, "add_thought") else ""
        nothink = f"{name}_nothink" if f"{name}_nothink" in names else None
        return cls(name, reasoning, words, enable_thinking, preserve_thinking, has_preserve, empty, nothink,
                   release)  # type: ignore[arg-type]

    @property
    def markers(self) -> tuple[str, str]:
        """What LLaMA-Factory looks for to tell that an answer has a thought (0.9.5: the words stripped)."""
        return self.words[0].strip(), self.words[1].strip()

    def remove(self, text: str) -> str:
        """LLaMA-Factory's ``remove_thought`` (the same in 0.9.3 and 0.9.5)."""
        return self._exact.sub("", text).lstrip("\n")

    @property
    def strips_history(self) -> bool:
        return self.reasoning and not (self.has_preserve and self.preserve_thinking)

    def describe(self) -> dict[str, Any]:
        """The report's ``tokens`` header: the settings a reasoning template renders with."""
        if not self.reasoning:
            return {}
        return {"enable_thinking": self.enable_thinking,
                **({"preserve_thinking": self.preserve_thinking} if self.has_preserve else {})}

    def notes(self) -> list[tuple[str, str, str]]:
        """(code, level, message) about the set-up, once."""
        where = f"LLaMA-Factory {self.release}".strip()
        out = []
        if self.preserve_thinking and not self.has_preserve and self.reasoning:
            out.append(("preserve_thinking_unsupported", "warning", f"preserve_thinking: {where} has no such data "
                        "argument (its parser refuses the key) and always strips history thoughts; counted without it"))
        if not self.reasoning and (self.enable_thinking is not True or self.preserve_thinking):
            out.append(("thinking_option_ignored", "info", f"enable_thinking / preserve_thinking change nothing: "
                        f"template {self.template!r} is not a reasoning template"))
        return out


@dataclass(slots=True)
class Thought:
    """The thought words in one message's text."""

    has: bool  # a thought word (as LLaMA-Factory looks for them) is in the text
    unclosed: bool
    closing_only: bool
    loose: int  # thought blocks, whatever their whitespace
    exact: int  # thought blocks written as the template's words: what remove_thought strips


def thought(text: Any, thinking: Thinking) -> Thought:
    if not isinstance(text, str):
        return Thought(False, False, False, 0, 0)
    start, end = thinking.markers
    first_start, first_end = text.find(start), text.find(end)
    has = first_start >= 0 or first_end >= 0
    if not has:
        return Thought(False, False, False, 0, 0)
    closing_only = first_end >= 0 and (first_start < 0 or first_end < first_start)
    unclosed = first_start >= 0 and end not in text[text.rindex(start):]
    loose = len(re.findall(f"{re.escape(start)}.*?{re.escape(end)}", text, re.DOTALL))
    return Thought(True, unclosed, closing_only, loose, len(thinking._exact.findall(text)))


def _quoted(words: tuple[str, str]) -> str:
    return f"{words[0]!r}...{words[1]!r}"


def row_findings(row: Aligned, thinking: Thinking, kto: bool, add: Add) -> bool:
    """The reasoning findings of one row LLaMA-Factory keeps; returns whether the row has a thought."""
    start, end = thinking.markers
    answers = row.response[:2]
    if kto and len(answers) == 2:
        answers = [answers[0] if answers[0]["content"] else answers[1]]
    names = ("answer",) if kto else ("chosen", "rejected")
    found = False
    history = [(f"prompt[{i}]", m) for i, m in enumerate(row.prompt) if m["role"] in ANSWER_ROLES]
    stripped_history = []
    for path, message in [*history, *zip(names, answers, strict=False)]:
        seen = thought(message["content"], thinking)
        if not seen.has:
            continue
        found = True
        is_answer = not path.startswith("prompt[")
        if seen.unclosed:
            add("thought_unclosed", "warning", path, f"{start!r} without a closing {end!r}: LLaMA-Factory never "
                "strips it (not even with enable_thinking: false) and trains it as written")
        elif seen.closing_only:
            add("thought_closing_only", "warning", path, f"{end!r} without an opening {start!r} before it: "
                "LLaMA-Factory never strips it (not even with enable_thinking: false) and trains it as written")
        if not thinking.reasoning:
            continue
        strips = thinking.strips_history if not is_answer else thinking.enable_thinking is False
        if strips and seen.loose > seen.exact:
            what = ("stays in the prompt LLaMA-Factory trains this answer after" if not is_answer else
                    "stays in the trained answer, and no empty thought is added")
            add("thought_not_stripped", "warning", path, f"a thought not written exactly as {thinking.template}'s "
                f"thought words {_quoted(thinking.words)} ({seen.loose - seen.exact} of {seen.loose}): LLaMA-Factory "
                f"{thinking.release} strips only those, so where it would strip it ("
                f"{'history' if not is_answer else 'enable_thinking: false'}) it {what}")
        elif strips and seen.exact and not is_answer:
            stripped_history.append(path)
        elif strips and seen.exact:
            left = thinking.remove(message["content"])
            extra = ("an empty thought goes into the masked prompt" if start not in left and end not in left
                     else "a thought word is left, so no empty thought is added")
            whose = "the answer's" if path == "answer" else f"the {path} answer's"
            add("thought_stripped", "warning", path, f"enable_thinking: false strips {whose} thought: "
                f"LLaMA-Factory trains {_short(left)} without it ({extra})")
    if stripped_history:
        why = "preserve_thinking: false" if thinking.has_preserve else \
            f"LLaMA-Factory {thinking.release} always strips them"
        add("history_thought_stripped", "warning", stripped_history[0], f"the thoughts of {', '.join(stripped_history)} "
            f"are stripped ({why}): the model trains this answer after a history without them")
    if not kto and len(answers) == 2:
        _answers_trained(answers, thinking, add)
    return found


def _answers_trained(answers: list[dict[str, Any]], thinking: Thinking, add: Add) -> None:
    """After what the setting strips: identical_after_thought_stripped (the answers differ only by their thoughts),
    or thought_in_one_answer (one answer of the pair thinks and the other not)."""
    strip = thinking.reasoning and thinking.enable_thinking is False
    trained = [thinking.remove(a["content"]) if strip and isinstance(a["content"], str) else a["content"]
               for a in answers]
    raw = [a["content"] for a in answers]
    if strip and all(isinstance(t, str) for t in (*trained, *raw)) and same_text(trained[0], trained[1]) \
            and not same_text(raw[0], raw[1]):  # the same text as written is identical_answers (content checks)
        add("identical_after_thought_stripped", "error", "chosen", f"chosen and rejected differ only by their "
            f"thoughts, and enable_thinking: false strips them: LLaMA-Factory trains {_short(trained[0])} for both, "
            "no preference signal left")
        return
    has = [thought(t, thinking).has for t in trained]
    if has[0] == has[1]:
        return
    side, other = ("chosen", "rejected") if has[0] else ("rejected", "chosen")
    empty = ""
    if thinking.reasoning:
        empty = (f"; LLaMA-Factory gives the {other} answer an empty thought" if thinking.enable_thinking else
                 "; the rejected answer trains without any thought (enable_thinking: null)"
                 if thinking.enable_thinking is None and other == "rejected" else
                 f"; the {other} answer's empty thought is masked")
    start, end = thinking.markers
    add("thought_in_one_answer", "warning", side, f"only the {side} answer has a thought ({start}...{end}): DPO "
        f"learns the thought itself as the preference{empty}")


class ReasoningSide:
    """The dataset-level reasoning findings: a reasoning template with no thought in the data, and the reverse."""

    def __init__(self, thinking: Thinking | None) -> None:
        self.thinking = thinking
        self.rows = 0
        self.thinking_rows = 0
        self.first: list[int] = []

    def take(self, index: int, measured: bool, has_thought: bool) -> None:
        self.rows += measured
        if has_thought:
            self.thinking_rows += 1
            if len(self.first) < LISTED:
                self.first.append(index)

    def finish(self, findings: Findings) -> None:
        t = self.thinking
        if t is None or t.template is None or not self.rows:
            return
        if t.reasoning and not self.thinking_rows:
            where = "in every answer's labels" if t.enable_thinking else "in every answer's masked prompt"
            fix = f"use template {t.nothink} for a model that does not think" if t.nothink else \
                "set enable_thinking: false, or a template that is not a reasoning one, for a model that does not think"
            findings.add("reasoning_template_without_thoughts", "warning", None, "", f"{t.template} is a reasoning "
                         f"template but no record has a thought ({_quoted(t.words)}): LLaMA-Factory puts the empty "
                         f"thought {t.empty!r} {where}; {fix}", records=self.rows)
        elif not t.reasoning and self.thinking_rows:
            listed = ", ".join(map(str, self.first)) + (", ..." if self.thinking_rows > len(self.first) else "")
            twin = t.template[:-len("_nothink")] if t.template.endswith("_nothink") else None
            fix = f"use template {twin}" if twin else "use the model's reasoning template"
            findings.add("thoughts_without_reasoning_template", "warning", None, "", f"{self.thinking_rows} of "
                         f"{self.rows} records hold thoughts ({_quoted(t.markers)}; records {listed}) but template "
                         f"{t.template} is not a reasoning template: LLaMA-Factory trains them as plain text and never "
                         f"strips them from history; {fix} to have them handled as thoughts", records=self.thinking_rows)
