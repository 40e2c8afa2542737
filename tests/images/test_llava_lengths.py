"""prefkit validate's lengths for LLaVA image pairs (every <image> is the same number of image tokens) equal
LLaMA-Factory 0.9.5's get_dataset with its own LLaVA processor, row for row, with and without cuts into images."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import LF_PYTHONS, ROOT
from helpers.lf_tools import tool_lines
from prefkit.pipeline.validate import validate

sys.path.insert(0, str(ROOT / "tests" / "helpers"))
from images import make_image  # noqa: E402

pytest.importorskip("PIL")
WORDS = "describe the colours and the shapes you can see here in plain words for a child".split()


def rows() -> list[dict]:
    out = []
    for n in range(12):
        images = [f"img/{(n + k) % 4}.png" for k in range(1 + n % 3)]
        prompt = "".join("<image>" for _ in images) + " ".join(WORDS[: 2 + n % 9])
        out.append({"conversations": [{"from": "human", "value": prompt}], "images": images,
                    "chosen": {"from": "gpt", "value": " ".join(WORDS[: 3 + n % 5])},
                    "rejected": {"from": "gpt", "value": " ".join(reversed(WORDS[: 1 + n % 7]))}})
    return out


CUTOFFS = (24, 40, 1024)  # 24 and 40 cut some rows inside an image, 1024 none


@pytest.mark.llamafactory
def test_llava_lengths_equal_llamafactory_get_dataset(tmp_path: Path, tiny_vlm: str) -> None:
    for i, size in enumerate([(28, 28), (300, 200), (17, 900), (1000, 700)]):
        make_image(tmp_path / "img" / f"{i}.png", size)
    (tmp_path / "pairs.json").write_text(json.dumps(rows()))
    entry = {"file_name": "pairs.json", "formatting": "sharegpt", "ranking": True,
             "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected", "images": "images"}}
    (tmp_path / "dataset_info.json").write_text(json.dumps({"pairs": entry}))
    lines = tool_lines(LF_PYTHONS["0.9.5"], "llava_lengths.py", str(tmp_path), "pairs", tiny_vlm, *map(str, CUTOFFS),
                       prefix="{")
    cuts = 0
    for cutoff in CUTOFFS:
        theirs = [line for line in lines if line["cutoff"] == cutoff]
        lengths = tmp_path / f"lengths_{cutoff}.jsonl"
        report = validate("pairs", str(tmp_path), model=tiny_vlm, template="llava", cutoff_len=cutoff,
                          lengths_path=str(lengths))
        ours = [json.loads(line) for line in lengths.read_text().splitlines()]
        assert len(ours) == len(theirs) == 12
        assert not [f for f in report.findings.items if f.code == "image_tokens_not_counted"]
        for mine, lf in zip(ours, theirs):
            kept = (mine["prompt_kept"], mine["chosen_kept"], mine["rejected_kept"])
            assert kept == (lf["prompt_kept"], lf["chosen_kept"], lf["rejected_kept"]), (cutoff, mine, lf)
            assert mine["image_tokens"] == [4] * len(mine["image_tokens"])
            cut = sum(lf["image_runs"]) < sum(mine["image_tokens"])  # adjacent images make one run of image tokens
            assert ("image_tokens_cut" in mine) == cut, (cutoff, mine, lf)
            cuts += cut
    assert cuts > 0  # the check can fail: some rows are cut inside an image
