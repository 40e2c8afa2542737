"""What a judge's verdict means, in one place for ``prefkit judge``, ``prefkit eval`` and the suggestions shown in
Argilla: the prompt format, the parser and the consistency rule.

Pairwise, in MT-bench's format: the judge sees the conversation and the two answers between ``[The Start of
Assistant A's Answer]`` / ``[The End of Assistant A's Answer]`` markers and ends with ``[[A]]``, ``[[B]]`` or
``[[C]]`` (a tie). Each pair is asked **in both orders**; a verdict counts only when the two agree once the
swap is undone, otherwise it is ``inconsistent`` (a tie in the output, never guessed). A reply with no single
verdict marker is ``unparsed``. Scores: the judge rates one answer from 1 to 10 as ``[[7]]``; a reply with two
different ratings is unparsed too.

>>> parse_pairwise("A is more precise. [[A]]"), parse_pairwise("[[A]] or [[B]]"), parse_pairwise("A")
('a', None, None)
>>> combine("a", "b"), combine("a", "a"), combine("tie", "tie"), combine(None, "a")
('a', 'inconsistent', 'tie', 'unparsed')
>>> parse_score("Clear and correct. Rating: [[8]]"), parse_score("[[11]]"), parse_score("[[3]] or [[8]]")
(8.0, None, None)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ..serving.image_parts import judge_with_images

PAIRWISE_SYSTEM = (
    "You are an impartial judge. Compare the two assistants' answers to the conversation below and decide which "
    "one serves the user better: correct, helpful, relevant and as detailed as the question needs. The order in "
    "which the answers appear, their length and the assistants' names must not sway you. Explain your decision "
    'briefly, then give your verdict in exactly this format: "[[A]]" if assistant A is better, "[[B]]" if '
    'assistant B is better, "[[C]]" for a tie.')
PAIRWISE_PROMPT = (
    "[The Start of the Conversation]\n{conversation}\n[The End of the Conversation]\n\n"
    "[The Start of Assistant A's Answer]\n{answer_a}\n[The End of Assistant A's Answer]\n\n"
    "[The Start of Assistant B's Answer]\n{answer_b}\n[The End of Assistant B's Answer]")
SCORE_SYSTEM = (
    "You are an impartial judge. Rate the assistant's answer to the conversation below for correctness, "
    "helpfulness, relevance and the detail the question needs. Explain briefly, then give a rating from 1 to 10 "
    'in exactly this format: "Rating: [[5]]".')
SCORE_PROMPT = ("[The Start of the Conversation]\n{conversation}\n[The End of the Conversation]\n\n"
                "[The Start of the Assistant's Answer]\n{answer}\n[The End of the Assistant's Answer]")
PLACEHOLDERS = {"pairwise": ("{conversation}", "{answer_a}", "{answer_b}"), "score": ("{conversation}", "{answer}")}
_MARKER = re.compile(r"\[\[([ABC])\]\]")
_RATING = re.compile(r"\[\[(\d+(?:\.\d+)?)\]\]")
VERDICT_OF_MARKER = {"A": "a", "B": "b", "C": "tie"}
SWAPPED = {"a": "b", "b": "a", "tie": "tie"}


@dataclass(frozen=True)
class Template:
    """The judge's instructions (system message) and the user message with its placeholders."""

    system: str
    prompt: str

    @classmethod
    def load(cls, mode: str, path: str | None = None) -> Template:
        """The default template of ``mode`` (pairwise or score), or the user message from ``path``; a custom one
        must keep the placeholders and ask for the same verdict format (the parser does not change)."""
        system, prompt = (PAIRWISE_SYSTEM, PAIRWISE_PROMPT) if mode == "pairwise" else (SCORE_SYSTEM, SCORE_PROMPT)
        if path is None:
            return cls(system, prompt)
        with open(path, encoding="utf-8") as f:
            prompt = f.read()
        missing = [p for p in PLACEHOLDERS[mode] if p not in prompt]
        if missing:
            raise UsageError(f"--prompt-template {path}: a {mode} template needs {', '.join(PLACEHOLDERS[mode])}; "
                             f"missing {', '.join(missing)}")
        return cls(system, prompt)

    def messages(self, **values: str) -> list[dict[str, str]]:
        text = self.prompt
        for key, value in values.items():  # not str.format: answers hold braces
            text = text.replace("{" + key + "}", value)
        return [{"role": "system", "content": self.system}, {"role": "user", "content": text}]


def conversation_text(messages: list[dict[str, Any]]) -> str:
    """The conversation the answers reply to, as the judge reads it."""
    names = {"system": "System", "user": "User", "assistant": "Assistant", "tool": "Tool"}
    return "\n\n".join(f"{names.get(m.get('role', ''), m.get('role', ''))}: {m.get('content', '')}" for m in messages)


def parse_pairwise(reply: str | None) -> str | None:
    """a, b or tie from a reply holding exactly one kind of verdict marker; None otherwise."""
    found = set(_MARKER.findall(reply or ""))
    return VERDICT_OF_MARKER[found.pop()] if len(found) == 1 else None


def parse_score(reply: str | None) -> float | None:
    """The rating of a reply holding one value of ``[[N]]`` (repeated or not) from 1 to 10; None otherwise."""
    found = {float(n) for n in _RATING.findall(reply or "")}
    value = found.pop() if len(found) == 1 else None
    return value if value is not None and 1 <= value <= 10 else None


def combine(first: str | None, second_swapped: str | None) -> str:
    """The verdict of a pair asked in both orders. ``first`` judged (x as A, y as B); ``second_swapped`` judged
    (y as A, x as B). Returns a, b or tie in x/y terms when both agree, else "inconsistent" or "unparsed"."""
    if first is None or second_swapped is None:
        return "unparsed"
    second = SWAPPED[second_swapped]
    return first if first == second else "inconsistent"


@dataclass
class PairVerdict:
    """The outcome of one pair asked in both orders: the combined verdict and what each order said."""

    verdict: str  # a | b | tie | inconsistent | unparsed  (a: the first answer given is better)
    orders: tuple[str | None, str | None]  # parsed verdict of (x, y) and of (y, x), each in its own A/B terms
    replies: tuple[str | None, str | None]


def compare(chat: Any, template: Template, messages: list[dict[str, Any]], x: str, y: str,
            max_tokens: int = 512, images: list[str] | tuple[()] = ()) -> PairVerdict:
    """Ask ``chat`` (a prefkit.create.client.Chat) about answers x and y in both orders; greedy decoding.
    ``images``: the prompt's images as data: URLs, sent before the judge's text (prefkit.serving.image_parts)."""
    conversation = conversation_text(messages)
    replies = []
    for a, b in ((x, y), (y, x)):
        texts = chat.texts(judge_with_images(template.messages(conversation=conversation, answer_a=a, answer_b=b),
                                             list(images)), temperature=0, max_tokens=max_tokens)
        replies.append(texts[0] if texts else None)
    orders = (parse_pairwise(replies[0]), parse_pairwise(replies[1]))
    return PairVerdict(combine(*orders), orders, (replies[0], replies[1]))


def rate(chat: Any, template: Template, messages: list[dict[str, Any]], answer: str,
         max_tokens: int = 512, images: list[str] | tuple[()] = ()) -> tuple[float | None, str | None]:
    """(score 1-10 or None when unparsed, the judge's reply); ``images`` as in :func:`compare`."""
    texts = chat.texts(judge_with_images(template.messages(conversation=conversation_text(messages), answer=answer),
                                         list(images)), temperature=0, max_tokens=max_tokens)
    reply = texts[0] if texts else None
    return parse_score(reply), reply
