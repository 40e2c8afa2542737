"""``--from oasst``: the OpenAssistant exports, one tree a line.

A line is either a message tree, ``{"message_tree_id", "prompt": {"text", "role": "prompter", "replies":
[...]}}``, or the flat message export's root message itself, ``{"message_id", "text", "role": "prompter",
"replies": [...]}``, with replies nested to any depth. Optional keys written as ``null`` (``rank``,
``emojis``, ``deleted``, ``replies``...) count as absent. Assistant replies carry ``rank`` (0 = best) when
ranked. Every group of sibling assistant replies with two or more ranks yields pairs (``--pairing``) whose
prompt is the conversation path down to them.

- A group whose replies have no rank at all counts as ``unranked_group``; a group where only some
  replies are ranked counts as ``partly_ranked_group`` and is not paired (the unranked replies were
  never compared with the others). Deleted messages and their subtrees are left out
  (``deleted_message``). These are counts in the report; the tree is rejected (``no_ranked_replies``)
  only when nothing in it yields a pair.
- ``--to kto``: every assistant reply with ``+1``/``-1`` emoji votes becomes a KTO example, desirable
  when ``+1`` outnumbers ``-1`` (equal votes give no example, ``tied_votes``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from ..io.sources import Row
from ..records import RECORD_TYPES, KtoExample, Message, Note, PreferencePair
from . import pairing
from .base import Item, ReadOptions, RowProblem, get, number, per_row, provenance, text
from .spec import ReaderSpec

_ROLE = {"prompter": "user", "assistant": "assistant"}


def _at(path: str, key: str) -> str:
    """A key's path under a message (the flat export's root message has the empty path)."""
    return f"{path}.{key}" if path else key


def _message(node: Any, path: str) -> Message:
    if not isinstance(node, dict):
        raise RowProblem("bad_type", f"{path}: expected a message object")
    role = _ROLE.get(node.get("role")) if isinstance(node.get("role"), str) else None
    if role is None:
        raise RowProblem("bad_role", f"{_at(path, 'role')}: expected 'prompter' or 'assistant', got {node.get('role')!r}")
    return Message(role=role, content=text(node.get("text"), _at(path, "text")))


def _is_message(record: dict[str, Any]) -> bool:
    """A root message of the flat export (rather than a tree with a ``prompt`` key)."""
    return "prompt" not in record and "role" in record and "text" in record


def _root(row: Row, options: ReadOptions) -> tuple[dict[str, Any], str]:
    """The tree's root message and its path: the tree export's ``prompt``, or the flat export's line itself."""
    if "prompt" not in options.mapping and _is_message(row.data):
        return row.data, ""
    root = get(row, options, "prompt", "prompt")
    if not isinstance(root, dict):
        raise RowProblem("bad_type", "prompt: expected the root message object")
    return root, "prompt"


Group = tuple[list[Message], list[dict[str, Any]], str]  # (conversation so far, its assistant replies, path)


def _walk(root: dict[str, Any], root_path: str, notes: Counter) -> Iterator[Group]:
    """Yield (conversation up to and including a prompter node, its assistant replies, path) for every
    prompter node in the tree, depth first, without recursion (trees can be hundreds of turns deep)."""
    stack: list[tuple[Any, list[Message], str]] = [(root, [], root_path)]
    while stack:
        node, history, path = stack.pop()
        conversation = history + [_message(node, path)]
        replies = node.get("replies") or []
        if not isinstance(replies, list):
            raise RowProblem("bad_type", f"{_at(path, 'replies')}: expected a list")
        live = []
        for i, reply in enumerate(replies):
            if not isinstance(reply, dict):
                raise RowProblem("bad_type", f"{_at(path, 'replies')}[{i}]: expected a message object")
            if reply.get("deleted"):
                notes["deleted_message"] += 1
                continue
            live.append((i, reply))
        if conversation[-1].role == "user":
            yield conversation, [r for _, r in live], path
        stack.extend((reply, conversation, f"{_at(path, 'replies')}[{i}]") for i, reply in reversed(live))


def _convert(row: Row, options: ReadOptions) -> Iterator[Item]:
    root, root_path = _root(row, options)
    notes: Counter = Counter()
    out: list[Item] = []
    for conversation, replies, path in _walk(root, root_path, notes):
        if options.kto:
            out += _kto(row, conversation, replies, path, notes)
            continue
        if len(replies) < 2:
            continue
        ranked = [r for r in replies if isinstance(r.get("rank"), int) and not isinstance(r.get("rank"), bool)]
        if not ranked:
            notes["unranked_group"] += 1
            continue
        if len(ranked) < len(replies):
            notes["partly_ranked_group"] += 1
            continue
        where = _at(path, "replies")
        candidates = [(_message(r, f"{where}[{i}]"), -number(r["rank"], f"{where}[{i}].rank"))
                      for i, r in enumerate(ranked)]
        for good, bad, margin in pairing.pairs([(m.content, s) for m, s in candidates], options.pairing,
                                               options.min_margin):
            out.append(PreferencePair(prompt=conversation, chosen=Message(role="assistant", content=good),
                                      rejected=Message(role="assistant", content=bad),
                                      chosen_score=None, metadata={"rank_margin": margin, "path": path},
                                      provenance=provenance(row, "oasst")))
    if not any(isinstance(i, RECORD_TYPES) for i in out):
        what = "no assistant reply with +1/-1 votes" if options.kto else "no sibling replies with ranks"
        summary = ", ".join(f"{k}={v}" for k, v in sorted(notes.items()))
        raise RowProblem("no_ranked_replies", f"tree has {what}" + (f" ({summary})" if summary else ""))
    yield from out
    for reason, count in notes.items():
        yield Note(reason, count)


def _kto(row: Row, conversation: list[Message], replies: list[dict[str, Any]], path: str, notes: Counter) -> list[Item]:
    out: list[Item] = []
    where = _at(path, "replies")
    for i, reply in enumerate(replies):
        emojis = reply.get("emojis") or {}
        if not isinstance(emojis, dict):
            raise RowProblem("bad_type", f"{where}[{i}].emojis: expected an object of counts")
        votes = {k: 0 if emojis.get(k) is None else emojis[k] for k in ("+1", "-1")}  # null counts as none
        up, down = (number(v, f"{where}[{i}].emojis.{k}") for k, v in votes.items())
        if not up and not down:
            continue
        if up == down:
            notes["tied_votes"] += 1
            continue
        out.append(KtoExample(prompt=conversation, completion=_message(reply, f"{where}[{i}]"), label=up > down,
                              metadata={"votes": votes, "path": path},
                              provenance=provenance(row, "oasst")))
    return out


read = per_row("oasst", _convert)


def sniff(record: dict[str, Any]) -> bool:
    root = record if _is_message(record) else record.get("prompt")  # the flat export, or a tree
    return isinstance(root, dict) and root.get("role") == "prompter" and "replies" in root


SPEC = ReaderSpec("oasst", read, sniff, fields=("prompt",))
