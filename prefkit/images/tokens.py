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
from typing import Any, ClassVar

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
        config = processor_config(model_dir)
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


def spans_from_markers(marker_offsets: Sequence[int], counts: Sequence[int], compact: int = 0) -> list[tuple[int, int]]:
    """[start, end) of each image's tokens in the expanded sequence, from a compact rendering where each
    placeholder became only ``<|vision_start|><|vision_end|>``: ``marker_offsets`` are the positions of the
    ``<|vision_start|>`` tokens there. The added special tokens split the text, so the compact ids are the
    expanded ids without the image tokens: expanded length = compact length + sum(counts). With ``compact`` 1
    (LLaVA: a placeholder is one image token, expanded to ``count`` of them) the offsets are those image tokens'."""
    spans, shift = [], 0
    for offset, count in zip(marker_offsets, counts, strict=True):
        start = offset + 1 - compact + shift
        spans.append((start, start + count))
        shift += count - compact
    return spans


def first_cut_image(spans: Sequence[tuple[int, int]], kept: int) -> int | None:
    """Index of the first image whose tokens do not all survive truncation to the first ``kept`` tokens (None:
    all do). LLaMA-Factory still passes every image's features, so any such image breaks training
    ("Image features and image tokens do not match"): report ``image_tokens_cut``."""
    for index, (_, end) in enumerate(spans):
        if end > kept:
            return index
    return None


def token_counts(result: Any, config: QwenVLImageConfig, image_max_pixels: int = LF_IMAGE_MAX_PIXELS,
                 image_min_pixels: int = LF_IMAGE_MIN_PIXELS) -> tuple[list[int | None], list[tuple[str, str, str, str]]]:
    """Image tokens per image of a checked row (prefkit.images.checks.RowImages: its refs and stored sizes; None
    where the file is missing or unreadable), and an
    ``image_unreadable`` finding for a size LLaMA-Factory or the processor cannot resize (the run would stop)."""
    counts: list[int | None] = []
    findings: list[tuple[str, str, str, str]] = []  # (code, level, path, message)
    for ref, size in zip(result.refs, result.sizes):
        try:
            counts.append(image_tokens(*size, config, image_max_pixels, image_min_pixels) if size else None)
        except ImageTokenError as e:
            counts.append(None)
            findings.append(("image_unreadable", "error", ref.path, f"image {ref.ref} ({size[0]}x{size[1]}) cannot be "
                             f"used by LLaMA-Factory's Qwen2-VL plugin: {e}"))  # type: ignore[index]
    return counts, findings


# --- which templates, which model folder ------------------------------------------------------------------------

# LLaMA-Factory 0.9.5's templates served by Qwen2VLPlugin or its subclass Qwen3VLPlugin (data/template.py), with the
# plugin's (vision start, image token, vision end); their images go through the Qwen2-VL image processor.
QWEN_VL_TEMPLATES: dict[str, tuple[str, str, str]] = {
    **dict.fromkeys(("qwen2_vl", "qwen3_vl", "qwen3_vl_nothink", "qwen3_5", "qwen3_5_nothink", "qwen3_6", "mimo_vl",
                     "keye_vl"), (VISION_START, IMAGE_PAD, VISION_END)),
    "dots_ocr": ("<|img|>", "<|imgpad|>", "<|endofimg|>"),
}
# The other 0.9.5 templates with an image plugin (each its own token arithmetic, not counted by prefkit); every
# template not named here has none: LLaMA-Factory raises "This model does not support image input" on an image.
LF_OTHER_IMAGE_TEMPLATES: dict[str, str] = {
    **dict.fromkeys(("llava", "yi_vl"), "llava"), "ernie_vl": "ernie_vl", "gemma3": "gemma3", "gemma3n": "gemma3n",
    **dict.fromkeys(("gemma4", "gemma4n"), "gemma4"), **dict.fromkeys(("glm4v", "glm4_5v", "glm_ocr"), "glm4v"),
    **dict.fromkeys(("intern_vl", "intern_s1"), "intern_vl"), "kimi_vl": "kimi_vl", "lfm2_vl": "lfm2_vl",
    "llama4": "llama4", **dict.fromkeys(("granite3_vision", "llava_next", "llava_next_llama3", "llava_next_mistral",
                                        "llava_next_qwen", "llava_next_yi"), "llava_next"),
    **dict.fromkeys(("llava_next_video", "llava_next_video_mistral", "llava_next_video_yi"), "llava_next_video"),
    **dict.fromkeys(("minicpm_v", "minicpm_o"), "minicpm_v"), "minicpm_v_4_6": "minicpm_v_4_6", "mllama": "mllama",
    **dict.fromkeys(("paligemma", "paligemma_chat"), "paligemma"),
    **dict.fromkeys(("mistral_small", "ministral3", "pixtral"), "pixtral"),
    **dict.fromkeys(("qwen2_omni", "qwen3_omni", "qwen3_omni_nothink"), "qwen2_omni"), "video_llava": "video_llava",
    "youtu_vl": "youtu_vl",
}
LLAVA_TEMPLATES = ("llava", "yi_vl")  # LlavaPlugin with image token <image>: counted from the model folder's configs
QWEN_VL_PROCESSOR = "Qwen2VLImageProcessor"  # and its Fast/Pil variants: every Qwen-VL folder names one of them

Note = tuple[str, str, str]  # (code, level, message): about the set-up, reported once


@dataclass(frozen=True, slots=True)
class QwenVLPlugin:
    """LLaMA-Factory's Qwen2-VL plugin for one template and model folder: what an image costs and how the row's
    messages are rewritten (``markers``: vision start, image token, vision end)."""

    template: str
    config: QwenVLImageConfig
    image_max_pixels: int = LF_IMAGE_MAX_PIXELS
    image_min_pixels: int = LF_IMAGE_MIN_PIXELS
    markers: tuple[str, str, str] = (VISION_START, IMAGE_PAD, VISION_END)
    config_source: str = "class defaults"

    compact_tokens: ClassVar[int] = 0  # image tokens the compact rendering already holds per image
    pad_index: ClassVar[int] = 1  # which of the markers is the image token

    def tokens(self, width: int, height: int) -> int:
        return image_tokens(width, height, self.config, self.image_max_pixels, self.image_min_pixels)

    @property
    def compact_marker(self) -> str:
        """What a placeholder becomes in the compact rendering (spans_from_markers): start + end, no image tokens."""
        return self.markers[0] + self.markers[2]

    def starts(self, ids: Sequence[int], marker_ids: Sequence[int]) -> list[int]:
        """Where the compact rendering's images sit: each start marker right before an end marker."""
        return [i for i in range(len(ids) - 1) if ids[i] == marker_ids[0] and ids[i + 1] == marker_ids[2]]

    def counts(self, checked: Any) -> tuple[list[int | None], list[Any]]:
        """Image tokens per image of a checked row (:func:`token_counts`)."""
        return token_counts(checked, self.config, self.image_max_pixels, self.image_min_pixels)

    def describe(self) -> dict[str, Any]:
        """The report's view of the set-up."""
        return {"image_plugin": "qwen2_vl", "image_max_pixels": self.image_max_pixels,
                "image_min_pixels": self.image_min_pixels, "image_processor": self.config_source,
                "patch_size": self.config.patch_size, "merge_size": self.config.merge_size}


@dataclass(frozen=True, slots=True)
class LlavaPlugin:
    """LLaMA-Factory's LLaVA plugin (templates llava, yi_vl): every ``<image>`` becomes ``seqlen`` image tokens, the
    same for any image, since the CLIP processor crops each to one size: (crop height // patch) x (crop width //
    patch) + the processor's additional tokens, one less with the "default" feature strategy (mm_plugin.LlavaPlugin)."""

    template: str
    seqlen: int
    image_token: str = "<image>"
    config_source: str = "processor_config.json"
    compact_tokens: ClassVar[int] = 1
    pad_index: ClassVar[int] = 0

    @property
    def markers(self) -> tuple[str]:
        return (self.image_token,)

    @property
    def compact_marker(self) -> str:
        return self.image_token

    def tokens(self, width: int, height: int) -> int:
        return self.seqlen

    def starts(self, ids: Sequence[int], marker_ids: Sequence[int]) -> list[int]:
        return [i for i, token in enumerate(ids) if token == marker_ids[0]]

    def counts(self, checked: Any) -> tuple[list[int | None], list[Any]]:
        return [self.seqlen if size else None for size in checked.sizes], []

    def describe(self) -> dict[str, Any]:
        return {"image_plugin": "llava", "image_tokens_per_image": self.seqlen, "image_processor": self.config_source}


def llava_seqlen(model_dir: str) -> int | None:
    """The image tokens of each image for a LLaVA folder (processor_config.json's patch size, feature strategy and
    additional tokens, the image processor's crop size); None when they are not all there or the processor does not
    crop to one size."""
    path = os.path.join(model_dir, "processor_config.json")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        processor = json.load(f)
    if not isinstance(processor, Mapping):
        return None
    image = processor_config(model_dir) or {}
    crop, patch = image.get("crop_size"), processor.get("patch_size")
    if not (image.get("do_center_crop", True) and isinstance(crop, Mapping) and isinstance(patch, int) and patch > 0):
        return None
    height, width = crop.get("height"), crop.get("width")
    if not (isinstance(height, int) and isinstance(width, int)):
        return None
    extra = processor.get("num_additional_image_tokens") or 0
    default = processor.get("vision_feature_select_strategy") == "default"
    return (height // patch) * (width // patch) + int(extra) - int(default)


def image_config(model: str) -> tuple[QwenVLImageConfig | None, str, str | None]:
    """(config, where it came from, the image processor class it names) for a model folder or hub name: the
    folder's preprocessor_config.json (or processor_config.json), else the class defaults."""
    if os.path.isdir(model):
        try:
            config = QwenVLImageConfig.from_dir(model)
        except FileNotFoundError:
            return QwenVLImageConfig(), "class defaults (no preprocessor_config.json in the model folder)", None
        except (OSError, ValueError, TypeError) as e:  # unreadable JSON, a value that is not a number
            raise ImageTokenError(f"{model}: cannot read its image processor config: {e}") from e
        return config, "preprocessor_config.json", _processor_type(model)
    return QwenVLImageConfig(), "class defaults (the model is not a local folder)", None


def processor_config(model_dir: str) -> Mapping[str, Any] | None:
    """A model folder's image processor settings: its ``preprocessor_config.json``, or the ``image_processor`` part
    of ``processor_config.json`` (as transformers 5 saves it); None without either."""
    for name, key in (("preprocessor_config.json", None), ("processor_config.json", "image_processor")):
        path = os.path.join(model_dir, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                config = json.load(f)
            config = config.get(key, {}) if key and isinstance(config, Mapping) else config
            if isinstance(config, Mapping) and config:
                return config
    return None


def _processor_type(model_dir: str) -> str | None:
    found = (processor_config(model_dir) or {}).get("image_processor_type")
    return found if isinstance(found, str) else None


def image_plugin(template: str, model: str, image_max_pixels: int = LF_IMAGE_MAX_PIXELS,
                 image_min_pixels: int = LF_IMAGE_MIN_PIXELS) -> tuple[ImagePlugin | None, list[Note]]:
    """The plugin prefkit counts image tokens with for this template and model, or None, with the notes to report
    once: why image tokens are not counted, or where the image processor's settings came from."""
    markers = QWEN_VL_TEMPLATES.get(template)
    if template in LLAVA_TEMPLATES:
        seqlen = llava_seqlen(model) if os.path.isdir(model) else None
        if seqlen is not None:
            return LlavaPlugin(template, seqlen), []
    if markers is None:
        other = LF_OTHER_IMAGE_TEMPLATES.get(template)
        if other is None:
            return None, [("images_unsupported", "error", f"template {template!r} has no image plugin in "
                           "LLaMA-Factory 0.9.5: its loader stops at this row (\"This model does not support image "
                           "input\"); use the model's vision template (e.g. qwen2_vl)")]
        return None, [("image_tokens_not_counted", "warning", f"image tokens are not counted: template {template!r} "
                       f"uses LLaMA-Factory's {other} plugin, and prefkit counts the Qwen2-VL plugin's "
                       f"({', '.join(sorted(QWEN_VL_TEMPLATES))}) and, from a local LLaVA folder's "
                       "processor_config.json, the LLaVA plugin's; lengths below leave the images out")]
    config, source, kind = image_config(model)
    if kind is not None and not kind.startswith(QWEN_VL_PROCESSOR):
        return None, [("image_tokens_not_counted", "warning", f"image tokens are not counted: {model} names image "
                       f"processor {kind}, not {QWEN_VL_PROCESSOR}; lengths below leave the images out")]
    notes: list[Note] = []
    if not source.startswith("preprocessor_config"):
        notes.append(("image_processor_defaults", "info", f"image tokens counted with {QWEN_VL_PROCESSOR}'s {source}: "
                      f"patch {config.patch_size}, merge {config.merge_size}, pixels {config.min_pixels:,}.."
                      f"{config.max_pixels:,}"))
    return QwenVLPlugin(template, config, image_max_pixels, image_min_pixels, markers, source), notes


ImagePlugin = QwenVLPlugin | LlavaPlugin


def marker_ids(tokenizer: Any, markers: Sequence[str]) -> list[int] | None:
    """The ids of the plugin's markers when the tokenizer has each as one added token that splits the text (what
    the compact rendering relies on), else None."""
    ids = [tokenizer.encode(marker, add_special_tokens=False) for marker in markers]
    if any(len(found) != 1 for found in ids):
        return None
    joined = tokenizer.encode("a" + "".join(markers) + "a", add_special_tokens=False)
    return [found[0] for found in ids] if [i for i in joined if i in {f[0] for f in ids}] == [f[0] for f in ids] \
        else None


@dataclass(slots=True)
class RowImageTokens:
    """One row's images as the plugin counts them (in row order), and the first image truncation cuts."""

    paths: tuple[str, ...]  # field paths: "images[0]"
    refs: tuple[str, ...]  # as written in the row
    sizes: tuple[tuple[int, int], ...]  # stored (width, height)
    tokens: tuple[int, ...]  # image tokens of each (Qwen-VL: without its start and end markers)
    cut: tuple[int, str, int, int, int] | None = None  # (image, sequence, kept, start, end) of the first image cut
    finding: tuple[str, str, str, str] | None = None  # image_tokens_cut as (code, level, path, message)

    @property
    def total(self) -> int:
        return sum(self.tokens)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"image_tokens": list(self.tokens)}
        if self.cut is not None:
            out["image_tokens_cut"] = self.cut[0]
        return out

    def cut_at(self, cut: tuple[int, str, int, int, int], limit_name: str, cutoff_len: int, needed: int) -> None:
        """Record that truncation cuts into an image's tokens: ``image_tokens_cut``, an error."""
        image, sequence, kept, start, end = self.cut = cut
        width, height = self.sizes[image]
        self.finding = ("image_tokens_cut", "error", self.paths[image],
                        f"{limit_name} {cutoff_len:,} keeps {kept:,} tokens of the {sequence} and cuts into image "
                        f"{image} ({self.refs[image]}, {width}x{height}: tokens {start:,}-{end:,}); LLaMA-Factory "
                        "still passes every image's features, so training fails (\"Image features and image tokens "
                        f"do not match\"); {limit_name} {needed:,} keeps the row whole")
