"""``prefkit.convert``'s options as a Python user writes them, and as the CLI names them.

Each CLI option has the keyword of the same name (``--map`` is ``mapping``, ``--verdict`` is ``verdict`` or
``verdicts``, ``--pairing`` is ``pairing`` or ``pairing_strategy``, ``--preference-scale`` is ``preference_scale``,
``--from`` is ``fmt``); values may be Python's own: ``verdicts={"a": [0], "b": 1, "tie": [True]}`` (ints, bools,
lists; compared as prefkit.readers.pairwise.verdict_key says), or the CLI's strings (``verdict=["a=0", "b=1"]``),
``mapping={"votes": ["rater1", "rater2"]}``, ``preference_scale=(1, 2)`` or ``"1:2"``.

>>> options = cli_options({"map": {"votes": ["r1", "r2"]}, "verdict": {"a": 0, "b": [1]}, "pairing": "all-pairs"})
>>> options["mapping"], options["verdicts"]["a"], options["verdicts"]["b"], options["pairing_strategy"]
({'votes': 'r1,r2'}, ['0'], ['1'], 'all-pairs')
>>> cli_options({"preference_scale": "1:2"})["preference_scale"]
(1.0, 2.0)
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import PrefkitError, UsageError

F = TypeVar("F", bound=Callable[..., Any])
CLI_NAMES = {"map": "mapping", "verdict": "verdicts", "pairing": "pairing_strategy"}  # CLI name -> keyword
# the temporary file that holds rows given in memory (prefkit.api.ROWS_FILE), as an error message names it
_ROWS_PATH = re.compile(r"[^\s'\"]*prefkit-[^/\\\s'\"]+[/\\]rows\.jsonl")


def cli_options(options: dict[str, Any]) -> dict[str, Any]:
    """The keywords of prefkit.pipeline.convert.convert, from the CLI's names and Python's values."""
    from .readers.pairwise import parse_scale, parse_verdicts, verdict_table

    out: dict[str, Any] = {}
    for name, value in options.items():
        key = CLI_NAMES.get(name, name)
        if key in out:
            raise UsageError(f"convert: {name}= and {key}= say the same thing; give one")
        out[key] = value
    mapping = out.get("mapping")
    if isinstance(mapping, dict):
        out["mapping"] = {str(f): ",".join(map(str, c)) if isinstance(c, (list, tuple)) else str(c)
                          for f, c in mapping.items()}
    verdicts = out.get("verdicts")
    if isinstance(verdicts, str):
        out["verdicts"] = parse_verdicts(verdicts.split())
    elif isinstance(verdicts, (list, tuple)):
        out["verdicts"] = parse_verdicts([str(v) for v in verdicts])
    elif isinstance(verdicts, dict):
        out["verdicts"] = verdict_table(verdicts, "verdicts")
    scale = out.get("preference_scale")
    if isinstance(scale, str):
        out["preference_scale"] = parse_scale(scale)
    elif isinstance(scale, (list, tuple)):
        out["preference_scale"] = parse_scale(":".join(map(str, scale)))
    return out


def names_rows(convert: F) -> F:
    """Errors about rows given in memory name them "rows", never the temporary file they went through."""

    @functools.wraps(convert)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return convert(*args, **kwargs)
        except PrefkitError as error:
            message = str(error)
            if not _ROWS_PATH.search(message):
                raise
            renamed = type(error)(_ROWS_PATH.sub("rows", message))
            raise renamed.with_traceback(error.__traceback__) from None

    return wrapped  # type: ignore[return-value]
