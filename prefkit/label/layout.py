"""The Argilla dataset prefkit creates, and the check that an existing one is that dataset.

Fields: ``conversation`` (a ChatField: system prompt and the turns before the answers), ``response_a`` and
``response_b``; a dataset made from pairs with images has, above them, ``image_1`` .. ``image_<k>`` (ImageFields,
not required: Argilla has no field for a list of images, and the page leaves out an image field a record does not
fill, so a pair with one image shows one). Questions: ``preference`` (a LabelQuestion: a, b, tie, both_bad; a
LabelQuestion because ranking answers lose their order on the way back) and an optional ``rationale``. Metadata: ``source``,
answer lengths and scores as shown, and ``position``: whether A is the input's first answer ("kept") or its
second ("swapped"). Annotators see neither the position nor the scores (a score is a verdict given elsewhere).

What an annotator sees is checked in a real browser by tests/browser/test_annotation_page.py (README shows a
screenshot) and, for images, tests/browser/test_annotation_images.py: change a title or label here and they say so.
"""

from __future__ import annotations

from typing import Any

from ..errors import ServiceError

PREFERENCE = "preference"
RATIONALE = "rationale"
LABELS = {"a": "A is better", "b": "B is better", "tie": "Both equally good", "both_bad": "Both bad"}
FIELDS = ("conversation", "response_a", "response_b")
TITLES = {"conversation": "Conversation", "response_a": "Response A", "response_b": "Response B"}
IMAGE_FIELDS = 4  # image fields of a new dataset whose first pairs have images (more if one of those has more)
QUESTION = "Which response is better?"
GUIDELINES = """Read the conversation, then **Response A** and **Response B** below it, each to its end (long \
responses are shown in full: scroll). Choose the better response to the conversation's last turn:

- **A is better** or **B is better**: the more helpful, correct and harmless one.
- **Both equally good**: only when you cannot prefer one.
- **Both bad**: when neither is acceptable.

Which response is shown as A is random, and length says nothing about quality. Responses are shown as they \
were written: a tag such as `<think>` is part of the response."""


def image_field(number: int) -> str:
    """The name of a pair's ``number``-th image field (from 1)."""
    return f"image_{number}"


def settings(guidelines: str | None = None, min_submitted: int = 1, images: int = 0) -> Any:
    """The dataset's settings; ``images``: image fields above the conversation (0: a dataset of texts only)."""
    import argilla as rg

    return rg.Settings(
        guidelines=guidelines or GUIDELINES,
        # markdown: the page renders answers as chat UIs do (without it, Argilla injects a text's HTML unsanitised);
        # tasks.shown() keeps tags and entities in the texts visible as written
        fields=[rg.ImageField(name=image_field(i), title=f"Image {i}", required=False) for i in range(1, images + 1)] +
               [rg.ChatField(name="conversation", title=TITLES["conversation"], use_markdown=True),
                rg.TextField(name="response_a", title=TITLES["response_a"], use_markdown=True),
                rg.TextField(name="response_b", title=TITLES["response_b"], use_markdown=True)],
        questions=[rg.LabelQuestion(name=PREFERENCE, title=QUESTION, labels=LABELS),
                   rg.TextQuestion(name=RATIONALE, title="Why? (optional)", required=False)],
        metadata=[rg.TermsMetadataProperty(name="source", title="Source"),
                  rg.TermsMetadataProperty(name="position", options=["kept", "swapped"], visible_for_annotators=False),
                  rg.IntegerMetadataProperty(name="len_a", title="Length of A (characters)"),
                  rg.IntegerMetadataProperty(name="len_b", title="Length of B (characters)"),
                  rg.FloatMetadataProperty(name="score_a", title="Score of A", visible_for_annotators=False),
                  rg.FloatMetadataProperty(name="score_b", title="Score of B", visible_for_annotators=False)],
        distribution=rg.TaskDistribution(min_submitted=min_submitted),
        allow_extra_metadata=True,  # prefkit_origin, prefkit_tools: kept for pull, not filterable
    )


def image_fields(dataset: Any) -> int:
    """How many image fields (image_1, image_2, ...) ``dataset`` has."""
    names = {f.name for f in dataset.settings.fields if getattr(f, "type", None) == "image"}
    count = 0
    while image_field(count + 1) in names:
        count += 1
    return count


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
