"""The LLaMA-Factory training YAML for a preference method, built from the user's choices.

Sections and defaults follow LLaMA-Factory's own examples (the DPO YAML of our users' notes), so a
generated file reads like the one they used to copy and edit by hand.

>>> cfg = build_config("Qwen/Qwen2.5-7B-Instruct", "my_pairs", "data", method="orpo", template="qwen",
...                    cutoff_len=2048, gpu=True)
>>> cfg["stage"], cfg["pref_loss"], cfg["bf16"], cfg["output_dir"]
('dpo', 'orpo', True, 'saves/Qwen2.5-7B-Instruct/lora/orpo/my_pairs')
"""

from __future__ import annotations

import os
import re
from typing import Any

from ..errors import UsageError
from ..io import files as io

METHODS = {  # method -> the keys that select it
    "dpo": {"stage": "dpo", "pref_beta": 0.1, "pref_loss": "sigmoid"},
    "orpo": {"stage": "dpo", "pref_beta": 0.1, "pref_loss": "orpo"},
    "simpo": {"stage": "dpo", "pref_beta": 0.1, "pref_loss": "simpo"},
    "kto": {"stage": "kto", "pref_beta": 0.1},
    "rm": {"stage": "rm"},
}
FINETUNING = {
    "lora": {"finetuning_type": "lora", "lora_rank": 8, "lora_target": "all"},
    "qlora": {"finetuning_type": "lora", "lora_rank": 8, "lora_target": "all", "quantization_bit": 4},
    "full": {"finetuning_type": "full"},
    "freeze": {"finetuning_type": "freeze"},
}
# The dataset kind each method needs: ranking pairs, or KTO examples.
NEEDS = {"dpo": "rm", "orpo": "rm", "simpo": "rm", "rm": "rm", "kto": "kto"}
# LLaMA-Factory's own defaults (ProcessorArguments, 0.9.3 to 0.9.5): images are shrunk to at most, and grown to at
# least, this many pixels before the model's processor sees them; written out so the YAML says what it trains on.
IMAGE_MAX_PIXELS, IMAGE_MIN_PIXELS = 768 * 768, 32 * 32
# A vision-language model's ``model_type`` (config.json) -> its LLaMA-Factory template, for a local folder that
# LLaMA-Factory's model table does not name (the table's default wins for the models it knows).
VISION_TEMPLATES = {"llava": "llava", "llava_next": "llava_next", "qwen2_vl": "qwen2_vl", "qwen2_5_vl": "qwen2_vl",
                    "qwen3_vl": "qwen3_vl", "gemma3": "gemma3", "mllama": "mllama", "paligemma": "paligemma"}


def safe_name(text: str) -> str:
    """A path part without blanks or odd characters (LLaMA-Factory and shells dislike both)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "model"


def default_output_dir(model: str, finetuning: str, method: str, dataset: str) -> str:
    return "/".join(("saves", safe_name(os.path.basename(model.rstrip("/"))), finetuning, method, safe_name(dataset)))


def build_config(model: str, dataset: str, dataset_dir: str, method: str = "dpo", finetuning: str = "lora",
                 template: str = "default", cutoff_len: int = 2048, output_dir: str | None = None,
                 gpu: bool = False, eval_dataset: str | None = None,
                 overrides: dict[str, Any] | None = None, trust_remote_code: bool = False,
                 images: dict[str, int] | None = None) -> dict[str, Any]:
    """The YAML as a dict, in LLaMA-Factory's section order. ``overrides`` (from --set) win.

    ``trust_remote_code`` is written only when on: LLaMA-Factory's own default (ModelArguments, 0.9.3 to 0.9.5)
    is false, so a YAML without the key never runs a model folder's own code. ``images`` (a dataset with an images
    column: :func:`image_settings`) adds the pixel limits, freezes the vision tower and its projector (LoRA then
    trains the language model only, as LLaMA-Factory's multimodal examples do) and names ``media_dir``, the folder
    the rows' image paths are relative to (the dataset dir, LLaMA-Factory's default, written out).

    >>> cfg = build_config("Qwen/Qwen2-VL-2B-Instruct", "pairs", "data", template="qwen2_vl", images=image_settings())
    >>> [cfg[k] for k in ("image_max_pixels", "image_min_pixels", "freeze_vision_tower", "media_dir")]
    [589824, 1024, True, 'data']
    """
    if method not in METHODS:
        raise UsageError(f"unknown --method {method!r}; choose one of {', '.join(METHODS)}")
    if finetuning not in FINETUNING:
        raise UsageError(f"unknown --finetuning {finetuning!r}; choose one of {', '.join(FINETUNING)}")
    if finetuning == "qlora" and not gpu:
        raise UsageError("--finetuning qlora needs a CUDA GPU and bitsandbytes; use lora on this machine")
    config: dict[str, Any] = {
        # model
        "model_name_or_path": model,
        **({"trust_remote_code": True} if trust_remote_code else {}),
        **(images or {}),
        # method
        **METHODS[method],
        "do_train": True,
        **FINETUNING[finetuning],
        **({"freeze_vision_tower": True, "freeze_multi_modal_projector": True} if images else {}),
        # dataset (no max_samples: LLaMA-Factory then reads every row)
        "dataset": dataset,
        "dataset_dir": dataset_dir,
        **({"media_dir": dataset_dir} if images else {}),
        "template": template,
        "cutoff_len": cutoff_len,
        "overwrite_cache": True,
        "preprocessing_num_workers": min(16, os.cpu_count() or 1),
        "dataloader_num_workers": 0 if not gpu else 4,
        # output
        "output_dir": output_dir or default_output_dir(model, finetuning, method, dataset),
        "logging_steps": 10,
        "save_steps": 500,
        "plot_loss": True,
        "overwrite_output_dir": True,
        "save_only_model": False,
        "report_to": "none",
        # train
        "per_device_train_batch_size": 1,
        "gradient_accumulation_steps": 8,
        "learning_rate": 5.0e-6,
        "num_train_epochs": 3.0,
        "lr_scheduler_type": "cosine",
        "warmup_ratio": 0.1,
        "bf16": gpu,
        "ddp_timeout": 180000000,
        "resume_from_checkpoint": None,
    }
    if eval_dataset:
        config.update(eval_dataset=eval_dataset, do_eval=True, per_device_eval_batch_size=1,
                      eval_strategy="steps", eval_steps=config["save_steps"])
    for key, value in (overrides or {}).items():
        config[key] = value
    return config


def image_settings(max_pixels: int | None = None, min_pixels: int | None = None) -> dict[str, int]:
    """``image_max_pixels`` / ``image_min_pixels`` for the YAML: the given ones, else LLaMA-Factory's defaults."""
    for flag, value in (("--image-max-pixels", max_pixels), ("--image-min-pixels", min_pixels)):
        if value is not None and value < 1:
            raise UsageError(f"{flag} {value}: give a positive number of pixels")
    return {"image_max_pixels": max_pixels or IMAGE_MAX_PIXELS, "image_min_pixels": min_pixels or IMAGE_MIN_PIXELS}


def vision_template(model: str) -> str | None:
    """The template of a local vision-language model folder, by its config.json ``model_type`` (None if unknown)."""
    import json

    try:
        with open(os.path.join(model, "config.json"), encoding="utf-8") as f:
            model_type = json.load(f).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None
    return VISION_TEMPLATES.get(model_type) if isinstance(model_type, str) else None


_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def parse_sets(values: list[str]) -> dict[str, Any]:
    """``--set key=value``: values are read as YAML scalars (numbers, true/false, null stay typed)."""
    import yaml

    out: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {item!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as err:
            reason = str(err).splitlines()[0]
            raise UsageError(f"--set {item!r}: the value is not a YAML scalar ({reason}); quote it") from None
        value = out[key.strip()]
        if isinstance(value, (dict, list)) and not raw.strip().startswith(("[", "{")):
            out[key.strip()] = raw
        elif isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
            out[key.strip()] = float(value)  # YAML 1.1 reads 5e-6 as text; LLaMA-Factory wants the number
    return out


def config_file(path: str) -> str:
    """Check a config file's name and make its folder (LLaMA-Factory's output dir may not exist yet)."""
    if any(c.isspace() for c in os.path.basename(path)):
        raise UsageError(f"{path}: a config file name must not contain blanks")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return path


def yaml_bytes(config: dict[str, Any]) -> bytes:
    import yaml

    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True).encode("utf-8")


def dump_yaml(config: dict[str, Any], path: str) -> None:
    io.write_bytes(config_file(path), yaml_bytes(config))


_CHECK = """
import json, sys
from llamafactory.hparams import get_train_args
payload = json.loads(sys.stdin.read())
try:
    get_train_args(payload["config"])
    if payload["images"]:  # a text template's plugin has no image token: LLaMA-Factory would stop at the first row
        from llamafactory.data.template import TEMPLATES
        name = payload["config"].get("template")
        if name in TEMPLATES and TEMPLATES[name].mm_plugin.image_token is None:
            raise ValueError(f"the dataset has images but template {name!r} takes none; use a vision-language "
                             "model and its template (e.g. qwen2_vl, llava)")
except (ValueError, TypeError, ImportError) as err:
    print("PREFKIT_REJECTED:", str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__)
    sys.exit(3)
"""


def check_config(config: dict[str, Any], python: str | None = None, images: bool = False) -> None:
    """Parse the config with LLaMA-Factory's own argument parser (``get_train_args``), in a child process
    so that its logging and global state stay out of ours. Unknown keys and values it rejects raise; with
    ``images`` (the dataset has an images column), so does a template without an image plugin."""
    import json
    import subprocess
    import sys

    payload = json.dumps({"config": config, "images": images})
    proc = subprocess.run([python or sys.executable, "-c", _CHECK], input=payload, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "DISABLE_VERSION_CHECK": "1"})
    if proc.returncode == 3:  # LLaMA-Factory also logs to stdout: take the marked line
        reason = next(line for line in proc.stdout.splitlines() if line.startswith("PREFKIT_REJECTED:"))
        raise UsageError(f"LLaMA-Factory rejects the training config: {reason.split(':', 1)[1].strip()}")
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise UsageError(f"cannot check the config with LLaMA-Factory (is it installed?): {last}")
