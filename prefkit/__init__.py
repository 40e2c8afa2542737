"""prefkit: create, validate and hand off preference datasets for LLaMA-Factory.

The Python API mirrors the CLI::

    import prefkit
    report = prefkit.convert(["votes.jsonl"], "data/votes.json", fmt="pairwise", to="sharegpt",
                             register="votes", dataset_dir="data")
    prefkit.register("other", "data/other.json", "data")
    report = prefkit.validate("votes", dataset_dir="data", model="Qwen/Qwen2.5-7B-Instruct", cutoff_len=2048)
"""

from __future__ import annotations

import sys
from importlib import import_module
from types import ModuleType
from typing import Any

__version__ = "0.1.0"
# Loaded on first use, so that ``prefkit --help`` and small imports stay fast.
_EXPORTS = {"ConvertReport": "convert", "ConvertResult": "api", "convert": "api", "PrefkitError": "errors", "READERS": "readers",
            "ReadOptions": "readers", "register_reader": "readers", "KtoExample": "records", "Message": "records",
            "PreferencePair": "records", "Provenance": "records", "Reject": "records", "register": "registering",
            "ValidationReport": "validate", "validate": "api",
            "generate": "generate", "judge": "judge", "train": "train"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'prefkit' has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)


class _Package(ModuleType):
    """Keeps ``prefkit.convert`` and ``prefkit.validate`` the functions: importing the submodules of the
    same name (as the CLI does) would otherwise rebind them to the modules (use ``sys.modules`` or
    ``from prefkit.convert import ...`` for those)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _EXPORTS and isinstance(value, ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
