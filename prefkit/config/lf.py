"""A LLaMA-Factory training YAML as LLaMA-Factory parses it: its data arguments with the release's defaults and its
``DataArguments.__post_init__`` rules, the stage, the tokenizer, and every key prefkit does not model, by name.

>>> import tempfile, os
>>> d = tempfile.mkdtemp()
>>> _ = open(f"{d}/train.yaml", "w").write("model_name_or_path: m\\nstage: dpo\\ndataset: a, b\\nmax_samples: 10\\n"
...                                         "mix_strategy: interleave_under\\nlearning_rate: 5.0e-6\\n")
>>> config = load_lf_config(f"{d}/train.yaml", release="0.9.5")
>>> config.datasets, config.values["max_samples"], config.values["cutoff_len"], config.stage
(['a', 'b'], 10, 2048, 'rm')
>>> config.not_about_data
['learning_rate']
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError, UsageError
from .lf_args import (DATA_ARGUMENTS, DEFAULT_RELEASE, MIX_STRATEGIES, NO_EFFECT, NOT_MODELLED, OTHER_ARGUMENTS,
                      PREFERENCE_STAGES, installed_release)

V1_KEYS = ("train_dataset", "model")  # v1's DataArguments / ModelArguments (USE_V1=1): no model_name_or_path
TYPES: dict[str, tuple[type, ...]] = {  # what each modelled argument must be (bool before int: True is an int)
    "cutoff_len": (int,), "max_samples": (int, type(None)), "val_size": (int, float), "streaming": (bool,),
    "enable_thinking": (bool, type(None)), "preserve_thinking": (bool,), "train_on_prompt": (bool,),
    "mask_history": (bool,), "seed": (int,), "image_max_pixels": (int,), "image_min_pixels": (int,),
    "trust_remote_code": (bool,), "dataset_dir": (str,), "media_dir": (str, type(None)), "template": (str, type(None)),
    "mix_strategy": (str,), "model_name_or_path": (str,), "stage": (str,), "pref_loss": (str,),
}


@dataclass
class LfConfig:
    """The arguments LLaMA-Factory trains with that change what it reads (``values``: every data argument, defaults
    filled in, as ``DataArguments`` holds them after ``__post_init__``), and what prefkit makes of the rest."""

    path: str
    release: str  # whose defaults: the installed LLaMA-Factory's release
    release_source: str
    values: dict[str, Any]
    given: dict[str, Any]  # the file's own keys and values
    overridden: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # key -> (the file's value, the flag's)
    not_modelled: list[tuple[str, Any, str]] = field(default_factory=list)  # (key, value, what it changes)
    no_effect: list[tuple[str, str]] = field(default_factory=list)  # (key, why it changes nothing measured)
    not_about_data: list[str] = field(default_factory=list)  # training/model keys that do not touch the rows
    near_misses: list[tuple[str, str]] = field(default_factory=list)  # (key, the data argument it looks like)
    engine: str = "v0"  # v1: LLaMA-Factory's v1 data engine (USE_V1=1)

    @property
    def datasets(self) -> list[str]:
        return list(self.values.get("dataset") or [])

    @property
    def stage(self) -> str:
        """get_dataset's stage: "rm" (pairwise: dpo, orpo, simpo, rm) or "kto"."""
        return PREFERENCE_STAGES.get(self.values.get("stage", ""), "none")

    @property
    def method(self) -> str:
        """dpo, orpo, simpo (dpo's pref_loss), kto or rm."""
        stage = self.values.get("stage")
        return self.values.get("pref_loss") if stage == "dpo" and self.values.get("pref_loss") in ("orpo", "simpo") \
            else stage

    def used(self) -> dict[str, Any]:
        """The values validate counts with (the report's ``config.values``)."""
        keys = ("model_name_or_path", "dataset", "dataset_dir", "media_dir", "template", "cutoff_len", "stage",
                "pref_loss", "enable_thinking", "preserve_thinking", "max_samples", "mix_strategy", "interleave_probs",
                "val_size", "seed", "streaming", "mask_history", "train_on_prompt", "default_system", "tool_format",
                "image_max_pixels", "image_min_pixels", "trust_remote_code")
        return {k: self.values[k] for k in keys if k in self.values}

    def to_json(self) -> dict[str, Any]:
        return {"file": self.path, "engine": self.engine, "release": self.release, "release_source": self.release_source,
                "values": self.used(), "given": sorted(self.given),
                "overridden": {k: {"file": f, "flag": v} for k, (f, v) in self.overridden.items()},
                "not_modelled": [{"key": k, "value": v, "changes": why} for k, v, why in self.not_modelled],
                "no_effect": dict(self.no_effect), "not_about_data": self.not_about_data,
                "near_misses": dict(self.near_misses)}


def read_yaml(path: str, release: str = DEFAULT_RELEASE) -> dict[str, Any]:
    """The file as the release reads it: 0.9.5 with OmegaConf (YAML 1.2 floats, ``${...}``), 0.9.3 with PyYAML."""
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such config file")
    import yaml

    try:
        if release != "0.9.3":
            try:
                from omegaconf import OmegaConf
            except ImportError:
                OmegaConf = None  # noqa: N806
            if OmegaConf is not None:
                data = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
                return _mapping(path, data)
        with open(path, encoding="utf-8") as f:
            return _mapping(path, yaml.safe_load(f))
    except (yaml.YAMLError, ValueError) as err:
        reason = " ".join(ln.strip() for ln in str(err).strip().splitlines() if ln.strip() and "line" not in ln
                          or "duplicate" in ln)[:300] or type(err).__name__
        raise UsageError(f"{path}: not a readable YAML config ({reason})") from None
    except Exception as err:  # OmegaConf's own errors (an interpolation that does not resolve, ...)
        if type(err).__module__.startswith("omegaconf"):
            raise UsageError(f"{path}: {str(err).strip().splitlines()[0]}") from None
        raise


def _mapping(path: str, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a training config is a YAML mapping of arguments (key: value)")
    return {str(k): v for k, v in data.items()}


def load_lf_config(path: str, overrides: dict[str, Any] | None = None, release: str | None = None) -> LfConfig:
    """Parse a LLaMA-Factory training YAML as the ``release`` (default: the installed one, else 0.9.5) parses it.
    ``overrides`` (key -> value, e.g. from command-line flags) replace the file's values, as
    ``llamafactory-cli train FILE key=value`` does, and are recorded. A value LLaMA-Factory refuses raises
    UsageError naming the file and key."""
    source = "given"
    if release is None:
        found = installed_release()
        release, source = (found, "installed") if found in DATA_ARGUMENTS else \
            (DEFAULT_RELEASE, f"LLaMA-Factory {found} is installed; counted with {DEFAULT_RELEASE}'s defaults"
             if found else f"LLaMA-Factory is not installed here; counted with {DEFAULT_RELEASE}'s defaults")
    given = read_yaml(path, release)
    overrides = overrides or {}
    config = LfConfig(path, release, source, {}, given,
                      overridden={k: (given.get(k), v) for k, v in overrides.items() if given.get(k) != v})
    merged = {**given, **overrides}
    if any(k in merged for k in V1_KEYS) and "model_name_or_path" not in merged:
        return _v1(config, merged)
    data_defaults = DATA_ARGUMENTS[release]
    if "preserve_thinking" in merged and "preserve_thinking" not in data_defaults:
        raise UsageError(f"{path}: preserve_thinking: LLaMA-Factory {release} has no such argument (0.9.5 has)")
    values = {**data_defaults, **OTHER_ARGUMENTS}
    for key, value in merged.items():
        if key in values:
            values[key] = value
        else:
            config.not_about_data.append(key)
            close = difflib.get_close_matches(key, list(data_defaults), n=1, cutoff=0.85)
            if close:
                config.near_misses.append((key, close[0]))
    for key, kinds in TYPES.items():
        value = values.get(key)
        if key in values and (not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)):
            names = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
            raise UsageError(f"{path}: {key}: {values[key]!r} is not {names}")
    if values["model_name_or_path"] is None:
        raise UsageError(f"{path}: model_name_or_path: LLaMA-Factory needs the model (its tokenizer is counted with)")
    _post_init(path, values, release)
    for key, why in NOT_MODELLED.items():
        if key in merged and merged[key] not in (None, False, "") and merged[key] != data_defaults.get(key):
            config.not_modelled.append((key, merged[key], why))
    config.no_effect = [(k, why) for k, why in NO_EFFECT.items() if k in merged]
    config.values = values
    if config.stage == "none":
        raise UsageError(f"{path}: stage: {values['stage']!r} is not a preference stage; prefkit validates "
                         "dpo (orpo, simpo: its pref_loss), kto and rm")
    if not config.datasets:
        raise UsageError(f"{path}: dataset: the config names no dataset")
    return config


def _split(value: Any) -> list[str] | None:
    return [item.strip() for item in value.split(",")] if isinstance(value, str) else value


def _post_init(path: str, values: dict[str, Any], release: str) -> None:
    """``DataArguments.__post_init__`` (the same in 0.9.3 and 0.9.5), with LLaMA-Factory's messages."""
    def refuse(key: str, message: str) -> None:
        raise UsageError(f"{path}: {key}: LLaMA-Factory refuses it: {message}")

    values["dataset"], values["eval_dataset"] = _split(values["dataset"]), _split(values["eval_dataset"])
    if values["media_dir"] is None:
        values["media_dir"] = values["dataset_dir"]
    if values["dataset"] is None and values["val_size"] > 1e-6:
        refuse("val_size", "Cannot specify `val_size` if `dataset` is None.")
    if values["eval_dataset"] is not None and values["val_size"] > 1e-6:
        refuse("val_size", "Cannot specify `val_size` if `eval_dataset` is not None.")
    probs = values["interleave_probs"]
    if probs is not None:
        if values["mix_strategy"] == "concat":
            refuse("interleave_probs", "`interleave_probs` is only valid for interleaved mixing.")
        try:
            values["interleave_probs"] = list(map(float, _split(str(probs) if not isinstance(probs, list) else probs)))
        except (TypeError, ValueError):
            refuse("interleave_probs", f"{probs!r} is not a comma-separated list of numbers")
        if values["dataset"] is not None and len(values["dataset"]) != len(values["interleave_probs"]):
            refuse("interleave_probs", "The length of dataset and interleave probs should be identical.")
    if values["streaming"] and 1e-6 < values["val_size"] < 1:
        refuse("val_size", "Streaming mode should have an integer val size.")
    if values["streaming"] and values["max_samples"] is not None:
        refuse("max_samples", "`max_samples` is incompatible with `streaming`.")
    if values["mask_history"] and values["train_on_prompt"]:
        refuse("mask_history", "`mask_history` is incompatible with `train_on_prompt`.")
    if values["dataset"] and len(values["dataset"]) > 1 and values["mix_strategy"] not in MIX_STRATEGIES[release] \
            and not (release == "0.9.3" and values["mix_strategy"].startswith("interleave")):
        refuse("mix_strategy", f"Unknown mixing strategy: {values['mix_strategy']}.")
    if values["image_max_pixels"] < values["image_min_pixels"]:
        refuse("image_max_pixels", "`image_max_pixels` cannot be smaller than `image_min_pixels`.")


def _v1(config: LfConfig, merged: dict[str, Any]) -> LfConfig:
    """A v1 config (``USE_V1=1``): ``model``, ``template``, ``cutoff_len``, ``train_dataset`` (a dataset YAML or a
    data file); v1 has no max_samples, mixing or val_size."""
    from ..targets.lf_v1 import DEFAULT_TEMPLATE

    config.engine = "v1"
    known = {"model": "Qwen/Qwen3-4B-Instruct-2507", "template": DEFAULT_TEMPLATE, "cutoff_len": 2048,
             "train_dataset": None, "eval_dataset": None, "trust_remote_code": False}
    values = {**known, **{k: v for k, v in merged.items() if k in known}}
    config.not_about_data = [k for k in merged if k not in known]
    if not isinstance(values["cutoff_len"], int) or isinstance(values["cutoff_len"], bool):
        raise UsageError(f"{config.path}: cutoff_len: {values['cutoff_len']!r} is not int")
    if not isinstance(values["train_dataset"], str):
        raise UsageError(f"{config.path}: train_dataset: the v1 config names no dataset YAML or file")
    config.values = {"model_name_or_path": values["model"], "template": values["template"],
                     "cutoff_len": values["cutoff_len"], "train_dataset": values["train_dataset"],
                     "trust_remote_code": values["trust_remote_code"], "stage": "rm", "dataset": None}
    return config
