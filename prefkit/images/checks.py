"""Per-record image checks for LLaMA-Factory v0 preference rows (sharegpt/openai or alpaca ranking layouts).

Findings are ``(code, level, path, message)`` tuples, ``path`` a field path inside the record:

- ``image_missing`` (error): the file is neither at ``media_dir/ref`` nor at ``ref`` itself.
- ``image_unreadable`` (error): Pillow cannot open or decode it (not an image, truncated, corrupt), it is no regular
  file (a FIFO, a device), or the images column holds something that is not an image reference.
- ``image_too_large`` (error): the file is past ``PREFKIT_MAX_IMAGE_BYTES``, or its pixels past Pillow's
  decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``: Pillow warns and decodes it whole, past twice the limit
  LLaMA-Factory's run stops). prefkit decodes no pixel of it, so it has no lengths.
- ``image_count_mismatch`` (error): LLaMA-Factory's pairwise processor calls ``mm_plugin.process_messages`` twice,
  on prompt + chosen and on prompt + rejected, and ``_validate_messages`` raises (the whole run stops) unless each
  holds exactly as many ``<image>`` placeholders as the row has images. The system message is not among them.
- ``image_in_answer`` (error): a placeholder in chosen/rejected; LLaMA-Factory expands it inside the answer, so
  the image tokens become labels.

convert's LLaMA-Factory writers reject a record on the last two (:func:`record_findings`), so what convert writes,
validate passes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .files import ImageInfo, ImageProber, ImageRef, ImageTooLarge, ImageUnreadable, image_refs

Finding = tuple[str, str, str, str]  # (code, level, path, message)
IMAGE_PLACEHOLDER = os.getenv("IMAGE_PLACEHOLDER", "<image>")  # LLaMA-Factory reads the same variable
# The image findings that stop LLaMA-Factory's run, or past the bounds prefkit opens: such a row has no lengths.
STOPS_RUN = ("image_missing", "image_unreadable", "image_too_large", "image_count_mismatch")


@dataclass(frozen=True, slots=True)
class RowLayout:
    """Where a v0 row keeps its images and texts (a ``dataset_info.json`` entry's ``columns`` and ``tags``).
    The field defaults suit a sharegpt ranking row; ``from_entry`` applies LLaMA-Factory's own defaults."""

    formatting: str = "sharegpt"  # sharegpt | openai | alpaca
    images: str = "images"
    messages: str | None = "conversations"
    chosen: str | None = "chosen"
    rejected: str | None = "rejected"
    role_tag: str | None = "from"
    content_tag: str | None = "value"
    system_tag: str | None = "system"
    prompt: str | None = "instruction"  # alpaca
    query: str | None = "input"
    history: str | None = None

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> RowLayout | None:
        """The layout of a registry entry, with ``DatasetAttr``'s defaults (``DatasetAttr.join``: ``columns`` and
        ``tags`` unset what they do not name); None when the entry has no images column."""
        columns = _named(entry.get("columns"), LF_COLUMN_DEFAULTS)
        tags = _named(entry.get("tags"), LF_TAG_DEFAULTS)
        if not columns["images"]:
            return None
        return cls(formatting=entry.get("formatting", "alpaca"), **columns, **tags)


# DatasetAttr's defaults (data/parser.py) for the fields RowLayout reads.
LF_COLUMN_DEFAULTS: dict[str, str | None] = {"images": None, "messages": "conversations", "chosen": None,
                                             "rejected": None, "prompt": "instruction", "query": "input",
                                             "history": None}
LF_TAG_DEFAULTS: dict[str, str | None] = {"role_tag": "from", "content_tag": "value", "system_tag": "system"}


def _named(given: Any, defaults: dict[str, str | None]) -> dict[str, Any]:
    if isinstance(given, Mapping):
        return {name: given.get(name) for name in defaults}
    return dict(defaults)


@dataclass(slots=True)
class Texts:
    """The texts LLaMA-Factory's converter makes of a pairwise row, each with its field path."""

    prompt: list[tuple[str, str]] = field(default_factory=list)
    chosen: tuple[str, str] | None = None
    rejected: tuple[str, str] | None = None
    system: tuple[str, str] | None = None  # a sharegpt system message (its placeholders are not counted)

    @property
    def pairwise(self) -> bool:
        return self.chosen is not None and self.rejected is not None


@dataclass(slots=True)
class RowImages:
    """The images of one row: entries in order, what Pillow read of each (None: missing or unreadable), findings."""

    refs: list[ImageRef]
    infos: list[ImageInfo | None]
    findings: list[Finding]
    column: str = "images"  # the images column (the path of a finding about the row's images as a whole)

    @property
    def sizes(self) -> list[tuple[int, int] | None]:
        return [(i.width, i.height) if i else None for i in self.infos]


def row_texts(row: Mapping[str, Any], layout: RowLayout) -> Texts:
    """Prompt and answer texts as the v0 converters build them (non-string contents are left out)."""
    if layout.formatting == "alpaca":
        return _alpaca_texts(row, layout)
    return _sharegpt_texts(row, layout)


def _sharegpt_texts(row: Mapping[str, Any], layout: RowLayout) -> Texts:
    texts = Texts()
    messages = row.get(layout.messages) if layout.messages else None
    messages = messages if isinstance(messages, list) else []
    role, content = layout.role_tag or "", layout.content_tag or ""
    start = 0
    if layout.system_tag and messages and isinstance(messages[0], Mapping) and messages[0].get(role) == layout.system_tag:
        texts.system = _text(messages[0], content, f"{layout.messages}[0].{content}")
        start = 1
    for i, message in enumerate(messages[start:], start):
        if isinstance(message, Mapping) and (found := _text(message, content, f"{layout.messages}[{i}].{content}")):
            texts.prompt.append(found)
    for side in ("chosen", "rejected"):
        column = getattr(layout, side)
        answer = row.get(column) if column else None
        if isinstance(answer, Mapping):  # the converter's pairwise branch needs both answers as dicts
            setattr(texts, side, _text(answer, content, f"{column}.{content}") or (f"{column}.{content}", ""))
    return texts


def _alpaca_texts(row: Mapping[str, Any], layout: RowLayout) -> Texts:
    texts = Texts()
    history = row.get(layout.history) if layout.history else None
    if isinstance(history, list):
        for i, turn in enumerate(history):
            for j, text in enumerate(turn if isinstance(turn, list) else []):
                if isinstance(text, str):
                    texts.prompt.append((f"{layout.history}[{i}][{j}]", text))
    for column in (layout.prompt, layout.query):
        if column and isinstance(row.get(column), str):
            texts.prompt.append((column, row[column]))
    if all(column and isinstance(row.get(column), str) for column in (layout.chosen, layout.rejected)):
        texts.chosen = (layout.chosen, row[layout.chosen])  # type: ignore[index]
        texts.rejected = (layout.rejected, row[layout.rejected])  # type: ignore[index]
    return texts


def _text(message: Mapping[str, Any], key: str, path: str) -> tuple[str, str] | None:
    value = message.get(key)
    return (path, value) if isinstance(value, str) else None


def placeholder_findings(texts: Texts, n_images: int, images_path: str,
                         placeholder: str = IMAGE_PLACEHOLDER) -> list[Finding]:
    """``image_count_mismatch`` and ``image_in_answer`` for one pairwise row, counted as ``_validate_messages``
    counts them: prompt + chosen, then prompt + rejected, each against the number of images."""
    if not texts.pairwise:
        return []  # not a pair: the pairwise processor drops the row before counting
    answers = [("chosen", *texts.chosen), ("rejected", *texts.rejected)]  # type: ignore[misc]
    return _count_findings(texts.prompt, answers, texts.system, n_images, images_path, placeholder)


def record_findings(record: Any, placeholder: str = IMAGE_PLACEHOLDER) -> list[Finding]:
    """The same findings for a prefkit record with images (a PreferencePair, KtoExample or UnlabeledPair), its
    field paths the record's: what convert's LLaMA-Factory writers reject (none for a record without images)."""
    if not record.images:
        return []
    prompt = [(f"prompt[{i}].content", m.content) for i, m in enumerate(record.prompt)]
    sides = [side for side in ("chosen", "rejected", "completion", "response_a", "response_b") if hasattr(record, side)]
    answers = [(side, f"{side}.content", getattr(record, side).content) for side in sides]
    system = ("system", record.system) if record.system else None
    return _count_findings(prompt, answers, system, len(record.images), "images", placeholder)


def _count_findings(prompt: list[tuple[str, str]], answers: list[tuple[str, str, str]], system: tuple[str, str] | None,
                    n_images: int, images_path: str, placeholder: str) -> list[Finding]:
    """Each answer (side, path, text) with the prompt is one ``_validate_messages`` count against the images."""
    where = [(path, text.count(placeholder)) for path, text in prompt]
    in_prompt = sum(n for _, n in where)
    findings: list[Finding] = []
    for side, path, text in answers:
        if n := text.count(placeholder):
            findings.append(("image_in_answer", "error", path, f"the {side} answer holds {_n(n, placeholder)}: "
                             "LLaMA-Factory expands it inside the answer, so image tokens become training labels; "
                             "put images in a user turn"))
    wrong = {side: in_prompt + text.count(placeholder) for side, _, text in answers}
    wrong = {side: n for side, n in wrong.items() if n != n_images}
    if wrong:
        findings.append(("image_count_mismatch", "error", images_path,
                         _mismatch_message(n_images, in_prompt, where, wrong, system, placeholder)))
    return findings


def _mismatch_message(n_images: int, in_prompt: int, where: list[tuple[str, int]], wrong: dict[str, int],
                      system: tuple[str, str] | None, placeholder: str) -> str:
    located = ", ".join(f"{path}: {n}" for path, n in where if n) or "none"
    sides = " and ".join(f"prompt + {side} has {n}" for side, n in wrong.items())
    message = (f"{n_images} image(s) but {_n(in_prompt, placeholder)} in the prompt ({located}); {sides}: "
               "LLaMA-Factory stops the whole run (mm_plugin._validate_messages)")
    if system and (n := system[1].count(placeholder)):
        message += f"; {_n(n, placeholder)} in the system message ({system[0]}) are not counted"
    return message


def _n(n: int, placeholder: str) -> str:
    return f"{n} {placeholder} placeholder{'s' if n != 1 else ''}"


def file_findings(refs: list[ImageRef], prober: ImageProber) -> tuple[list[ImageInfo | None], list[Finding]]:
    """``image_missing`` / ``image_unreadable`` for each image of a row, and what Pillow read of each."""
    infos: list[ImageInfo | None] = []
    findings: list[Finding] = []
    for ref in refs:
        info, finding = _probe(ref, prober)
        infos.append(info)
        if finding:
            findings.append(finding)
    return infos, findings


def _probe(ref: ImageRef, prober: ImageProber) -> tuple[ImageInfo | None, Finding | None]:
    if ref.source is None:
        return None, ("image_unreadable", "error", ref.path, f"{ref.ref} is not an image path (LLaMA-Factory expects "
                      "a path string or a {bytes, path} object)")
    shown = ref.ref if isinstance(ref.source, bytes) or ref.source == ref.ref else f"{ref.ref} ({ref.source})"
    if isinstance(ref.source, str) and not os.path.exists(ref.source):
        return None, ("image_missing", "error", ref.path, f"image file {ref.ref!r} not found: not under media_dir and "
                      "not at that path; LLaMA-Factory stops when it opens it")
    try:
        return prober.probe(ref.source), None
    except ImageTooLarge as e:
        return None, ("image_too_large", "error", ref.path, f"image {shown}: {e}")
    except (ImageUnreadable, FileNotFoundError) as e:
        return None, ("image_unreadable", "error", ref.path, f"image {shown} cannot be decoded by Pillow: {e}")


def check_row_images(row: Mapping[str, Any], layout: RowLayout, media_dir: str | None,
                     prober: ImageProber | None = None, placeholder: str = IMAGE_PLACEHOLDER) -> RowImages:
    """All image findings of one v0 pairwise row: files (resolved against ``media_dir`` as LLaMA-Factory does;
    pass the dataset_dir when no media_dir is set) and placeholder counts. Rows the converter breaks (role order,
    message parity) never reach LLaMA-Factory's count: a caller that knows (``acceptance.align``) may drop the
    ``image_count_mismatch``/``image_in_answer`` findings of rows it drops."""
    refs = image_refs(row.get(layout.images), layout.images, media_dir)
    infos, findings = file_findings(refs, prober or ImageProber())
    findings += placeholder_findings(row_texts(row, layout), len(refs), layout.images, placeholder)
    return RowImages(refs, infos, findings, layout.images)
