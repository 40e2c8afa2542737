"""The records every reader yields and every writer consumes.

A preference pair is a prompt (messages ending with a user or observation turn), an optional system
prompt and tools, and two candidate answers: ``chosen`` is preferred over ``rejected``. A KTO example is
a prompt with one answer and a desirable / undesirable label. Both carry their provenance so a written
row can always be traced back to the raw record it came from.

>>> pair = PreferencePair(
...     prompt=[Message(role="user", content="2+2?")],
...     chosen=Message(role="assistant", content="4"),
...     rejected=Message(role="assistant", content="5"),
...     provenance=Provenance(source="votes.jsonl", index=0, line=1, format="pairwise"),
... )
>>> pair.prompt[-1].content
'2+2?'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .speakers import same_text
from .vocab import ANSWER_ROLES, PROMPT_ROLES

# LLaMA-Factory's roles (llamafactory.data.data_utils.Role), without "system": the system prompt is a field.
Role = Literal["user", "assistant", "observation", "function"]
# Reason codes of the checks below, reported as such in rejects (anything else is "invalid_record").
RECORD_CHECKS = ("empty_prompt", "empty_response", "identical_responses", "bad_role_order")


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    content: str


class Provenance(BaseModel):
    """Where a record came from: ``index`` is 0-based within its source, ``line`` 1-based where known."""

    model_config = ConfigDict(extra="forbid")

    source: str
    index: int
    line: int | None = None
    format: str = ""
    # Other input records of the same source merged into this one (openai-logs grouping).
    merged: list[int] = Field(default_factory=list)


def _check_prompt(prompt: list[Message]) -> list[Message]:
    """The prompt alternates user/observation and assistant/function turns and ends with a user turn."""
    if not prompt:
        raise PydanticCustomError("empty_prompt", "prompt has no messages")
    for i, message in enumerate(prompt):
        expected = PROMPT_ROLES if i % 2 == 0 else ANSWER_ROLES
        if message.role not in expected:
            raise PydanticCustomError("bad_role_order", f"prompt[{i}] has role {message.role!r}, "
                                      "turns must alternate user and assistant")
    if len(prompt) % 2 == 0:
        raise PydanticCustomError("bad_role_order", "prompt must end with a user or observation turn")
    if not prompt[-1].content.strip():
        raise PydanticCustomError("empty_prompt", "the last prompt turn is empty")
    return prompt


def _check_two_answers(record: BaseModel, first: str, second: str) -> None:
    """Both answers are assistant or function turns, not empty, and not the same text."""
    for name in (first, second):
        if getattr(record, name).role not in ANSWER_ROLES:
            raise ValueError(f"{name} must be an assistant or function turn")
        if not getattr(record, name).content.strip():
            raise PydanticCustomError("empty_response", f"{name} is empty")
    if same_text(getattr(record, first).content, getattr(record, second).content):
        raise PydanticCustomError("identical_responses", f"{first} and {second} are the same text")


class _Example(BaseModel):
    model_config = ConfigDict(extra="forbid")

    system: str = ""
    tools: str = ""
    prompt: list[Message]
    provenance: Provenance
    metadata: dict[str, Any] = Field(default_factory=dict)
    images: list[str] = Field(default_factory=list)  # image paths (relative ones: to the source's folder) or URLs

    _prompt_ok = field_validator("prompt")(_check_prompt)


class PreferencePair(_Example):
    chosen: Message
    rejected: Message
    # Scores of chosen and rejected where the source had them (ratings, judge scores, ranks).
    chosen_score: float | None = None
    rejected_score: float | None = None
    annotators: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _answers(self) -> PreferencePair:
        _check_two_answers(self, "chosen", "rejected")
        return self


class KtoExample(_Example):
    completion: Message
    label: bool  # True: desirable

    @field_validator("completion")
    @classmethod
    def _answer(cls, value: Message) -> Message:
        if value.role not in ANSWER_ROLES:
            raise ValueError("completion must be an assistant or function turn")
        if not value.content.strip():
            raise PydanticCustomError("empty_response", "completion is empty")
        return value


class UnlabeledPair(_Example):
    """A prompt with two answers and no trusted preference yet: the input of ``prefkit label push``.

    ``suggestion`` is a verdict that exists but needs checking (an LLM judge's, or the order of a
    labeled pair); it is shown to annotators as a suggestion, never taken as the answer.
    """

    response_a: Message
    response_b: Message
    suggestion: Literal["a", "b", "tie"] | None = None
    score_a: float | None = None
    score_b: float | None = None

    @model_validator(mode="after")
    def _answers(self) -> UnlabeledPair:
        _check_two_answers(self, "response_a", "response_b")
        return self

    @classmethod
    def of(cls, pair: PreferencePair) -> UnlabeledPair:
        """A labeled pair to re-check: its chosen answer becomes A and the suggestion."""
        return cls(system=pair.system, tools=pair.tools, prompt=pair.prompt, provenance=pair.provenance,
                   metadata=pair.metadata, images=pair.images, response_a=pair.chosen, response_b=pair.rejected, suggestion="a",
                   score_a=pair.chosen_score, score_b=pair.rejected_score)


Record = PreferencePair | KtoExample | UnlabeledPair
RECORD_TYPES = (PreferencePair, KtoExample, UnlabeledPair)


class RowProblem(Exception):
    """Raised by per-record code (readers, writers); becomes a Reject with this reason and message."""

    def __init__(self, reason: str, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.detail = detail  # a value the run summarises (e.g. the numeric verdicts seen)


@dataclass(slots=True)
class Reject:
    """An input record (or a derived pair) that was not written, with the reason it was not.

    ``reason`` is a stable snake_case code; ``message`` says what is wrong and names the field.
    """

    source: str
    index: int
    reason: str
    message: str
    record: Any = None
    line: int | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "line": self.line,
            "index": self.index,
            "reason": self.reason,
            "message": self.message,
            "record": self.record,
        }


@dataclass(slots=True)
class Note:
    """Something counted in the report that loses no record (e.g. an unranked reply group in a tree
    that still yielded pairs elsewhere, or consecutive turns merged by a documented rule)."""

    reason: str
    count: int = 1
    extra: dict[str, Any] = field(default_factory=dict)
