"""Image token counts of LLaMA-Factory 0.9.5's Qwen2-VL plugin (templates qwen2_vl, qwen3_vl, ...), in plain Python.

Per image (data/mm_plugin.py): ``MMPluginMixin._preprocess_image`` shrinks an image over ``image_max_pixels``
and grows one under ``image_min_pixels`` (each side times sqrt(limit / area), truncated by ``int``, resized by
Pillow to exactly that size); ``Qwen2VLPlugin._preprocess_image`` then raises a side under 28 to 28 and squeezes
an aspect ratio over 200 to 180. The image processor's ``smart_resize`` rounds both sides to multiples of
``patch_size * merge_size`` within its own ``min_pixels``/``max_pixels``; the grid is (1, h / patch, w / patch)
and ``process_messages`` writes ``grid_t * grid_h * grid_w // merge_size**2`` ``<|image_pad|>`` tokens between
``<|vision_start|>`` and ``<|vision_end|>``. Only the image's stored size matters, so no pixel is decoded here.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# LLaMA-Factory's ModelArguments defaults (hparams/model_args.py, 0.9.3-0.9.5).
LF_IMAGE_MAX_PIXELS = 768 * 768
LF_IMAGE_MIN_PIXELS = 32 * 32
QWEN_MIN_SIDE = 28  # Qwen2VLPlugin._preprocess_image, whatever the patch size
MAX_RATIO, SQUEEZED_RATIO = 200, 180
VISION_START, IMAGE_PAD, VISION_END = "<|vision_start|>", "<|image_pad|>", "<|vision_end|>"


class ImageTokenError(ValueError):
    """LLaMA-Factory or the image processor fails on an image of this size (the whole run stops)."""


@dataclass(frozen=True, slots=True)
class QwenVLImageConfig:
    """The parts of a ``Qwen2VLImageProcessor`` config (preprocessor_config.json) that decide the token count;
    defaults are the class defaults of transformers 5.6."""

    patch_size: int = 14
    merge_size: int = 2
    temporal_patch_size: int = 2
    min_pixels: int = 56 * 56
    max_pixels: int = 28 * 28 * 1280

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> QwenVLImageConfig:
        """As ``Qwen2VLImageProcessor.__init__`` reads it: ``min_pixels``/``max_pixels`` override ``size``'s
        ``shortest_edge``/``longest_edge`` (older configs: ``size.min_pixels``/``max_pixels``)."""
        size = config.get("size") if isinstance(config.get("size"), Mapping) else {}
        d = cls()
        min_pixels = config.get("min_pixels") or size.get("shortest_edge") or size.get("min_pixels") or d.min_pixels
        max_pixels = config.get("max_pixels") or size.get("longest_edge") or size.get("max_pixels") or d.max_pixels
        return cls(patch_size=int(config.get("patch_size") or d.patch_size),
                   merge_size=int(config.get("merge_size") or d.merge_size),
                   temporal_patch_size=int(config.get("temporal_patch_size") or d.temporal_patch_size),
                   min_pixels=int(min_pixels), max_pixels=int(max_pixels))

    @classmethod
    def from_dir(cls, model_dir: str) -> QwenVLImageConfig:
        """From a model folder's ``preprocessor_config.json`` (or the ``image_processor`` part of
        ``processor_config.json``, as transformers 5 saves it)."""
        for name, key in (("preprocessor_config.json", None), ("processor_config.json", "image_processor")):
            path = os.path.join(model_dir, name)
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as f:
                    config = json.load(f)
                config = config.get(key, {}) if key else config
                if config:
                    return cls.from_dict(config)
        raise FileNotFoundError(f"{model_dir}: no preprocessor_config.json with the image processor's settings")

    @property
    def factor(self) -> int:
        return self.patch_size * self.merge_size


def lf_preprocess_size(width: int, height: int, image_max_pixels: int = LF_IMAGE_MAX_PIXELS,
                       image_min_pixels: int = LF_IMAGE_MIN_PIXELS) -> tuple[int, int]:
    """(width, height) after LLaMA-Factory's ``_preprocess_image`` (the base one, then Qwen2VLPlugin's), with
    the same float operations and ``int`` truncation."""
    if width * height > image_max_pixels:
        width, height = _scaled(width, height, math.sqrt(image_max_pixels / (width * height)))
    if width * height < image_min_pixels:
        width, height = _scaled(width, height, math.sqrt(image_min_pixels / (width * height)))
    if min(width, height) < QWEN_MIN_SIDE:
        width, height = max(width, QWEN_MIN_SIDE), max(height, QWEN_MIN_SIDE)
    if width / height > MAX_RATIO:
        width = height * SQUEEZED_RATIO
    if height / width > MAX_RATIO:
        height = width * SQUEEZED_RATIO
    return width, height


def _scaled(width: int, height: int, factor: float) -> tuple[int, int]:
    new = int(width * factor), int(height * factor)
    if min(new) <= 0:  # Pillow's resize refuses it: "height and width must be > 0"
        raise ImageTokenError(f"a {width}x{height} image resizes to {new[0]}x{new[1]}: Pillow cannot resize it")
    return new


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """transformers' ``qwen2_vl`` ``smart_resize`` (same in the PIL and torchvision processors)."""
    if max(height, width) / min(height, width) > MAX_RATIO:
        raise ImageTokenError(f"absolute aspect ratio must be smaller than {MAX_RATIO}, "
                              f"got {max(height, width) / min(height, width)}")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def image_grid(width: int, height: int, config: QwenVLImageConfig, image_max_pixels: int = LF_IMAGE_MAX_PIXELS,
               image_min_pixels: int = LF_IMAGE_MIN_PIXELS) -> tuple[int, int, int]:
    """The processor's ``image_grid_thw`` for one image of this stored size."""
    width, height = lf_preprocess_size(width, height, image_max_pixels, image_min_pixels)
    h_bar, w_bar = smart_resize(height, width, config.factor, config.min_pixels, config.max_pixels)
    grid_t = 1  # one frame, padded to temporal_patch_size frames: one temporal patch
    return grid_t, h_bar // config.patch_size, w_bar // config.patch_size


def image_tokens(width: int, height: int, config: QwenVLImageConfig, image_max_pixels: int = LF_IMAGE_MAX_PIXELS,
                 image_min_pixels: int = LF_IMAGE_MIN_PIXELS) -> int:
    """How many ``<|image_pad|>`` tokens LLaMA-Factory writes for one image (not counting the two vision markers)."""
    t, h, w = image_grid(width, height, config, image_max_pixels, image_min_pixels)
    return t * h * w // config.merge_size ** 2


# --- where the image tokens sit -------------------------------------------------------------------------------


def expand_placeholders(contents: Sequence[str], counts: Sequence[int], placeholder: str = "<image>",
                        image_token: str = IMAGE_PAD) -> list[str]:
    """The message contents as ``Qwen2VLPlugin.process_messages`` rewrites them: the n-th placeholder, counted
    across the messages in order, becomes ``<|vision_start|>`` + ``counts[n]`` image tokens + ``<|vision_end|>``.
    Raises ValueError when placeholders and counts differ in number (LLaMA-Factory's check)."""
    if sum(c.count(placeholder) for c in contents) != len(counts):
        raise ValueError(f"{len(counts)} images for {sum(c.count(placeholder) for c in contents)} placeholders")
    out, n = [], 0
    for content in contents:
        parts = content.split(placeholder)
        text = parts[0]
        for part in parts[1:]:
            text += f"{VISION_START}{image_token * counts[n]}{VISION_END}" + part
            n += 1
        out.append(text)
    return out


def image_spans(ids: Sequence[int], image_token_id: int) -> list[tuple[int, int]]:
    """[start, end) of each run of image tokens in a token sequence: one run per image."""
    spans: list[tuple[int, int]] = []
    for i, token in enumerate(ids):
        if token != image_token_id:
            continue
        if spans and spans[-1][1] == i:
            spans[-1] = (spans[-1][0], i + 1)
        else:
            spans.append((i, i + 1))
    return spans


def spans_from_markers(marker_offsets: Sequence[int], counts: Sequence[int]) -> list[tuple[int, int]]:
    """[start, end) of each image's tokens in the expanded sequence, from a compact rendering where each
    placeholder became only ``<|vision_start|><|vision_end|>``: ``marker_offsets`` are the positions of the
    ``<|vision_start|>`` tokens there. The added special tokens split the text, so the compact ids are the
    expanded ids without the image tokens: expanded length = compact length + sum(counts)."""
    spans, shift = [], 0
    for offset, count in zip(marker_offsets, counts, strict=True):
        start = offset + 1 + shift
        spans.append((start, start + count))
        shift += count
    return spans


def first_cut_image(spans: Sequence[tuple[int, int]], kept: int) -> int | None:
    """Index of the first image whose tokens do not all survive truncation to the first ``kept`` tokens (None:
    all do). LLaMA-Factory still passes every image's features, so any such image breaks training
    ("Image features and image tokens do not match"): report ``image_tokens_cut``."""
    for index, (_, end) in enumerate(spans):
        if end > kept:
            return index
    return None
