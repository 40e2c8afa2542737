"""After training: the inference YAMLs (the trained model and the base model as control) and a summary."""

from __future__ import annotations

import json
import os
from typing import Any

from ..serving.serve import TEMPLATE_ARGS
from .train_config import dump_yaml

# Processor arguments that decide how an image is resized (and so how many tokens it costs): served as trained
IMAGE_ARGS = ("image_max_pixels", "image_min_pixels")
SUMMARY_KEYS = ("train_loss", "train_runtime", "epoch", "eval_loss", "eval_rewards/accuracies",
                "eval_rewards/margins", "eval_rewards/chosen", "eval_rewards/rejected", "eval_accuracy")


def write_infer_configs(config: dict[str, Any]) -> tuple[str, str]:
    """``infer.yaml`` (the trained model) and ``infer_base.yaml`` (the same without the adapter) in output_dir.
    For a reward model (stage rm) infer.yaml says ``stage: rm``: served, it scores (prefkit judge
    --reward-model-config) instead of chatting; infer_base.yaml stays the base chat model."""
    out = config["output_dir"]
    base = {"model_name_or_path": config["model_name_or_path"], "template": config["template"],
            "infer_backend": "huggingface"}
    if config.get("trust_remote_code") is True:  # as trained: absent means off (LLaMA-Factory's default)
        base["trust_remote_code"] = True
    base.update({key: config[key] for key in TEMPLATE_ARGS + IMAGE_ARGS if key in config})  # as trained (--set)
    if config.get("finetuning_type", "lora") == "lora":
        trained = {**base, "adapter_name_or_path": out, "finetuning_type": "lora"}
    else:  # full / freeze: the output dir is the whole model
        trained = {**base, "model_name_or_path": out}
    if config.get("stage") == "rm":
        # a reward model: LLaMA-Factory loads the value head (value_head.safetensors in the output dir) and serves
        # /v1/score/evaluation only with stage rm (without it, a chat model); cutoff_len tells prefkit judge how
        # training truncated (LLaMA-Factory's inference ignores it)
        trained.update(stage="rm", cutoff_len=config["cutoff_len"])
    paths = (os.path.join(out, "infer.yaml"), os.path.join(out, "infer_base.yaml"))
    dump_yaml(trained, paths[0])
    dump_yaml(base, paths[1])
    return paths


def summarize(output_dir: str) -> dict[str, Any]:
    """The figures that matter from all_results.json (train loss; eval accuracies and margins)."""
    path = os.path.join(output_dir, "all_results.json")
    try:
        with open(path, encoding="utf-8") as f:
            results = json.load(f)
    except (OSError, json.JSONDecodeError):
        return {}
    return {key: results[key] for key in SUMMARY_KEYS if key in results}
