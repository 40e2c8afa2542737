"""``--from alpaca``: LLaMA-Factory's alpaca format (ranking and KTO) and the legacy k-wise ranking.

As LLaMA-Factory's ``AlpacaDatasetConverter``: the user turn is ``instruction`` and ``input`` joined by a
newline (empty parts left out), ``history`` is a list of ``[user, assistant]`` pairs before it, ``system``
a column. A ranking row has string ``chosen`` and ``rejected``; a row whose answers are not strings is
rejected (``bad_type``: LLaMA-Factory would silently train on it as a non-pairwise row). A KTO row has
``output`` and a boolean ``kto_tag``. The legacy k-wise form, ``output`` as a best-first list of answers,
is expanded into pairs with ``--pairing``.

The flat MedicalGPT-style columns ``question`` / ``response_chosen`` / ``response_rejected`` are read too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..io.sources import Row
from ..records import KtoExample, Message, PreferencePair
from . import pairing
from .base import Item, ReadOptions, RowProblem, assistant, get, image_paths, per_row, provenance, text, user
from .spec import ReaderSpec


def history_messages(value: Any, field: str = "history") -> list[Message]:
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        raise RowProblem("bad_type", f"{field}: expected a list of [user, assistant] pairs")
    out: list[Message] = []
    for i, turn in enumerate(value):
        if not isinstance(turn, (list, tuple)) or len(turn) != 2:
            raise RowProblem("bad_type", f"{field}[{i}]: expected a [user, assistant] pair")
        out += [user(text(turn[0], f"{field}[{i}][0]")), assistant(text(turn[1], f"{field}[{i}][1]"))]
    return out


def _convert(row: Row, options: ReadOptions) -> Iterator[Item]:
    instruction = get(row, options, "prompt", "instruction", "question", "prompt")
    query = get(row, options, "query", "input", required=False)
    parts = [text(instruction, "instruction")] if instruction else []
    if query:
        parts.append(text(query, "input"))
    prompt = history_messages(get(row, options, "history", required=False)) + [user("\n".join(parts))]
    system = get(row, options, "system", required=False) or ""
    common = dict(system=text(system, "system"), prompt=prompt, provenance=provenance(row, "alpaca"),
                  images=image_paths(get(row, options, "images", "images", "image", required=False), "images"))

    chosen = get(row, options, "chosen", "chosen", "response_chosen", required=False)
    rejected = get(row, options, "rejected", "rejected", "response_rejected", required=False)
    label = get(row, options, "kto_tag", "kto_tag", "label", required=False)
    output = get(row, options, "response", "output", required=False)
    if chosen is not None or rejected is not None:
        yield PreferencePair(chosen=assistant(text(chosen, "chosen")), rejected=assistant(text(rejected, "rejected")),
                             **common)
    elif label is not None and output is not None:
        if not isinstance(label, bool):
            raise RowProblem("bad_type", f"kto_tag: expected true or false, got {label!r:.40}")
        yield KtoExample(completion=assistant(text(output, "output")), label=label, **common)
    elif isinstance(output, list):  # legacy k-wise ranking, best first
        answers = [text(a, f"output[{i}]") for i, a in enumerate(output)]
        ranked = pairing.pairs([(a, -float(i)) for i, a in enumerate(answers)], options.pairing, options.min_margin)
        if not ranked:
            raise RowProblem("no_pairs", f"output has {len(answers)} answer(s) and none can be paired "
                                         "(fewer than two distinct answers)")
        for good, bad, margin in ranked:
            yield PreferencePair(chosen=assistant(good), rejected=assistant(bad), chosen_score=None,
                                 metadata={"rank_margin": margin}, **common)
    else:
        raise RowProblem("no_preference", "no chosen/rejected, no kto_tag and no ranked output list: "
                                          "not a preference record")


read = per_row("alpaca", _convert)


def sniff(record: dict[str, Any]) -> bool:
    has_prompt = any(k in record for k in ("instruction", "question"))
    ranking = all(isinstance(record.get(k), str) for k in ("chosen", "rejected")) or all(
        isinstance(record.get(k), str) for k in ("response_chosen", "response_rejected"))
    kwise = isinstance(record.get("output"), list)
    kto = isinstance(record.get("kto_tag"), bool) and "output" in record
    return has_prompt and (ranking or kwise or kto)


SPEC = ReaderSpec(
    "alpaca", read, sniff,
    fields=("prompt", "query", "response", "chosen", "rejected", "history", "system", "kto_tag", "images"),
    needs=(("prompt", ("instruction", "question")), ("chosen", ("chosen", "response_chosen")),
           ("rejected", ("rejected", "response_rejected"))),
    kto_needs=(("prompt", ("instruction", "question")), ("response", ("output",)), ("kto_tag", ("kto_tag", "label"))),
)
