"""Label Studio's side of a pair: the project's labeling config, a pair as a task, an exported task as a record.

The page (``LABEL_CONFIG``): the pair's images (if the project has them), the conversation as a dialogue, Response A
and Response B as plain text (Label Studio shows a text as written: no markdown, no HTML, so no zero-width spaces are
needed), the question with four choices whose aliases (a, b, tie, both_bad) are what the export holds, and an
optional rationale. What pull needs and annotators must not see (the A/B position, the scores, the origin, the
image paths) travels in the task's ``meta``, which the page does not show.

Ids, the seeded A/B order and the image metadata are :mod:`.tasks`' and :mod:`.media`'s, so a pair has the same id
and the same side shown as A in both backends. An exported task is turned into the record shape pull reads
(prefkit.label.labeler).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from typing import Any
from xml.sax.saxutils import quoteattr

from ..errors import ServiceError
from ..records import UnlabeledPair
from . import media
from .layout import LABELS, PREFERENCE, QUESTION, TITLES
from .tasks import origin, record_id, swapped

IMAGES = "images"  # the data key of a task's images (a list: <Image valueList>)


def label_config(images: bool) -> str:
    """The project's labeling config; ``images``: the pairs' images above the conversation."""
    choices = "".join(f"<Choice value={quoteattr(title)} alias={quoteattr(key)}/>" for key, title in LABELS.items())
    return "".join([
        "<View>",
        f'<Image name="{IMAGES}" valueList="${IMAGES}" maxWidth="480px"/>' if images else "",
        f'<Header value={quoteattr(TITLES["conversation"])}/>',
        '<Paragraphs name="conversation" value="$conversation" layout="dialogue" nameKey="role" textKey="content"/>',
        f'<Header value={quoteattr(TITLES["response_a"])}/><Text name="response_a" value="$response_a"/>',
        f'<Header value={quoteattr(TITLES["response_b"])}/><Text name="response_b" value="$response_b"/>',
        f"<Header value={quoteattr(QUESTION)}/>",
        f'<Choices name="{PREFERENCE}" toName="response_a" choice="single" required="true" showInline="true">',
        choices, "</Choices>",
        '<TextArea name="rationale" toName="response_a" placeholder="Why? (optional)" maxSubmissions="1"/>',
        "</View>"])


def check_config(config: str, where: str) -> bool:
    """Whether the project has image fields; a ServiceError unless it is prefkit's (its texts and choices)."""
    try:
        root = ET.fromstring(config)
    except ET.ParseError:
        root = ET.fromstring("<View/>")
    texts = {e.get("name") for e in root.iter("Text")}
    choices = next((e for e in root.iter("Choices") if e.get("name") == PREFERENCE), None)
    aliases = {c.get("alias") for c in choices.iter("Choice")} if choices is not None else set()
    if not {"response_a", "response_b"} <= texts or not set(LABELS) <= aliases:
        raise ServiceError(f"{where} was not created by prefkit label push (it lacks prefkit's texts or choices); "
                           "push to a new dataset name")
    return any(e.get("name") == IMAGES for e in root.iter("Image"))


def task(pair: UnlabeledPair, seed: int, images: list[media.PairImage]) -> tuple[str, dict[str, Any]]:
    """(the pair's id, its import body)."""
    rid = record_id(pair, [image.key for image in images])
    swap = swapped(rid, seed)
    a, b = (pair.response_b, pair.response_a) if swap else (pair.response_a, pair.response_b)
    score_a, score_b = (pair.score_b, pair.score_a) if swap else (pair.score_a, pair.score_b)
    chat = ([{"role": "system", "content": pair.system}] if pair.system else []) + \
        [{"role": m.role, "content": m.content} for m in pair.prompt]
    source, index = origin(pair)
    meta: dict[str, Any] = {"prefkit_id": rid, "source": os.path.basename(source), "position": "swapped" if swap else "kept",
                            "prefkit_origin": f"{source}:{index}", **media.metadata(pair)}
    for key, value in (("score_a", score_a), ("score_b", score_b)):
        if value is not None:
            meta[key] = value
    if pair.tools:
        meta["prefkit_tools"] = pair.tools
    for key, role in (("a", a.role), ("b", b.role)):
        if role != "assistant":
            meta[f"prefkit_role_{key}"] = role
    if pair.suggestion:  # in the shown terms, as Argilla's suggestions
        meta["prefkit_suggestion"] = {"a": "b", "b": "a"}.get(pair.suggestion, pair.suggestion) if swap else pair.suggestion
    data: dict[str, Any] = {"conversation": chat, "response_a": a.content, "response_b": b.content}
    if images:
        data[IMAGES] = list(media.field_values(images).values())
    return rid, {"data": data, "meta": meta}


def labels_of(annotation: dict[str, Any]) -> str | None:
    """The preference alias an annotation chose (None: none)."""
    for result in annotation.get("result") or []:
        if result.get("from_name") == PREFERENCE:
            chosen = (result.get("value") or {}).get("choices") or []
            if chosen:
                label = str(chosen[0])
                return label if label in LABELS else {v: k for k, v in LABELS.items()}.get(label)
    return None


def record(exported: dict[str, Any]) -> dict[str, Any]:
    """An exported task in the record shape pull reads: submitted answers as responses, cancelled (skipped) ones
    as discarded, the suggestion from the meta."""
    meta, data = exported.get("meta") or {}, exported.get("data") or {}
    responses = []
    for annotation in exported.get("annotations") or []:
        user = annotation.get("completed_by")
        user = user.get("id") if isinstance(user, dict) else user
        label = labels_of(annotation)
        status = "discarded" if annotation.get("was_cancelled") else "submitted" if label else "draft"
        responses.append({"user_id": str(user), "status": status, "values": {PREFERENCE: {"value": label}}})
    suggestion = meta.get("prefkit_suggestion")
    return {"id": exported.get("id"), "external_id": meta.get("prefkit_id"), "metadata": meta, "responses": responses,
            "fields": {k: data.get(k) for k in ("conversation", "response_a", "response_b") if k in data},
            "suggestions": [{"question_id": PREFERENCE, "value": suggestion}] if suggestion else []}
