"""Targets: what each trainer does with a row (LLaMA-Factory v0 and v1, TRL), one module each.
A target knows its layouts and registry, its loader's rules, how it renders and counts tokens, and what it cuts or drops."""

from __future__ import annotations

from typing import Any

from ..errors import UsageError
from .base import BlockChecker, Parsed, RowCheck, Target, TokenOptions
from .axolotl import Axolotl
from .lf import LlamaFactory
from .lf_v1 import LlamaFactoryV1
from .openrlhf import OpenRlhf
from .trl import Trl

TARGETS: dict[str, Target] = {t.name: t for t in (LlamaFactory(), LlamaFactoryV1(), Trl(), Axolotl(), OpenRlhf())}
DETECTION_ORDER = ("lf-v1", "trl", "axolotl", "openrlhf", "lf")  # lf last: it takes any file and says what is missing


def get_target(name: str) -> Target:
    if name not in TARGETS:
        raise UsageError(f"--target {name}: choose one of {', '.join(TARGETS)}")
    return TARGETS[name]


def target_of_entry(entry: dict[str, Any]) -> Target:
    """The target of a registry entry (a v1 entry names a ``path``, a v0 one a ``file_name``)."""
    return next(t for name in DETECTION_ORDER if (t := TARGETS[name]).registry and t.owns(entry))


def target_of_file(path: str, target: str | None = None, layout: str | None = None) -> Target:
    """The target that reads a file: named, implied by ``--layout``, or recognised from its rows."""
    if target is not None:
        chosen = get_target(target)
        if layout is not None and layout not in chosen.layouts:
            raise UsageError(f"--layout {layout} is not a layout of --target {target} ({', '.join(chosen.layouts)})")
        return chosen
    if layout is not None:
        for t in TARGETS.values():
            if layout in t.layouts:
                return t
        layouts = [lay for t in TARGETS.values() for lay in t.layouts]
        raise UsageError(f"--layout {layout}: choose one of {', '.join(layouts)}")
    return next(t for name in DETECTION_ORDER if (t := TARGETS[name]).detect(path))


__all__ = ["TARGETS", "BlockChecker", "Parsed", "RowCheck", "Target", "TokenOptions", "get_target",
           "target_of_entry", "target_of_file"]
