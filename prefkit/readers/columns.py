"""The naming rules of the detection hints: which column names a hint may propose for a field (known aliases only),
which say the side of two answers, and which are a judge's output and never proposed."""

from __future__ import annotations

import re

from .table import NEEDS

# The column names a hint may propose for a field (compared lower-case, "-" read as "_"): known aliases only, never
# a name that merely contains a word, so a judge's critique or prompt is never taken for an answer or a prompt.
ALIASES = {
    "prompt": ("prompt", "question", "instruction", "query", "input", "context", "user_input",
               "user_query", "problem"),
    "messages": ("conversation", "conversations", "dialog", "dialogue", "messages", "chat", "turns"),
    "chosen": ("chosen", "preferred", "better", "accepted", "chosen_response", "winner_response", "good_response"),
    "rejected": ("rejected", "dispreferred", "worse", "rejected_response", "loser_response", "bad_response"),
    "verdict": ("verdict", "winner", "preference", "pref", "label", "choice", "vote"),
    "responses": ("responses", "answers", "outputs", "completions", "candidates", "generations"),
    "scores": ("scores", "ratings", "rewards"),
}
# Two answers side by side: one of these names with a side that says which is which (1/2, a/b).
_ANSWERS = r"(output|response|answer|completion|generation|reply|model_output)s?"
_SIDE = re.compile(rf"^{_ANSWERS}_?(0|1|2|a|b)$")
OTHER_SIDE = re.compile(rf"^{_ANSWERS}_?([a-z0-9])$")  # response_j / response_k: no side meaning: ask
# Columns named like a judge's output, or a judge game's fields (FastChat's g1_/g2_): never proposed.
JUDGE = re.compile(r"judg(e)?ment|critique|feedback|explanation|rationale|reasoning|review|^g\d+_|^game\d*_")
_ANNOTATOR = re.compile(r"annotator_?\d+$")


def name_of(key: str) -> str:
    return key.lower().replace("-", "_")


def present(names: tuple[str, ...], keys: list[str]) -> bool:
    return any(n in keys for n in names) or ("annotator<N>" in names and any(_ANNOTATOR.match(k) for k in keys))


def guess_mapping(fmt: str, keys: list[str]) -> dict[str, str] | None:
    used = {k for _, names in NEEDS[fmt] for k in names if k in keys}
    free = [k for k in keys if k not in used and not JUDGE.search(name_of(k))]
    mapping: dict[str, str] = {}
    for field, names in NEEDS[fmt]:
        if present(names, keys) or field in mapping:
            continue
        if field in ("response_a", "response_b"):
            pair = _side_by_side(free)
            if pair is None:
                return None
            mapping["response_a"], mapping["response_b"] = pair
            continue
        match = next((k for k in free if k not in mapping.values() and name_of(k) in ALIASES.get(field, (field,))),
                     None)
        if match is None:
            return None
        mapping[field] = match
    return mapping


def _side_by_side(keys: list[str]) -> tuple[str, str] | None:
    """Two answer columns that differ only by a side that says which is which (output_1/output_2,
    answer_a/answer_b): never columns whose names merely end in a letter or a digit."""
    sides: dict[str, dict[str, str]] = {}
    for key in keys:
        match = _SIDE.match(name_of(key))
        if match:
            sides.setdefault(match.group(1), {})[match.group(2)] = key
    for found in sides.values():
        for a, b in (("1", "2"), ("0", "1"), ("a", "b")):  # response_0 / response_1 (PKU-SafeRLHF) too
            if a in found and b in found:
                return found[a], found[b]
    return None
