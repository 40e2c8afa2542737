"""An axolotl YAML (``axolotl train FILE``) as axolotl 0.19 reads what touches the rows: the tokenizer
(``tokenizer_config``, else ``base_model``), ``sequence_len`` (default 512), ``excess_length_strategy`` (drop,
truncate, raise; default drop), ``rl`` and each ``datasets[]`` entry's ``path`` and ``type``, with ``chat_template``.
Keys prefkit does not model are named.

>>> import tempfile
>>> d = tempfile.mkdtemp()
>>> _ = open(f"{d}/ax.yaml", "w").write("base_model: m\\nrl: dpo\\ndatasets:\\n  - path: a.jsonl\\n"
...                                      "    type: chatml.intel\\nlearning_rate: 1.0e-6\\n")
>>> config = load_axolotl_config(f"{d}/ax.yaml")
>>> config.values["sequence_len"], config.values["excess_length_strategy"], config.datasets, config.not_about_data
(512, 'drop', [('a.jsonl', 'chatml.intel')], ['learning_rate'])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ..targets.axolotl_rows import DPO_TYPES, KTO_TYPES
from ..targets.axolotl_tokens import DEFAULT_SEQUENCE_LEN, STRATEGIES
from .base import ConfigFile
from .lf import read_yaml

RL = ("dpo", "ipo", "simpo", "kto")  # orpo has its own loader (prompt_strategies/orpo), not modelled
MARKERS = ("rl", "sequence_len", "excess_length_strategy", "base_model")
READ = ("base_model", "tokenizer_config", "sequence_len", "excess_length_strategy", "rl", "datasets", "chat_template",
        "trust_remote_code", "skip_prepare_dataset")
NOT_MODELLED = {"test_datasets": "the eval rows", "val_set_size": "rows held out for eval",
                "dataset_exact_deduplication": "duplicates removed before training",
                "chat_template_jinja": "a template of your own"}


@dataclass
class AxolotlConfig(ConfigFile):
    engine: str = "axolotl"

    @property
    def datasets(self) -> list[tuple[str, str]]:
        return [(d["path"], d["type"]) for d in self.values["datasets"]]


def is_axolotl_config(given: dict[str, Any]) -> bool:
    """axolotl's YAML names base_model, rl or sequence_len, and no LLaMA-Factory stage or TRL model_name_or_path."""
    return any(k in given for k in MARKERS) and not any(k in given for k in ("stage", "model_name_or_path"))


def _datasets(path: str, value: Any, rl: str) -> list[dict[str, Any]]:
    if isinstance(value, str):  # a flag: one file, its type from its columns
        return [{"path": value, "type": None}]
    if not isinstance(value, list) or not value:
        raise UsageError(f"{path}: datasets: expected a list of {{path, type}} entries")
    out, types = [], KTO_TYPES if rl == "kto" else DPO_TYPES
    for i, d in enumerate(value):
        if not isinstance(d, dict) or not isinstance(d.get("path"), str):
            raise UsageError(f"{path}: datasets[{i}].path: expected the file axolotl reads")
        kind = d.get("type")
        if kind is not None and kind not in types:
            raise UsageError(f"{path}: datasets[{i}].type: {kind!r}: prefkit models {', '.join(types)} for rl {rl}")
        out.append({"path": d["path"], "type": kind})
    return out


def load_axolotl_config(path: str, overrides: dict[str, Any] | None = None) -> AxolotlConfig:
    given = read_yaml(path, "0.9.3")
    overrides = overrides or {}
    merged = {**given, **overrides}
    rl = merged.get("rl")
    if rl not in RL:
        raise UsageError(f"{path}: rl: {rl!r}: prefkit models axolotl's {', '.join(RL)} (preference data)")
    strategy = (merged.get("excess_length_strategy") or "drop").lower()
    if strategy not in STRATEGIES:
        raise UsageError(f"{path}: excess_length_strategy: {strategy!r}: choose {', '.join(STRATEGIES)}")
    limit = merged.get("sequence_len", DEFAULT_SEQUENCE_LEN)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise UsageError(f"{path}: sequence_len: {limit!r}: expected a positive integer")
    model = merged.get("tokenizer_config") or merged.get("base_model")
    if not isinstance(model, str):
        raise UsageError(f"{path}: base_model: expected the model (or tokenizer_config) whose tokenizer axolotl loads")
    template = merged.get("chat_template")
    if template not in (None, "tokenizer_default"):
        raise UsageError(f"{path}: chat_template: {template!r}: prefkit renders with the tokenizer's own template "
                         "only (tokenizer_default)")
    values = {"base_model": model, "sequence_len": limit, "excess_length_strategy": strategy, "rl": rl,
              "datasets": _datasets(path, merged.get("datasets"), rl), "chat_template": template or "tokenizer_default",
              "trust_remote_code": bool(merged.get("trust_remote_code", False))}
    config = AxolotlConfig(path, values, given)
    config.overridden = {k: (given[k], v) for k, v in overrides.items() if k in given and given[k] != v}
    if merged.get("skip_prepare_dataset"):
        config.not_modelled.append(("skip_prepare_dataset", True, "axolotl then applies no length rule"))
    config.not_modelled += [(k, given[k], why) for k, why in NOT_MODELLED.items() if k in given]
    config.not_about_data = [k for k in given if k not in READ and k not in NOT_MODELLED]
    return config
