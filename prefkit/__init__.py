"""prefkit: create, validate and hand off preference datasets for LLaMA-Factory.

The Python API mirrors the CLI; ``convert`` and ``validate`` take a path, a list (or generator) of dicts, a
``datasets.Dataset`` or a ``pandas.DataFrame``, and any other input is one ``TypeError`` saying what they take::

    import prefkit
    report = prefkit.convert(["votes.jsonl"], "data/votes.json", fmt="pairwise", to="sharegpt",
                             register="votes", dataset_dir="data")
    prefkit.register("other", "data/other.json", "data")
    report = prefkit.validate("votes", dataset_dir="data", model="Qwen/Qwen2.5-7B-Instruct", cutoff_len=2048)
    pairs = prefkit.convert(rows, fmt="pairwise").dataset  # rows in memory -> a datasets.Dataset

The package's folders, in the order data flows: ``io`` (files in and out), ``readers`` (raw rows -> records),
``writers`` (records -> rows), ``pipeline`` (convert and validate, the run harness, executors), ``targets`` (what
each trainer does with a row), ``checks``, ``hygiene`` (benchmarks, near-duplicates), ``images``, ``registry``
(dataset_info.json), ``reports``, ``serving`` (a served model), ``create`` (generate, judge), ``label`` (Argilla),
``handoff`` (train, eval) and ``cli``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"
# Loaded on first use, so that ``prefkit --help`` and small imports stay fast. No module is named like a function
# it exports here, so importing a submodule never hides one of these names.
_EXPORTS = {"convert": "api", "validate": "api", "ConvertResult": "api", "ConvertReport": "pipeline.convert",
            "ValidationReport": "pipeline.validate", "PrefkitError": "errors", "READERS": "readers",
            "ReadOptions": "readers", "register_reader": "readers", "KtoExample": "records", "Message": "records",
            "PreferencePair": "records", "Provenance": "records", "Reject": "records", "register": "registry.add",
            "generate": "create.generate", "judge": "create.judge", "train": "handoff.train"}
__all__ = sorted(_EXPORTS)
# Functions whose text arguments (paths, names) are checked on the way in: a wrong type is one TypeError naming the
# function and the argument (prefkit.api_sources.checked); convert and validate check their sources themselves.
_CHECKED = ("register", "generate", "judge", "train")


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'prefkit' has no attribute {name!r}")
    value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    if name in _CHECKED:
        from .api_sources import checked

        value = globals()[name] = checked(value)
    return value
