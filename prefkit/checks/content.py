"""Content checks on what LLaMA-Factory would train on: empty or identical answers, duplicates,
contradictory preferences, length bias, special tokens and control characters in text, speaker markers
(``Human:`` / ``Assistant:`` at a turn boundary, ``prefkit.speakers``) in answers, mixed system prompts,
a user turn that is one text twice (``prompt_repeated``: one column fed into two fields) and a user turn that
holds both answers (``answers_inside_prompt``: a judge's prompt used as data)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..io import files as io
from ..speakers import same_text, speaker_marker
from ..vocab import ROLE_USER
from .acceptance import Aligned
from .findings import Findings

# Template markers that should never appear inside a message's text (checked in addition to the
# tokenizer's own special tokens when one is loaded).
COMMON_SPECIAL = ("<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|start_header_id|>",
                  "<|end_header_id|>", "<|begin_of_text|>", "</s>", "<s>", "[INST]", "[/INST]", "<|user|>",
                  "<|assistant|>", "<|system|>", "<end_of_turn>", "<start_of_turn>")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
# A lone surrogate is no Unicode text: LLaMA-Factory's loader fails on the file (the input layer rejects it as
# invalid_unicode when it reads a file; this catches rows that reached the checks another way).
_SURROGATE = re.compile("[\ud800-\udfff]")
_ODD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd\ud800-\udfff]")  # either of the two: one scan for both
MEMO_CHARS = 8_000_000  # texts kept by TextChecks (~10-30 MB)
LENGTH_BIAS_SHARE = 0.75  # warn when chosen is the longer answer in more than this share of pairs
REPEATED_MIN = 8  # prompt_repeated: the repeated text has at least this many characters ("bye bye" is no mistake)
ANSWER_IN_PROMPT_MIN = 20  # answers_inside_prompt: each answer has at least this many characters (not "Yes")


@dataclass
class ContentStats:
    pairs: int = 0
    chosen_longer: int = 0
    length_ratio_sum: float = 0.0
    system_prompts: set[bytes] = field(default_factory=set)
    exact_seen: set[bytes] = field(default_factory=set)
    prompt_seen: dict[bytes, int] = field(default_factory=dict)
    preferences: dict[bytes, int] = field(default_factory=dict)  # digest(prompt, chosen, rejected) -> first record
    kto_labels: dict[bytes, tuple[bool, int]] = field(default_factory=dict)  # digest(prompt, answer) -> (label, record)

    def to_json(self) -> dict[str, Any]:
        return {"pairs": self.pairs,
                "chosen_longer_share": round(self.chosen_longer / self.pairs, 4) if self.pairs else None,
                "mean_length_ratio": round(self.length_ratio_sum / self.pairs, 4) if self.pairs else None,
                "distinct_system_prompts": len(self.system_prompts)}


@dataclass(slots=True)
class ContentFacts:
    """What the ordered checks need of one row: stable digests (the same in every process) and lengths."""

    system: bytes
    prompt: bytes
    pair: bytes | None = None  # digest of (prompt, chosen, rejected); None for KTO
    reverse: bytes | None = None  # digest of (prompt, rejected, chosen)
    chosen_len: int = 0
    rejected_len: int = 0
    answer: bytes | None = None  # KTO: digest of (prompt, answer)
    label: bool = False  # KTO: desirable


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _digest(value: Any) -> bytes:
    return hashlib.blake2b(io.dumps(value), digest_size=8).digest()


Add = Callable[[str, str, str, str], None]  # (code, level, path, message) for the row at hand


TextFinding = tuple[str, str, str]  # (code, level, message) of one text, wherever it stands


class TextChecks:
    """The checks of one text alone: special tokens, invalid Unicode and control characters in any text, a speaker
    marker in an answer. Memoised: a text that many rows repeat (a system prompt, an answer) is scanned once; the
    memo holds at most MEMO_CHARS characters of texts (then starts again)."""

    def __init__(self, special_tokens: list[str] | None = None) -> None:
        tokens = sorted(set(COMMON_SPECIAL) | set(special_tokens or ()), key=len, reverse=True)
        self._special = re.compile("|".join(re.escape(t) for t in tokens if t.strip()))
        self._texts: dict[str, tuple[TextFinding, ...]] = {}
        self._answers: dict[str, tuple[TextFinding, ...]] = {}
        self._chars = 0

    def text(self, text: str) -> tuple[TextFinding, ...]:
        found = self._texts.get(text)
        if found is None:
            found = tuple(self._scan(text))
            self._room(text)
            self._texts[text] = found
        return found

    def answer(self, text: str) -> tuple[TextFinding, ...]:
        found = self._answers.get(text)
        if found is None:
            found = self._speaker(text)
            self._room(text)
            self._answers[text] = found
        return found

    def _room(self, text: str) -> None:
        """Count ``text`` into the memo, emptied first when it would grow past MEMO_CHARS."""
        self._chars += len(text)
        if self._chars > MEMO_CHARS:
            self._texts, self._answers, self._chars = {}, {}, len(text)

    @staticmethod
    def _speaker(text: str) -> tuple[TextFinding, ...]:
        marker = speaker_marker(text)
        return () if not marker else (("speaker_marker_in_answer", "warning", f"{marker.group()!r} at a turn boundary "
                                        f"(character {marker.start()}): the answer holds another turn, e.g. a fake "
                                        "user turn"),)

    def _scan(self, text: str) -> list[TextFinding]:
        out = []
        found = self._special.search(text)
        if found:
            out.append(("special_token_in_text", "warning",
                        f"{found.group()!r} inside the text: the template will read it as a turn marker"))
        if not _ODD.search(text):
            return out
        if lone := _SURROGATE.search(text):
            out.append(("invalid_unicode", "error", f"a lone surrogate U+{ord(lone.group()):04X} at character "
                        f"{lone.start()}: not valid Unicode; LLaMA-Factory's loader fails on the file"))
        elif bad := _CONTROL.search(text):
            out.append(("control_character", "warning", f"invalid or control character {bad.group()!r}"))
        return out


class RowContent:
    """The content checks that look at one row alone (any process can run them)."""

    def __init__(self, special_tokens: list[str] | None = None) -> None:
        self._checks = TextChecks(special_tokens)

    def facts(self, row: Aligned, kto: bool, add: Add, images: tuple[str, ...] = ()) -> ContentFacts:
        """The row's digests and findings; ``images`` (its image references) count as part of its prompt: the same
        words about another image are another prompt."""
        prompt = [_text(row.system), _text(row.tools), [(m["role"], _text(m["content"])) for m in row.prompt],
                  list(images)]
        facts = ContentFacts(system=_digest(_text(row.system)), prompt=_digest(prompt))
        if row.prompt and not _text(row.prompt[-1]["content"]).strip():
            add("empty_prompt", "error", f"prompt[{len(row.prompt) - 1}]", "the last prompt turn is empty")
        answers = [_text(m["content"]) for m in row.response if not kto or m["content"]]
        names = ("chosen", "rejected") if not kto else ("completion",)
        checks = self._checks
        for name, answer in zip(names, answers, strict=False):
            if not answer.strip():
                add("empty_answer", "error", name, f"{name} is empty or only whitespace")
            for code, level, message in checks.answer(answer):
                add(code, level, name, message)
        for where, text in self._texts(row, names, answers):
            for code, level, message in checks.text(text):
                add(code, level, where, message)
        users = [(i, _text(m["content"])) for i, m in enumerate(row.prompt) if m["role"] == ROLE_USER]
        for i, turn in users:
            half = repeated_half(turn)
            if half:
                joint = turn.strip()[len(half):-len(half)]
                add("prompt_repeated", "warning", f"prompt[{i}]", f"the turn is one {len(half):,}-character text twice, "
                    f"joined by {joint!r}: one column may feed two fields (e.g. instruction and input hold the same "
                    "text)")
        if kto:  # LLaMA-Factory puts the answer first when desirable, second when undesirable
            facts.answer = _digest([prompt, answers[0] if answers else ""])
            facts.label = bool(row.response) and bool(_text(row.response[0]["content"]))
            return facts
        chosen, rejected = answers[0], answers[1] if len(answers) > 1 else ""
        if chosen.strip() and same_text(chosen, rejected):
            add("identical_answers", "error", "chosen", "chosen and rejected are the same text: no preference signal")
        elif min(len(chosen.strip()), len(rejected.strip())) >= ANSWER_IN_PROMPT_MIN:
            inside = next((i for i, turn in users if holds_both(turn, chosen.strip(), rejected.strip())), None)
            if inside is not None:
                add("answers_inside_prompt", "warning", f"prompt[{inside}]", "the turn holds both the chosen and "
                    "the rejected answer word for word: a judge's prompt (answers to compare) used as training data?")
        facts.pair, facts.reverse = _digest([prompt, chosen, rejected]), _digest([prompt, rejected, chosen])
        facts.chosen_len, facts.rejected_len = len(chosen), len(rejected)
        return facts

    @staticmethod
    def _texts(row: Aligned, names: tuple[str, ...], answers: list[str]):
        for i, message in enumerate(row.prompt):
            yield f"prompt[{i}]", _text(message["content"])
        yield "system", _text(row.system)
        yield from zip(names, answers, strict=False)


def repeated_half(text: str) -> str:
    """The text that ``text`` (stripped) is two copies of, joined by one to four blank characters ("X\\nX", "X X",
    "X\\n\\nX"), when that text has at least REPEATED_MIN characters; else "".

    >>> repeated_half("Summarize the article.\\nSummarize the article."), repeated_half("bye bye")
    ('Summarize the article.', '')
    """
    text = text.strip()
    for gap in range(1, 5):
        half, odd = divmod(len(text) - gap, 2)
        if half < REPEATED_MIN or odd:
            continue
        if text[half:half + gap].isspace() and text[:half] == text[half + gap:]:
            return text[:half]
    return ""


def holds_both(turn: str, chosen: str, rejected: str) -> bool:
    """Whether ``turn`` holds both answers as texts of their own (each bounded by blank space or the turn's ends,
    at different places): the answers of a judge's prompt. An answer inside the other, or quoted in a sentence
    (``Statement: "..."``), does not count.

    >>> holds_both("Which is better?\\n[A]\\nParis is the capital.\\n[B]\\nRome is the capital.\\n",
    ...            "Paris is the capital.", "Rome is the capital.")
    True
    >>> holds_both("Say this:\\nParis is the capital, Rome is not.", "Paris is the capital, Rome is not.", "Rome is not.")
    False
    """
    longer, shorter = (chosen, rejected) if len(chosen) >= len(rejected) else (rejected, chosen)
    spans = _standalone(turn, longer)
    for start, end in reversed(spans):  # blank the longer answer out: the shorter one must be elsewhere
        turn = turn[:start] + "\0" * (end - start) + turn[end:]
    return bool(spans) and bool(_standalone(turn, shorter))


def _standalone(text: str, part: str) -> list[tuple[int, int]]:
    """Where ``part`` occurs in ``text`` with blank space (or an end of ``text``) on both sides."""
    spans, at = [], text.find(part)
    while at >= 0:
        end = at + len(part)
        if (at == 0 or text[at - 1].isspace()) and (end == len(text) or text[end].isspace()):
            spans.append((at, end))
        at = text.find(part, at + 1)
    return spans


class ContentChecker:
    """The content checks across rows (duplicates, contradictions, length bias), fed in input order."""

    def __init__(self, findings: Findings) -> None:
        self.findings = findings
        self.stats = ContentStats()

    def take(self, index: int, facts: ContentFacts) -> None:
        add, stats = self.findings.add, self.stats
        stats.system_prompts.add(facts.system)
        first = stats.prompt_seen.setdefault(facts.prompt, index)
        if first != index:
            add("duplicate_prompt", "info", index, "", f"same prompt as record {first}")
        if facts.answer is not None:
            label, earlier = stats.kto_labels.setdefault(facts.answer, (facts.label, index))
            if label != facts.label:
                add("contradictory_kto_label", "error", index, "", f"record {earlier} labels the same prompt and "
                    f"answer {'desirable' if label else 'undesirable'}")
        if facts.pair is None or facts.reverse is None:
            return
        if facts.pair in stats.exact_seen:
            add("duplicate_pair", "warning", index, "", "an identical pair appears earlier")
        stats.exact_seen.add(facts.pair)
        stats.preferences.setdefault(facts.pair, index)
        earlier = stats.preferences.get(facts.reverse)
        if earlier is not None and earlier != index:
            add("contradictory_preference", "error", index, "",
                f"record {earlier} prefers the opposite answer for the same prompt")
        stats.pairs += 1
        stats.chosen_longer += facts.chosen_len > facts.rejected_len
        stats.length_ratio_sum += (facts.chosen_len + 1) / (facts.rejected_len + 1)

    def finish(self) -> None:
        s = self.stats
        if s.pairs >= 20 and s.chosen_longer / s.pairs > LENGTH_BIAS_SHARE:
            self.findings.add("length_bias", "warning", None, "",
                              f"chosen is the longer answer in {s.chosen_longer / s.pairs:.0%} of pairs (mean length "
                              f"ratio {s.length_ratio_sum / s.pairs:.2f}): the model may learn that longer is better")
        if len(s.system_prompts) > 1:
            self.findings.add("mixed_system_prompts", "info", None, "",
                              f"{len(s.system_prompts)} distinct system prompts (including none)")
