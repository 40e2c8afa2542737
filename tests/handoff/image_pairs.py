"""A small registered dataset of image preference pairs (sharegpt ranking, Pillow images) for the train, serve and
eval tests with the tiny vision-language model."""

from __future__ import annotations

import json
from pathlib import Path

from helpers.images import make_image
from prefkit.registry import add as registering

COLOURS = {"red": (200, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 200), "yellow": (200, 200, 30),
           "cyan": (30, 200, 200), "magenta": (200, 30, 200)}


def image_pairs(data: Path, name: str = "pairs") -> Path:
    """One pair per colour (an image of that colour, of a different size each), the last with two images; written
    to ``data/pairs.json`` with the images under ``data/images/`` and registered as ``name`` in ``data``."""
    rows = []
    for n, (colour, rgb) in enumerate(COLOURS.items()):
        images = [make_image(data / "images" / f"{colour}.png", (40 + 30 * n, 30 + 20 * n), color=rgb)]
        question = f"<image>What colour is square {n}?"
        if n == len(COLOURS) - 1:  # two images in one turn
            images.append(make_image(data / "images" / "tall.jpg", (20, 300), color=(10, 10, 10)))
            question = "<image>Which of these <image> is brighter?"
        rows.append({"conversations": [{"from": "human", "value": question}],
                     "chosen": {"from": "gpt", "value": f"It is {colour}."},
                     "rejected": {"from": "gpt", "value": "I cannot tell."},
                     "images": [str(Path(p).relative_to(data)) for p in images]})
    (data / "pairs.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    entry = registering.register(name, str(data / "pairs.json"), str(data))
    assert entry["columns"]["images"] == "images", entry
    return data
