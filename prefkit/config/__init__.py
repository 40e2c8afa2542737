"""Trainer configs as the trainer parses them: a LLaMA-Factory training YAML (v0, v1) and a TRL config YAML, with
each release's defaults; what prefkit does not model is named. validate and train read them (issue 30)."""

from .lf import LfConfig, load_lf_config
from .trl import TrlConfig, load_trl_config

__all__ = ["LfConfig", "TrlConfig", "load_lf_config", "load_trl_config"]
