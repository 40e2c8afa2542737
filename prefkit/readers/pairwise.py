"""``--from pairwise``: two responses and a verdict, from human votes or an LLM judge.

Fields (change with ``--map``): the prompt is ``prompt`` / ``instruction`` / ``question`` (joined with a
non-empty ``input`` by a newline, as LLaMA-Factory joins alpaca columns) or a list of role/content
messages; the responses are ``response_a``/``response_b`` (also ``response1``/``response2``,
``answer_a``/``answer_b``); the verdict is ``verdict`` / ``winner`` / ``preference`` / ``label``, or several
annotators' votes: a ``votes`` list, or every ``annotator<N>`` column (``--map votes=col1,col2``).

Verdict values (case-insensitive; ``--verdict a=1,left b=2,right tie=0 failed=error`` replaces a group):
``a``: a, 1, model_a, response_a, response1; ``b``: b, 2, model_b, response_b, response2;
``tie``: tie, 0, draw, equal, both_bad, tie (bothbad); ``failed``: failed, error, invalid, empty or null.
Several votes are aggregated by strict majority of the non-failed votes; records whose votes differ
are counted (``disagreement``). Outcomes: a majority for a or b gives a pair (``--to kto``: the winner
desirable, the loser undesirable); otherwise the record is rejected as ``tie``, ``split_vote``,
``failed_verdict``, ``no_verdict`` or ``unknown_verdict``.

With ``--unlabeled`` (pairs to label in Argilla) the verdict is optional: every record with a prompt and
two answers becomes a pair to label, and a clear verdict (a, b or tie) is kept as the suggestion.
``score_a``/``score_b`` (judge scores) are kept too.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from ..errors import UsageError
from ..records import KtoExample, Note, PreferencePair, UnlabeledPair
from ..sources import Row
from .base import Item, ReadOptions, RowProblem, assistant, get, per_row, provenance, text
from .ratings import prompt_messages

DEFAULT_VERDICTS = {
    "a": ["a", "1", "model_a", "response_a", "response1", "response_1"],
    "b": ["b", "2", "model_b", "response_b", "response2", "response_2"],
    "tie": ["tie", "0", "draw", "equal", "both_bad", "tie (bothbad)"],
    "failed": ["failed", "error", "invalid", "", "null", "none"],
}
RESPONSE_KEYS = (("response_a", "response_b"), ("response1", "response2"), ("answer_a", "answer_b"))
VERDICT_KEYS = ("verdict", "winner", "preference", "label")
_ANNOTATOR = re.compile(r"annotator_?\d+$")


def parse_verdicts(specs: list[str]) -> dict[str, list[str]]:
    """``["a=1,left", "tie=0"]`` -> the default table with those groups replaced."""
    table = {k: list(v) for k, v in DEFAULT_VERDICTS.items()}
    for spec in specs:
        label, sep, values = spec.partition("=")
        if not sep or label not in table:
            raise UsageError(f"--verdict {spec!r}: expected LABEL=VALUE[,VALUE...] with LABEL one of a, b, tie, failed")
        table[label] = [v.strip().lower() for v in values.split(",")]
    return table


def _lookup(verdicts: dict[str, list[str]]) -> dict[str, str]:
    lookup: dict[str, str] = {}
    for label, values in verdicts.items():
        for value in values:
            lookup[value.lower()] = label
    return lookup


def votes_of(row: Row, options: ReadOptions) -> tuple[list[Any], str]:
    """The raw votes and the field(s) they came from."""
    data = row.data
    if "votes" in options.mapping:
        columns = options.mapping["votes"].split(",")
        missing = [c for c in columns if c not in data]
        if missing:
            raise RowProblem("missing_field", f"vote field {missing[0]!r} is missing")
        return [data[c] for c in columns], options.mapping["votes"]
    if "verdict" in options.mapping:
        return [get(row, options, "verdict")], options.mapping["verdict"]
    if isinstance(data.get("votes"), list):
        return list(data["votes"]), "votes"
    annotators = [k for k in data if _ANNOTATOR.match(k)]
    if annotators:
        return [data[k] for k in annotators], ",".join(annotators)
    for key in VERDICT_KEYS:
        if key in data:
            return [data[key]], key
    raise RowProblem("no_verdict", f"no verdict field ({', '.join(VERDICT_KEYS)}, votes or annotator<N>); "
                     "pairs to label in Argilla: convert --unlabeled, or prefkit label push")


def decide(votes: list[Any], field: str, lookup: dict[str, str]) -> tuple[str, Counter]:
    counts: Counter = Counter()
    for vote in votes:
        key = "null" if vote is None else str(vote).strip().lower()
        if isinstance(vote, bool) or key not in lookup:
            raise RowProblem("unknown_verdict", f"{field}: unknown verdict value {vote!r} (see --verdict)")
        counts[lookup[key]] += 1
    counts.pop("failed", None)
    if not counts:
        raise RowProblem("failed_verdict", f"{field}: every verdict is a failure value")
    (top, n), *rest = counts.most_common()
    if rest and rest[0][1] == n:
        raise RowProblem("split_vote", f"{field}: votes are split ({dict(counts)})")
    if top == "tie":
        raise RowProblem("tie", f"{field}: the verdict is a tie")
    return top, counts


def _responses(row: Row, options: ReadOptions) -> tuple[str, str]:
    if "response_a" in options.mapping or "response_b" in options.mapping:
        keys = (options.mapping.get("response_a", "response_a"), options.mapping.get("response_b", "response_b"))
    else:
        keys = next((k for k in RESPONSE_KEYS if k[0] in row.data), RESPONSE_KEYS[0])
    values = []
    for key in keys:
        if key not in row.data:
            raise RowProblem("missing_field", f"field {key!r} is missing")
        values.append(text(row.data[key], key))
    return values[0], values[1]


def _convert(row: Row, options: ReadOptions) -> Iterator[Item]:
    lookup = _lookup(options.verdicts or DEFAULT_VERDICTS)
    raw_prompt = get(row, options, "prompt", "prompt", "instruction", "question")
    query = get(row, options, "query", "input", required=False)
    if query and isinstance(raw_prompt, str):
        raw_prompt = "\n".join(p for p in (raw_prompt, text(query, "input")) if p)
    system, prompt = prompt_messages(raw_prompt, "prompt")
    response_a, response_b = _responses(row, options)
    if options.unlabeled:
        yield _unlabeled(row, options, lookup, system, prompt, response_a, response_b)
        return
    votes, field = votes_of(row, options)
    winner, counts = decide(votes, field, lookup)
    if len(counts) > 1 or sum(counts.values()) < len(votes):
        yield Note("disagreement")
    good, bad = (response_a, response_b) if winner == "a" else (response_b, response_a)
    meta = {"votes": dict(counts), "winner": winner}
    if options.kto:
        for answer, label in ((good, True), (bad, False)):
            yield KtoExample(system=system, prompt=prompt, completion=assistant(answer), label=label,
                             metadata=meta, provenance=provenance(row, "pairwise"))
        return
    yield PreferencePair(system=system, prompt=prompt, chosen=assistant(good), rejected=assistant(bad),
                         metadata=meta, provenance=provenance(row, "pairwise"))


def _unlabeled(row: Row, options: ReadOptions, lookup: dict[str, str], system: str, prompt: list,
               response_a: str, response_b: str) -> UnlabeledPair:
    suggestion = row.data.get("suggestion")  # as convert --unlabeled writes it
    if suggestion not in ("a", "b", "tie"):
        try:
            suggestion, _ = decide(*votes_of(row, options), lookup)
        except RowProblem as problem:  # no verdict, or one that decides nothing: nothing to suggest
            suggestion = "tie" if problem.reason == "tie" else None
    scores = [get(row, options, key, required=False) for key in ("score_a", "score_b")]
    scores = [s if isinstance(s, (int, float)) and not isinstance(s, bool) else None for s in scores]
    tools = row.data.get("tools")
    return UnlabeledPair(system=system, prompt=prompt, tools=tools if isinstance(tools, str) else "",
                         response_a=assistant(response_a),
                         response_b=assistant(response_b), suggestion=suggestion, score_a=scores[0], score_b=scores[1],
                         metadata=row.data.get("metadata") if isinstance(row.data.get("metadata"), dict) else {},
                         provenance=provenance(row, "pairwise"))


read = per_row("pairwise", _convert)


def sniff(record: dict[str, Any]) -> bool:
    """Two responses side by side; the verdict may be absent (pairs to label)."""
    return any(a in record and b in record for a, b in RESPONSE_KEYS)
