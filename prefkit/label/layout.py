"""The Argilla dataset prefkit creates, and the check that an existing one is that dataset.

Fields: ``conversation`` (a ChatField: system prompt and the turns before the answers), ``response_a`` and
``response_b``. Questions: ``preference`` (a LabelQuestion: a, b, tie, both_bad; a LabelQuestion because
ranking answers lose their order on the way back) and an optional ``rationale``. Metadata: ``source``,
answer lengths and scores as shown, and ``position`` (hidden from annotators): whether A is the input's
first answer ("kept") or its second ("swapped").
"""

from __future__ import annotations

from typing import Any

from ..errors import ServiceError

PREFERENCE = "preference"
RATIONALE = "rationale"
LABELS = {"a": "A is better", "b": "B is better", "tie": "Both equally good", "both_bad": "Both bad"}
FIELDS = ("conversation", "response_a", "response_b")
GUIDELINES = """Read the conversation, then the two responses. Choose the better response: the one that is more \
helpful, correct and harmless for the last user turn. Choose "Both equally good" only when you cannot prefer one, \
and "Both bad" when neither is acceptable. Response length and position (A or B) say nothing about quality."""


def settings(guidelines: str | None = None, min_submitted: int = 1) -> Any:
    import argilla as rg

    return rg.Settings(
        guidelines=guidelines or GUIDELINES,
        fields=[rg.ChatField(name="conversation", title="Conversation"),
                rg.TextField(name="response_a", title="Response A", use_markdown=True),
                rg.TextField(name="response_b", title="Response B", use_markdown=True)],
        questions=[rg.LabelQuestion(name=PREFERENCE, title="Which response is better?", labels=LABELS),
                   rg.TextQuestion(name=RATIONALE, title="Why? (optional)", required=False)],
        metadata=[rg.TermsMetadataProperty(name="source", title="Source"),
                  rg.TermsMetadataProperty(name="position", options=["kept", "swapped"], visible_for_annotators=False),
                  rg.IntegerMetadataProperty(name="len_a", title="Length of A (characters)"),
                  rg.IntegerMetadataProperty(name="len_b", title="Length of B (characters)"),
                  rg.FloatMetadataProperty(name="score_a", title="Score of A"),
                  rg.FloatMetadataProperty(name="score_b", title="Score of B")],
        distribution=rg.TaskDistribution(min_submitted=min_submitted),
        allow_extra_metadata=True,  # prefkit_origin, prefkit_tools: kept for pull, not filterable
    )


def check(dataset: Any, where: str) -> None:
    """Fail with one line unless ``dataset`` has prefkit's fields and preference question."""
    s = dataset.settings
    fields = {f.name for f in s.fields}
    missing = [name for name in FIELDS if name not in fields]
    question = next((q for q in s.questions if q.name == PREFERENCE), None)
    labels = set(getattr(question, "labels", None) or []) if question is not None else set()
    if missing or question is None or not set(LABELS) <= labels:
        what = (f"fields {', '.join(missing)}" if missing else
                f"question {PREFERENCE!r}" if question is None else f"labels {', '.join(sorted(set(LABELS) - labels))}")
        raise ServiceError(f"{where} was not created by prefkit label push (it lacks {what}); "
                           "push to a new dataset name")
