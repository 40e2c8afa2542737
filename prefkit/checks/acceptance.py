"""LLaMA-Factory's acceptance rules, row by row, as its converters and preference processors apply them.

``align`` mirrors ``llamafactory.data.converter`` (Alpaca/Sharegpt/OpenAI converters, v0.9.3-0.9.5) on one
row, under the dataset_info entry's columns and tags, and then the filter of the pairwise / feedback
processors (``len(prompt) % 2 == 1 and len(response) >= 2``). It returns what LLaMA-Factory would train on,
or why it would drop the row. Missing keys read as None, as ``datasets`` fills them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..vocab import (COLUMN_DEFAULTS, COLUMN_NAMES, ROLE_ASSISTANT, ROLE_FUNCTION, ROLE_OBSERVATION, ROLE_USER,
                     SHAREGPT_TAGS)

TAG_DEFAULTS = SHAREGPT_TAGS  # LLaMA-Factory's DatasetAttr tag defaults


@dataclass
class Attr:
    """The parts of LLaMA-Factory's DatasetAttr that shape a row (``DatasetAttr.join`` semantics:
    an entry with ``columns`` unsets every column it does not name; the same for ``tags``)."""

    formatting: str = "alpaca"
    ranking: bool = False
    columns: dict[str, str | None] = field(default_factory=lambda: dict(COLUMN_DEFAULTS))
    tags: dict[str, str | None] = field(default_factory=lambda: dict(TAG_DEFAULTS))

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> Attr:
        attr = cls(formatting=entry.get("formatting", "alpaca"), ranking=bool(entry.get("ranking", False)))
        if "columns" in entry:
            attr.columns = {name: entry["columns"].get(name) for name in COLUMN_NAMES}
        if "tags" in entry:
            attr.tags = {name: entry["tags"].get(name) for name in TAG_DEFAULTS}
        return attr

    def column(self, name: str) -> str | None:
        return self.columns.get(name)

    @property
    def stage(self) -> str:
        """The preference stage this entry feeds: rm (pairwise: dpo/orpo/simpo/rm), kto, or none."""
        return "rm" if self.ranking else "kto" if self.column("kto_tag") else "none"


@dataclass
class Aligned:
    """What LLaMA-Factory's converter makes of a row (``_prompt``, ``_response``, ``_system``, ``_tools``)."""

    prompt: list[dict[str, str]]
    response: list[dict[str, str]]
    system: Any
    tools: Any
    drop: str | None = None  # reason code when the preference processor would drop the row
    drop_path: str = ""
    drop_message: str = ""
    warnings: list[tuple[str, str, str]] = field(default_factory=list)  # (code, path, message)


class LoaderFailure(Exception):
    """A row on which LLaMA-Factory's converter itself raises: the whole training run fails."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def _get(row: dict[str, Any], column: str | None) -> Any:
    return row.get(column) if column else None


_SCALAR = (str, int, float, bool, type(None))  # the JSON values that hash; a list or an object does not


def _known(tag: Any, mapping: dict[Any, str]) -> bool:
    """Whether LLaMA-Factory's ``tag_mapping[tag]`` succeeds (a list or a dict raises TypeError, not KeyError)."""
    return isinstance(tag, _SCALAR) and tag in mapping


def _unknown_role(path: str, tag: Any) -> LoaderFailure:
    error = "KeyError" if isinstance(tag, _SCALAR) else "TypeError: unhashable role"
    return LoaderFailure(path, f"unknown role {tag!r} ({error} in LLaMA-Factory's converter)")


def _alpaca(row: dict[str, Any], attr: Attr) -> Aligned:
    prompt: list[dict[str, str]] = []
    history = _get(row, attr.column("history"))
    if attr.column("history") and isinstance(history, list):
        for i, turn in enumerate(history):
            if not isinstance(turn, (list, tuple)) or len(turn) != 2:
                raise LoaderFailure(f"{attr.column('history')}[{i}]", "a history turn is not a [user, assistant] pair")
            prompt += [{"role": ROLE_USER, "content": turn[0]}, {"role": ROLE_ASSISTANT, "content": turn[1]}]
    query = [v for v in (_get(row, attr.column("prompt")), _get(row, attr.column("query"))) if v]
    if any(not isinstance(v, str) for v in query):
        raise LoaderFailure(attr.column("prompt") or "", "the instruction or input is not a string")
    prompt.append({"role": ROLE_USER, "content": "\n".join(query)})
    kto, chosen, rejected = (_get(row, attr.column(n)) for n in ("kto_tag", "chosen", "rejected"))
    response_value = _get(row, attr.column("response"))
    if attr.column("kto_tag") and isinstance(kto, bool):
        answer = {"role": ROLE_ASSISTANT, "content": response_value}
        empty = {"role": ROLE_ASSISTANT, "content": ""}
        response = [answer, empty] if kto else [empty, answer]
    elif attr.ranking and isinstance(chosen, str) and isinstance(rejected, str):
        response = [{"role": ROLE_ASSISTANT, "content": chosen}, {"role": ROLE_ASSISTANT, "content": rejected}]
    elif attr.column("response") and isinstance(response_value, str):
        response = [{"role": ROLE_ASSISTANT, "content": response_value}]
    else:
        response = []
    return Aligned(prompt, response, _get(row, attr.column("system")) if attr.column("system") else "",
                   _get(row, attr.column("tools")) if attr.column("tools") else "")


def _sharegpt_like(row: dict[str, Any], attr: Attr, openai: bool) -> Aligned:
    t = attr.tags
    tag_mapping = {t["user_tag"]: ROLE_USER, t["assistant_tag"]: ROLE_ASSISTANT, t["observation_tag"]: ROLE_OBSERVATION,
                   t["function_tag"]: ROLE_FUNCTION, t["system_tag"]: "system"}
    column = attr.column("messages") or ""
    messages = _get(row, attr.column("messages"))
    if not isinstance(messages, list):
        raise LoaderFailure(column, f"messages column {column!r} is {type(messages).__name__}, not a list")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise LoaderFailure(f"{column}[{i}]", "a message is not an object")
    role, content = t["role_tag"], t["content_tag"]
    warnings: list[tuple[str, str, str]] = []
    if t["system_tag"] and messages and messages[0].get(role) == t["system_tag"]:
        system = messages[0].get(content)
        messages = messages[1:]
    elif openai:
        system = row.get(attr.column("system"), "") if attr.column("system") else ""
    else:
        system = _get(row, attr.column("system")) if attr.column("system") else ""
    aligned: list[dict[str, str]] = []
    broken = None
    offset = len(_get(row, attr.column("messages"))) - len(messages)  # 1 when the system turn was taken
    if openai:
        tool_responses: list[Any] = []
        for i, message in enumerate(messages):
            m_role, m_content = message.get(role), message.get(content)
            if m_role in (t["assistant_tag"], t["function_tag"]) and message.get("tool_calls"):
                calls = message["tool_calls"]
                if not isinstance(calls, list) or not all(isinstance(c, dict) and "function" in c for c in calls):
                    raise LoaderFailure(f"{column}[{i + offset}].tool_calls", "a tool call without a 'function' "
                                        "object (LLaMA-Factory's openai converter reads call['function'])")
                m_content = json.dumps([call["function"] for call in calls], ensure_ascii=False)
                m_role = t["function_tag"]
            if m_role == t["observation_tag"]:
                tool_responses.append(m_content)
                continue
            if tool_responses:
                aligned.append({"role": ROLE_OBSERVATION,
                                "content": "\n</tool_response>\n<tool_response>\n".join(tool_responses)})
                tool_responses = []
            if not _known(m_role, tag_mapping):
                raise _unknown_role(f"{column}[{i + offset}].{role}", m_role)
            aligned.append({"role": tag_mapping[m_role], "content": m_content})
        accept = ((ROLE_USER, ROLE_OBSERVATION), (ROLE_ASSISTANT, ROLE_FUNCTION))
        for i, message in enumerate(aligned):
            if message["role"] not in accept[i % 2]:
                broken = ("bad_role_order", f"{column}[{i}]", f"role {message['role']!r} out of order")
                break
    else:
        accept = ((t["user_tag"], t["observation_tag"]), (t["assistant_tag"], t["function_tag"]))
        for i, message in enumerate(messages):
            if message.get(role) not in accept[i % 2]:
                broken = ("bad_role_order", f"{column}[{i + offset}].{role}",
                          f"role {message.get(role)!r} out of order (expected {' or '.join(map(repr, accept[i % 2]))})")
                break
            aligned.append({"role": tag_mapping[message.get(role)], "content": message.get(content)})
    if broken is None and (len(aligned) % 2 == 0) == bool(attr.ranking):
        want = "an odd" if attr.ranking else "an even"
        broken = ("bad_message_count", column, f"{len(aligned)} messages; a {'ranking' if attr.ranking else 'KTO'} "
                                               f"row needs {want} count")
    kto, chosen, rejected = (_get(row, attr.column(n)) for n in ("kto_tag", "chosen", "rejected"))
    if broken is not None:
        prompt, response = [], []
    elif attr.column("kto_tag") and isinstance(kto, bool):
        prompt, response = aligned[:-1], aligned[-1:]
        empty = {"role": ROLE_ASSISTANT, "content": ""}
        response = response + [empty] if kto else [empty] + response
    elif attr.ranking and isinstance(chosen, dict) and isinstance(rejected, dict):
        for name, answer in (("chosen", chosen), ("rejected", rejected)):
            tag = answer.get(role)
            # openai checks the mapped role, sharegpt the raw tag; both only warn and keep the row
            if not _known(tag, tag_mapping):
                raise _unknown_role(f"{attr.column(name)}.{role}", tag)
            if (tag_mapping.get(tag) if openai else tag) not in accept[-1]:
                warnings.append(("answer_role", f"{attr.column(name)}.{role}",
                                 f"role {tag!r} is not an assistant tag; LLaMA-Factory only warns and trains on it"))
        prompt = aligned
        response = [{"role": tag_mapping[a.get(role)], "content": a.get(content)} for a in (chosen, rejected)]
    else:
        prompt, response = aligned[:-1], aligned[-1:]
    tools = (row.get(attr.column("tools"), "") if openai else _get(row, attr.column("tools"))) if attr.column("tools") else ""
    if openai and isinstance(tools, (dict, list)):
        tools = json.dumps(tools, ensure_ascii=False)
    result = Aligned(prompt, response, system, tools, warnings=warnings)
    if broken is not None:
        result.drop, result.drop_path, result.drop_message = broken
    if openai:
        if system and not isinstance(system, str):  # 0.9.5 appends text to it: TypeError (else its template's)
            raise LoaderFailure(f"{column}[0].{content}" if offset else attr.column("system") or "",
                                f"the system prompt is {type(system).__name__}, not text")
        result.system = _thinking_suffix(system, tools)
    return result


def _thinking_suffix(system: Any, tools: Any) -> Any:
    """LLaMA-Factory 0.9.5's openai converter appends "detailed thinking off" to the system prompt."""
    short = "detailed thinking off"
    if not system:
        return short if not tools else system
    if tools:
        return system + "\n"
    if "detailed thinking on" in system or short in system:
        return system
    return system + "\n" + short


def align(row: dict[str, Any], attr: Attr) -> Aligned:
    """The converted row, with ``drop`` set when the preference processor would drop it."""
    if attr.formatting == "alpaca":
        result = _alpaca(row, attr)
    else:
        result = _sharegpt_like(row, attr, openai=attr.formatting == "openai")
    if result.drop is None and (len(result.prompt) % 2 != 1 or len(result.response) < 2):
        if attr.stage == "kto":
            result.drop, result.drop_message = "not_kto", "no boolean kto_tag: LLaMA-Factory drops the row"
        else:
            result.drop, result.drop_message = "not_pairwise", ("chosen/rejected are missing or of the wrong type: "
                                                                 "LLaMA-Factory reads a non-pairwise row and drops it")
        result.drop_path = attr.column("chosen") or attr.column("kto_tag") or ""
    return result
