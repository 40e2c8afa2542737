"""prefkit's image token counts, image spans and image findings against LLaMA-Factory 0.9.5's own get_dataset, row
by row, on images made here with Pillow (tests/tools/image_tokens_parity.py runs LLaMA-Factory, once for all
configs); and prefkit validate --model's whole-row lengths (--lengths: kept prompt, chosen and rejected, truncation,
image_tokens_cut) against what get_dataset kept."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import LF_PYTHONS, ROOT
from helpers.images import QWEN2_VL_PREPROCESSOR, make_image, truncated_copy

pytestmark = [pytest.mark.llamafactory, pytest.mark.slow]

DEFAULTS = {"image_max_pixels": 768 * 768, "image_min_pixels": 32 * 32}  # LLaMA-Factory's ModelArguments
CONFIGS = [
    {"template": "qwen2_vl", "cutoff_len": 100_000, **DEFAULTS},
    {"template": "qwen2_vl", "cutoff_len": 100_000, "image_max_pixels": 512 * 512, "image_min_pixels": 128 * 128},
    # LLaMA-Factory's limits loose, the processor's own min/max_pixels bind (Qwen2-VL's 256..1280 tokens setting)
    {"template": "qwen2_vl", "cutoff_len": 100_000, "image_max_pixels": 4000 * 3000, "image_min_pixels": 1,
     "preprocessor": {"min_pixels": 256 * 28 * 28, "max_pixels": 1280 * 28 * 28}},
    # Qwen3-VL's image processor: 16-pixel patches, size given as shortest/longest edge
    {"template": "qwen3_vl", "cutoff_len": 100_000, **DEFAULTS,
     "preprocessor": {"patch_size": 16, "min_pixels": None, "max_pixels": None,
                      "size": {"shortest_edge": 65536, "longest_edge": 16777216}}},
    # truncation: cutoff_len falls inside image tokens in some rows, in text or nowhere in others
    {"template": "qwen2_vl", "cutoff_len": 512, **DEFAULTS},
    {"template": "qwen2_vl", "cutoff_len": 1500, **DEFAULTS},
]
FIXED_SIZES = [(28, 28), (29, 29), (56, 56), (300, 200), (200, 300), (640, 480), (1000, 700), (1024, 1024),
               (1920, 1080), (4000, 3000), (3000, 4000), (28, 2000), (2000, 28), (10, 3000), (3000, 10), (5, 5),
               (1, 1), (28, 6000), (6000, 20), (768, 768), (769, 769), (767, 769), (100, 5000), (2, 400_000)]
# (chunks of images per row, how the placeholders sit): several per turn, across turns, at the end of a turn
LAYOUTS = [[1], [2], [1, 1], [3], [2, 1], [1], [4], [1, 2], [1], [2], [1, 1], [3], [1], [2, 2], [1]]
EXPECTED_FAILURES = {
    "missing": (["image_missing"], "FileNotFoundError"),
    "truncated": (["image_unreadable"], "OSError: image file is truncated"),
    "not_an_image": (["image_unreadable"], "UnidentifiedImageError"),
    "count": (["image_count_mismatch"], "ValueError: The number of images does not match"),
    "system_placeholder": (["image_count_mismatch"], "ValueError: The number of images does not match"),
    "answer_image": (["image_in_answer"], "ok"),
}


def sizes() -> list[tuple[int, int]]:
    rng = random.Random(22)
    randoms = [(int(28 * 2 ** rng.uniform(0, 7.2)), int(28 * 2 ** rng.uniform(0, 7.2))) for _ in range(26)]
    return FIXED_SIZES + [(min(w, 4000), min(h, 4000)) for w, h in randoms]


def sharegpt_row(paths: list[str], chunks: list[int], index: int) -> dict:
    """User turns holding ``chunks`` placeholders each (a reply between them), the last turn the question."""
    turns: list[dict] = [] if index % 5 else [{"from": "system", "value": "Answer briefly."}]
    for i, n in enumerate(chunks):
        text = "<image>" * n + f"Question {index}.{i}?" if i % 2 == 0 else f"And {index}.{i}? " + "<image>" * n
        turns += [{"from": "human", "value": text}, {"from": "gpt", "value": f"Reply {i} " * (index % 4 + 1)}]
    turns = turns[:-1]
    return {"conversations": turns, "chosen": {"from": "gpt", "value": f"Chosen answer {index}. " * 3},
            "rejected": {"from": "gpt", "value": f"Rejected {index}."}, "images": paths}


def build(base: Path) -> tuple[Path, int, int]:
    """A dataset dir with the sharegpt ("pairs") and RLAIF-V style alpaca ("rlaif") datasets and the one-row
    datasets of EXPECTED_FAILURES; (dir, rows, images) of the two main datasets."""
    data = base / "data"
    all_sizes = sizes()
    paths = [make_image(data / "img" / f"{i}_{w}x{h}.{'jpg' if i % 3 == 0 else 'png'}", (w, h), color=(i * 5 % 255, 90, 160))
             for i, (w, h) in enumerate(all_sizes)]
    relative = [str(Path(p).relative_to(data)) for p in paths]
    relative[5] = paths[5]  # one absolute path
    rows, used = [], 0
    for index, chunks in enumerate(LAYOUTS):
        rows.append(sharegpt_row(relative[used:used + sum(chunks)], chunks, index))
        used += sum(chunks)
    alpaca = [{"question": f"<image>What is in picture {i}?", "chosen": "A colour. " * (i + 1), "rejected": "Nothing.",
               "image": relative[i]} for i in range(used, len(relative))]
    info = {"pairs": {"file_name": "pairs.json", "formatting": "sharegpt", "ranking": True,
                      "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected", "images": "images"}},
            "rlaif": {"file_name": "rlaif.json", "ranking": True,
                      "columns": {"prompt": "question", "chosen": "chosen", "rejected": "rejected", "images": "image"}}}
    (data / "pairs.json").write_text(json.dumps(rows))
    (data / "rlaif.json").write_text(json.dumps(alpaca))
    truncated_copy(data / "img" / f"9_{all_sizes[9][0]}x{all_sizes[9][1]}.jpg", data / "img" / "cut.jpg", keep=0.3)
    (data / "img" / "text.png").write_text("not an image")
    bad = {"missing": sharegpt_row(["img/nope.png"], [1], 1),
           "truncated": sharegpt_row(["img/cut.jpg"], [1], 1),
           "not_an_image": sharegpt_row(["img/text.png"], [1], 1),
           "count": sharegpt_row(relative[:2], [1], 1),
           "system_placeholder": {**sharegpt_row(relative[:1], [1], 1), "conversations": [
               {"from": "system", "value": "<image>"}, {"from": "human", "value": "What is it?"}]},
           "answer_image": {**sharegpt_row(relative[:1], [1], 1), "conversations": [{"from": "human", "value": "Draw."}],
                            "chosen": {"from": "gpt", "value": "<image>"}, "rejected": {"from": "gpt", "value": "<image>no"}}}
    for name, row in bad.items():
        (data / f"{name}.json").write_text(json.dumps([row]))
        info[name] = {**info["pairs"], "file_name": f"{name}.json"}
    (data / "dataset_info.json").write_text(json.dumps(info, indent=1))
    return data, len(rows) + len(alpaca), len(relative)


@pytest.fixture(scope="module")
def qwen2_vl_model(tmp_path_factory, qwen_tokenizer) -> str:
    """A Qwen2-VL processor folder built offline: the Qwen2.5 tokenizer (it already has <|vision_start|>,
    <|image_pad|>, <|vision_end|> as special tokens) beside Qwen2-VL's preprocessor_config.json; no weights.
    (Defined here, not in a tests/images/conftest.py: a second conftest module would shadow tests/conftest.py's
    ``from conftest import ...``.)"""
    return config_model(tmp_path_factory.mktemp("tiny-qwen2-vl") / "model", qwen_tokenizer, {})


@pytest.fixture(scope="module")
def parity(tmp_path_factory, qwen2_vl_model) -> tuple[list[dict], dict, int, int, Path]:
    python = LF_PYTHONS["0.9.5"]
    if not python.exists():
        pytest.skip("LLaMA-Factory 0.9.5 venv not set up (make setup)")
    base = tmp_path_factory.mktemp("image_parity")
    data, rows, images = build(base)
    spec = {"dataset_dir": str(data), "model": qwen2_vl_model, "datasets": ["pairs", "rlaif"], "configs": CONFIGS,
            "failing": list(EXPECTED_FAILURES), "too_thin": [[1, 1_000_000], [2, 400_000], [3, 700], [700, 3]]}
    (base / "spec.json").write_text(json.dumps(spec))
    proc = subprocess.run([str(python), str(ROOT / "tests" / "tools" / "image_tokens_parity.py"), str(base / "spec.json")],
                          capture_output=True, text=True, timeout=1200, cwd=str(base))
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return lines[:-1], lines[-1], rows, images, data


def config_model(base: Path, tokenizer_dir: str, overrides: dict) -> str:
    """A model folder for one config: the tokenizer beside preprocessor_config.json with the config's overrides (as
    the tool builds the processor)."""
    base.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(Path(tokenizer_dir) / name, base / name)
    (base / "preprocessor_config.json").write_text(json.dumps({**QWEN2_VL_PREPROCESSOR, **overrides}))
    return str(base)


@pytest.fixture(scope="module")
def validated(parity, tmp_path_factory, qwen2_vl_model) -> list[tuple[list[dict], set[int]]]:
    """Per config: prefkit validate's --lengths lines over both datasets in get_dataset's order, and the records with
    an image_tokens_cut finding (numbered the same way)."""
    from prefkit.pipeline.validate import validate

    data, base = parity[4], tmp_path_factory.mktemp("validated")
    out = []
    for n, config in enumerate(CONFIGS):
        model = config_model(base / f"model{n}", qwen2_vl_model, config.get("preprocessor", {}))
        lines: list[dict] = []
        cut: set[int] = set()
        for name in ("pairs", "rlaif"):
            report = validate(name, str(data), model=model, template=config["template"],
                              cutoff_len=config["cutoff_len"], lengths_path=str(base / f"{n}-{name}.jsonl"),
                              image_max_pixels=config["image_max_pixels"], image_min_pixels=config["image_min_pixels"])
            cut |= {len(lines) + f.index for f in report.findings.items if f.code == "image_tokens_cut"}
            lines += [json.loads(line) for line in (base / f"{n}-{name}.jsonl").read_text().splitlines()]
        out.append((lines, cut))
    return out


def whole_config(config: dict) -> int:
    """The untruncated config with the same image settings (LLaMA-Factory's full lengths and image token runs)."""
    return next(i for i, c in enumerate(CONFIGS) if c["cutoff_len"] == 100_000
                and {**c, "cutoff_len": 0} == {**config, "cutoff_len": 0})


def test_validate_lengths_equal_llamafactory_row_for_row(parity, validated) -> None:
    results, rows = parity[0], parity[2]
    totals = {"truncated": 0, "cut": 0}
    for config, result, (lines, cut) in zip(CONFIGS, results, validated):
        whole = results[whole_config(config)]["lf_rows"]
        assert len(lines) == len(result["lf_rows"]) == rows
        mismatches = []
        for index, (ours, kept, full) in enumerate(zip(lines, result["lf_rows"], whole)):
            lf_cut = next((i for i, n in enumerate(full["runs"]) if i >= len(kept["runs"]) or kept["runs"][i] != n),
                          None)
            theirs = {"prompt": full["prompt"], "chosen": full["chosen"], "rejected": full["rejected"],
                      "prompt_kept": kept["prompt"], "chosen_kept": kept["chosen"], "rejected_kept": kept["rejected"],
                      "image_tokens": full["runs"], "image_tokens_cut": lf_cut, "finding": lf_cut is not None}
            mine = {**{k: ours.get(k) for k in theirs}, "finding": index in cut}
            if mine != theirs:
                mismatches.append([index, mine, theirs])
            totals["truncated"] += kept != full
            totals["cut"] += lf_cut is not None
        assert mismatches == [], (config, mismatches[:3])
    assert totals["truncated"] > totals["cut"] > 0  # truncated in text only, and inside an image, both seen


def test_image_tokens_equal_llamafactory_row_for_row(parity) -> None:
    results, _, rows, images, _ = parity
    assert len(results) == len(CONFIGS)
    for config, result in zip(CONFIGS, results):
        assert result["version"] == "0.9.5" and result["config"] == config
        assert (result["rows"], result["images"]) == (rows, images)
        assert result["count_mismatches"] == [], result["count_mismatches"][:3]
        assert result["span_mismatches"] == [], result["span_mismatches"][:3]
        assert result["id_mismatches"] == [], result["id_mismatches"][:3]
        assert result["cut_mismatches"] == [], result["cut_mismatches"][:3]


def test_cutoff_inside_image_tokens_is_found_where_llamafactory_cuts(parity) -> None:
    results = {r["config"]["cutoff_len"]: r for r in parity[0]}
    assert results[100_000]["truncated"] == 0 and results[100_000]["cut_rows"] == 0
    # at 512 most rows lose image tokens; at 1500 some are truncated in text only, some inside an image
    assert results[512]["cut_rows"] > results[1500]["cut_rows"] > 0
    assert results[1500]["truncated"] > results[1500]["cut_rows"]


def test_each_finding_is_what_stops_llamafactory(parity) -> None:
    failing = parity[1]["failing"]
    for name, (codes, outcome) in EXPECTED_FAILURES.items():
        ours, theirs, image_tokens_in_labels = failing[name]
        assert ours == codes, (name, ours)
        assert theirs.startswith(outcome), (name, theirs)
    assert failing["answer_image"][2] > 0  # LLaMA-Factory trains on the image tokens of the chosen answer


def test_extreme_sizes_resize_or_fail_as_llamafactory(parity) -> None:
    too_thin = parity[1]["too_thin"]
    assert too_thin[0][0].startswith("ImageTokenError") and too_thin[0][1] == "ValueError: height and width must be > 0"
    assert [ours for ours, _ in too_thin[1:]] == [theirs for _, theirs in too_thin[1:]]
