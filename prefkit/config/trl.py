"""A TRL config YAML (``trl dpo --config FILE``, ``trl kto --config FILE``) as TRL reads it: the tokenizer, the
dataset and the length limits of its DPOConfig / KTOConfig; each TRL version's defaults stay with the counter
(:data:`prefkit.targets.trl_tokens.DEFAULTS`). Keys prefkit does not model are named.

>>> import tempfile
>>> d = tempfile.mkdtemp()
>>> _ = open(f"{d}/dpo.yaml", "w").write("model_name_or_path: m\\nmax_length: 512\\nbeta: 0.1\\n")
>>> config = load_trl_config(f"{d}/dpo.yaml")
>>> config.values["max_length"], config.values["max_prompt_length"], config.not_about_data
(512, None, ['beta'])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from .base import ConfigFile
from .lf import read_yaml

KEYS: dict[str, tuple[type, ...]] = {  # what TRL reads of the rows, and the types it takes
    "model_name_or_path": (str,), "dataset_name": (str, type(None)), "max_length": (int, type(None)),
    "max_prompt_length": (int, type(None)), "truncation_mode": (str,), "trust_remote_code": (bool,),
}
# Chat template options: TRL passes a row's own ``chat_template_kwargs`` column to apply_chat_template, never one
# from the config (neither 0.24's nor 1.x's DPOConfig / KTOConfig has the field).
TEMPLATE_OPTIONS = ("chat_template_kwargs", "enable_thinking")
TRL_MARKERS = ("max_length", "max_prompt_length", "truncation_mode", "dataset_name", "beta", "loss_type")


@dataclass
class TrlConfig(ConfigFile):
    engine: str = "trl"


def is_trl_config(given: dict[str, Any]) -> bool:
    """A TRL config names its limits (max_length, ...) and no LLaMA-Factory stage, template or cutoff_len."""
    return any(k in given for k in TRL_MARKERS) and not any(k in given for k in ("stage", "template", "cutoff_len"))


def load_trl_config(path: str, overrides: dict[str, Any] | None = None) -> TrlConfig:
    given = read_yaml(path, "0.9.3")  # TrlParser reads YAML with PyYAML
    overrides = overrides or {}
    merged = {**given, **overrides}
    values: dict[str, Any] = {"model_name_or_path": None, "dataset_name": None, "max_length": None,
                              "max_prompt_length": None, "truncation_mode": None, "trust_remote_code": False}
    config = TrlConfig(path, values, given, overridden={k: (given.get(k), v) for k, v in overrides.items()
                                                        if given.get(k) != v})
    for key, value in merged.items():
        if key in KEYS:
            kinds = KEYS[key]
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                names = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
                raise UsageError(f"{path}: {key}: {value!r} is not {names}")
            values[key] = value
        elif key in TEMPLATE_OPTIONS:
            config.not_modelled.append((key, value, "TRL's DPOConfig/KTOConfig have no such field: TRL passes only a "
                                        "row's own chat_template_kwargs column to the chat template"))
        else:
            config.not_about_data.append(key)
    if not values["model_name_or_path"]:
        raise UsageError(f"{path}: model_name_or_path: the config names no model (its tokenizer is counted with)")
    return config
