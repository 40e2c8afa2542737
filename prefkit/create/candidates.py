"""What ``prefkit judge`` and the reward model judge: each prompt's candidate answers (``prefkit generate``'s output,
rows of one prompt merged), and which of them are compared."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from ..serving.image_parts import refuse_placeholders, urls_of_kept
from ..io.sources import iter_rows
from .prompts import messages_of, prompt_id

ALL_PAIRS_UP_TO = 4


@dataclass
class Candidates:
    """One prompt's answers: rows of the same prompt (from several ``generate`` runs) are merged."""

    index: int  # of the prompt's first row
    key: str
    prompt: list[dict[str, str]]
    responses: list[str] = field(default_factory=list)
    generators: list[str] = field(default_factory=list)  # the model that wrote each answer
    images: list[str] = field(default_factory=list)  # the prompt's images as data: URLs, to send
    image_names: list[str] = field(default_factory=list)  # and as the row names them (generate's "images")


def pairs_of(n: int, key: str, seed: int = 0) -> list[tuple[int, int]]:
    """Which answers are compared: all pairs up to ALL_PAIRS_UP_TO answers, else a seeded cycle.

    >>> pairs_of(3, "k"), len(pairs_of(4, "k")), len(pairs_of(7, "k"))
    ([(0, 1), (0, 2), (1, 2)], 6, 7)
    """
    if n <= ALL_PAIRS_UP_TO:
        return list(combinations(range(n), 2))
    order = list(range(n))
    random.Random(f"{seed}:{key}").shuffle(order)
    return [tuple(sorted((order[k], order[(k + 1) % n]))) for k in range(n)]  # type: ignore[misc]


def read_candidates(path: str, skipped: Counter) -> list[Candidates]:
    """The candidates of each prompt, in the order prompts first appear; rows (or prompts) that cannot be
    judged are counted in ``skipped`` by reason. A row's ``images`` (generate's) are read here, so that the judge
    sees them; a prompt with ``<image>`` placeholders and no images is refused (prefkit.serving.image_parts)."""
    merged: dict[str, Candidates] = {}
    for row in iter_rows(path):
        data = row.data if row.error is None and isinstance(row.data, dict) else None
        prompt = messages_of({"prompt": data["prompt"]}) if data and "prompt" in data else None
        responses = data.get("responses") if data else None
        if not prompt:
            skipped["no_prompt"] += 1
        elif not isinstance(responses, list) or not all(isinstance(r, str) for r in responses):
            skipped["no_responses"] += 1
        else:
            where = f"{path}: record {row.index}"
            images = data.get("images")  # type: ignore[union-attr]
            key = prompt_id(prompt, images if isinstance(images, list) and images else None)
            if key not in merged:
                urls = urls_of_kept(images, where)
                if not urls:
                    refuse_placeholders(prompt, where, "the row has no images (generate writes them for a "
                                        "registered image dataset)")
                merged[key] = Candidates(row.index, key, prompt, images=urls, image_names=list(images or []))
            found = merged[key]
            found.responses += responses
            found.generators += [_generator(data)] * len(responses)  # type: ignore[arg-type]
    usable = [c for c in merged.values() if len(set(c.responses)) >= 2]
    if len(usable) < len(merged):
        skipped["fewer_than_two_distinct_responses"] += len(merged) - len(usable)
    return usable


def _generator(row: dict[str, Any]) -> str:
    generator = row.get("generator")
    return str(generator.get("model")) if isinstance(generator, dict) and generator.get("model") else "unknown"
