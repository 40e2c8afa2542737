"""Speaker markers (``Human:`` / ``Assistant:``) written at a turn boundary inside a text.

HH-style transcripts mark turns with ``\\n\\nHuman:`` / ``\\n\\nAssistant:``, but real records also write
a turn inline, without the blank line ("...is all I know.  Human: and then what?"). The hh-rlhf reader
and validate's ``speaker_marker_in_answer`` both use this one rule. A marker is at a turn boundary when:

- it is spelt ``Human:`` or ``Assistant:`` (case-sensitive, colon included), and
- it starts the text (after optional whitespace), or it follows whitespace that ends a sentence:
  whitespace holding a line break, two or more spaces or tabs, or any whitespace right after
  ``.``, ``!``, ``?`` or ``…`` (closing quotes or brackets may sit between the two).

So "the Human: column" or "Assistant:x" inside a sentence are prose, not turns. Also here: ``same_text``, the
equal-up-to-whitespace rule of identical answers. A light module (no pydantic): validate's checks import it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_SPEAKER = re.compile(r"(Human|Assistant):")
_SENTENCE_END = ".!?…"
_CLOSERS = "\"')]}”’»"
ROLES = {"Human": "user", "Assistant": "assistant"}


def _at_boundary(text: str, start: int) -> bool:
    """Whether the marker at ``start`` begins a turn (the rule in the module docstring)."""
    gap = start
    while gap > 0 and text[gap - 1].isspace():
        gap -= 1
    space = text[gap:start]
    if gap == 0:
        return True  # the start of the text
    if not space:
        return False  # glued to a word or a symbol
    if "\n" in space or "\r" in space or len(space) >= 2:
        return True
    end = gap
    while end > 0 and text[end - 1] in _CLOSERS:
        end -= 1
    return end > 0 and text[end - 1] in _SENTENCE_END


def speaker_markers(text: str) -> Iterator[re.Match[str]]:
    """The ``Human:`` / ``Assistant:`` markers in ``text`` that sit at a turn boundary, in order."""
    return (m for m in _SPEAKER.finditer(text) if _at_boundary(text, m.start()))


def speaker_marker(text: str) -> re.Match[str] | None:
    """The first marker at a turn boundary, or None."""
    return next(speaker_markers(text), None)


def split_inline(role: str, body: str) -> list[tuple[str, str]]:
    """``body`` (a turn of ``role``) cut at its inline markers: [(role, text)], the first part keeping ``role``."""
    parts: list[tuple[str, str]] = []
    start = 0
    for marker in speaker_markers(body):
        parts.append((role, body[start:marker.start()].strip()))
        role, start = ROLES[marker.group(1)], marker.end()
    parts.append((role, body[start:].strip()))
    return parts


def same_text(a: str, b: str) -> bool:
    """Equal up to whitespace (cheap checks first: this runs on every pair)."""
    if a == b:
        return True
    a, b = a.strip(), b.strip()
    if a[:1] != b[:1] or a[-1:] != b[-1:]:
        return False
    return a.split() == b.split()
