"""Synthetic test images made with Pillow (never real photos), and Qwen2-VL's image processor settings."""

from __future__ import annotations

from pathlib import Path

# Qwen2-VL-7B-Instruct's preprocessor_config.json values (its image processor, no weights needed).
QWEN2_VL_PREPROCESSOR = {
    "min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14, "temporal_patch_size": 2, "merge_size": 2,
    "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
    "image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2VLProcessor",
}


def make_image(path: Path, size: tuple[int, int], fmt: str | None = None,
               color: tuple[int, int, int] = (90, 140, 200)) -> str:
    """A solid-colour image of ``size`` (width, height) saved at ``path`` (format from the suffix unless given)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, fmt)
    return str(path)


def truncated_copy(source: Path, target: Path, keep: float = 0.5) -> str:
    """The first ``keep`` fraction of an image file: Pillow reads its header but cannot decode it."""
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * keep)])
    return str(target)
