"""The built-in readers by ``--from`` name, the sniffers auto-detection tries, and the fields ``--map`` can point
at another column; :func:`register_reader` adds one of your own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import UsageError
from ..names import READER_NAMES
from ..vocab import OPENAI_TAGS
from . import (alpaca, arena_hard, fastchat, hh_rlhf, kto_rows, oasst, openai, openai_logs, openai_preference, pairwise,
               ratings, sharegpt, trl)
from .base import Reader
from .mapping import columns_of

READERS: dict[str, Reader] = {
    "sharegpt": sharegpt.read,
    "alpaca": alpaca.read,
    "openai": openai.read,
    "hh-rlhf": hh_rlhf.read,
    "oasst": oasst.read,
    "ratings": ratings.read,
    "pairwise": pairwise.read,
    "openai-logs": openai_logs.read,
    "trl": trl.read,
    "fastchat-judge": fastchat.read,
    "arena-hard": arena_hard.read,
    "openai-preference": openai_preference.read,
    "kto-rows": kto_rows.read,
}
# Most specific first: auto-detection takes the first format that fits every sampled record.
SNIFFERS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "fastchat-judge": fastchat.sniff,
    "arena-hard": arena_hard.sniff,
    "openai-preference": openai_preference.sniff,
    "openai-logs": openai_logs.sniff,
    "oasst": oasst.sniff,
    "hh-rlhf": hh_rlhf.sniff,
    "openai": openai.sniff,
    "sharegpt": sharegpt.sniff,
    "pairwise": pairwise.sniff,
    "ratings": ratings.sniff,
    "alpaca": alpaca.sniff,
    "trl": trl.sniff,
    "kto-rows": kto_rows.sniff,
}
# The logical fields each reader looks up, which `--map FIELD=COLUMN` can point at another column.
_TAG_KEYS = tuple(OPENAI_TAGS)
MAP_FIELDS: dict[str, tuple[str, ...]] = {
    "sharegpt": ("messages", "chosen", "rejected", "system", "tools", "kto_tag", "images", *_TAG_KEYS),
    "alpaca": ("prompt", "query", "response", "chosen", "rejected", "history", "system", "kto_tag", "images"),
    "openai": ("messages", "tools", "images", *_TAG_KEYS),
    "hh-rlhf": ("chosen", "rejected"),
    "oasst": ("prompt",),
    "ratings": ("prompt", "system", "responses", "completions", "scores", "response", "score", "images"),
    "pairwise": ("prompt", "system", "query", "response_a", "response_b", "verdict", "votes", "score_a", "score_b",
                 "images"),
    "openai-logs": ("request", "response", "messages", "choices", "feedback", "preferred", "scores", "thumbs"),
    "trl": ("prompt", "chosen", "rejected", "completion", "label", "tools", "images"),
    "fastchat-judge": ("question_id", "model_1", "model_2", "g1_winner", "g2_winner"),
    "arena-hard": ("question_id", "model", "baseline", "games"),
    "openai-preference": ("input", "chosen", "rejected"),
    "kto-rows": ("prompt", "completion", "label", "system", "tools", "images", *_TAG_KEYS),
}
assert tuple(READERS) == READER_NAMES, "prefkit.names.READER_NAMES must list the built-in readers"
FORMATS = (*READERS, "auto")
SNIFF_RECORDS = 20
# A record fits a format when each of these fields has one of its keys; what auto-detection's hints use.
NEEDS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "sharegpt": (("messages", ("conversations", "messages")), ("chosen", ("chosen",)), ("rejected", ("rejected",))),
    "alpaca": (("prompt", ("instruction", "question")), ("chosen", ("chosen", "response_chosen")),
               ("rejected", ("rejected", "response_rejected"))),
    "pairwise": (("prompt", ("prompt", "instruction", "question")), ("response_a", ("response_a", "response1", "answer_a")),
                 ("response_b", ("response_b", "response2", "answer_b")),
                 ("verdict", ("verdict", "winner", "preference", "label", "votes", "annotator<N>"))),
    "ratings": (("prompt", ("prompt", "instruction", "question")), ("responses", ("responses", "answers")),
                ("scores", ("scores", "ratings"))),
    "trl": (("prompt", ("prompt",)), ("chosen", ("chosen", "chosen_messages")), ("rejected", ("rejected", "rejected_messages"))),
    "fastchat-judge": (("question_id", ("question_id",)), ("model_1", ("model_1",)), ("model_2", ("model_2",)),
                       ("g1_winner", ("g1_winner", "winner"))),
    "arena-hard": (("question_id", ("uid", "question_id")), ("model", ("model",)), ("games", ("games",))),
    "openai-preference": (("input", ("input",)), ("chosen", ("preferred_output",)),
                          ("rejected", ("non_preferred_output",))),
    "kto-rows": (("prompt", ("context", "prompt")), ("completion", ("answer", "completion", "response")),
                 ("label", ("is_desirable", "label", "kto_tag"))),
}


def register_reader(name: str, reader: Reader, sniff: Callable[[dict[str, Any]], bool] | None = None) -> None:
    """Make ``reader`` available as ``--from name`` (and to auto-detection when ``sniff`` is given)."""
    READERS[name] = reader
    if sniff is not None:
        SNIFFERS[name] = sniff


def check_mapping(mapping: dict[str, str], fmt: str = "auto") -> None:
    """Refuse a ``--map`` field that the reader (or, with ``auto``, every reader) does not look up, and two fields
    mapped to one column (readers/mapping.py)."""
    columns_of(mapping)
    known = MAP_FIELDS.get(fmt) or sorted({f for fields in MAP_FIELDS.values() for f in fields})
    if fmt not in MAP_FIELDS and fmt != "auto":
        return  # a reader registered by the user reads what it likes
    for name in mapping:
        if name not in known:
            which = f"--from {fmt} has no field" if fmt != "auto" else "no reader has a field"
            raise UsageError(f"--map {name}=...: {which} {name!r}; fields: {', '.join(known)}")


def get_reader(name: str) -> Reader:
    if name not in READERS:
        raise UsageError(f"unknown format {name!r} for --from; choose one of {', '.join(FORMATS)}")
    return READERS[name]
