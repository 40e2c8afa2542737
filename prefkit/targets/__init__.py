"""Targets: what each trainer does with a row (LLaMA-Factory v0 and v1, TRL, axolotl, OpenRLHF), one module each.
A target knows its layouts and registry, its loader's rules, how it renders and counts tokens, and what it cuts or drops.
``TARGETS`` holds the built-ins and those that installed packages add (prefkit.kinds), in the table's order."""

from __future__ import annotations

from typing import Any

from .. import kinds
from ..errors import UsageError
from .base import BlockChecker, Parsed, RowCheck, Target, TokenOptions

TARGETS: kinds.Table[Target] = kinds.Table("targets", lambda cls: cls())  # name -> Target, made on first use


def detection_order() -> list[Target]:
    """The targets in the table's order, the catch-all ones (LLaMA-Factory v0: it takes any file) last.

    >>> [t.name for t in detection_order()][-1]
    'lf'
    """
    return sorted(TARGETS.values(), key=lambda t: t.catch_all)  # stable: the table's order otherwise


def get_target(name: str) -> Target:
    if name not in TARGETS:
        raise UsageError(f"--target {name}: choose one of {', '.join(TARGETS)}")
    return TARGETS[name]


def target_of_entry(entry: dict[str, Any]) -> Target:
    """The target of a registry entry (a v1 entry names a ``path``, a v0 one a ``file_name``)."""
    return next(t for t in detection_order() if t.registry and t.owns(entry))


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
    return next(t for t in detection_order() if t.detect(path))


__all__ = ["TARGETS", "BlockChecker", "Parsed", "RowCheck", "Target", "TokenOptions", "detection_order", "get_target",
           "target_of_entry", "target_of_file"]
