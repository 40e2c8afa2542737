"""LLaMA-Factory's v0 templates rendered without importing LLaMA-Factory: the token-counting fast path.

``import llamafactory.data.template`` costs about 2 s even with :mod:`prefkit.targets.lf_template`'s light
loader (transformers.utils, datasets, the template module itself). What a template does with a conversation is
data plus a little code: its formatters' slots per role (strings with ``{{content}}``/``{{idx}}``, token dicts,
bos/eos sets), ``format_prefix``, ``efficient_eos``, ``replace_eos``, ``stop_words``, thought words, its class. So
prefkit ships each template's description, taken from LLaMA-Factory's ``TEMPLATES`` by
``tests/tools/lf_templates.py``, for every LLaMA-Factory release it supports (``lf_templates.json``, one entry per
release keyed by the sha256 of its ``data/template.py``, ``data/formatter.py`` and ``hparams/data_args.py``), and
:class:`FastTemplate` renders ``encode_oneturn`` from it as the template's class does (``Template``,
``Llama2Template``, ``ReasoningTemplate``, ``Glm47ReasoningTemplate``), with the same tokenizer fix (eos
replacement, pad, stop words, chat template). The formatters are LLaMA-Factory's own classes: ``data/formatter.py``
and ``data/tool_utils.py`` import nothing of LLaMA-Factory's or beyond the standard library, and are loaded from
the installed package under a private name (a few ms), so tools and function calls render with its own code.

Which code a class runs is recorded too: the generator hashes the source of each class's methods (and of
``get_template_and_fix_tokenizer``) and records the variant of :class:`FastTemplate` that replicates it
(:data:`CODE`); a class whose code prefkit does not recognise, an installed release that is not a shipped one
(a patched or newer LLaMA-Factory), or a template registered at run time goes to LLaMA-Factory's own code, as
before. In a process that has already imported ``llamafactory.data.template``, the live ``TEMPLATES`` entry is
rendered (a template changed at run time renders as changed). ``--template auto`` reads the release's model
table from the same file when the installed ``extras/constants.py`` is the shipped one. The ``llamafactory``
tests fail when the shipped descriptions differ from the installed ``TEMPLATES``, and compare the fast path's
ids with LLaMA-Factory's on both supported releases (``tests/tools/render_parity.py``; ``--all`` for every
template).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import re
import sys
from collections.abc import Callable
from typing import Any

from ..errors import UsageError
from .lf_template import stand_in_module
from .tokens import DeferringTokenizer

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lf_templates.json")
# What a description depends on (tool_utils is loaded live; data_args holds the defaults the fix applies).
SOURCES = ("data/template.py", "data/formatter.py", "hparams/data_args.py")
MODELS_SOURCE = "extras/constants.py"  # SUPPORTED_MODELS and DEFAULT_TEMPLATE, for --template auto
FORMATTERS = "_prefkit_llamafactory_data"  # the private package LLaMA-Factory's formatter module is loaded under
WORDS = ("thought_words", "tool_call_words")  # tuples in LLaMA-Factory, lists in JSON
# The template classes FastTemplate renders, each with the classes whose code it also runs.
CLASSES = {"Template": ("Template",), "Llama2Template": ("Llama2Template", "Template"),
           "ReasoningTemplate": ("ReasoningTemplate", "Template"),
           "Glm47ReasoningTemplate": ("Glm47ReasoningTemplate", "ReasoningTemplate", "Template")}
# The code FastTemplate replicates: for each class, the sha256 of LLaMA-Factory's own methods (:func:`code_hashes`)
# and the variant that renders them. tests/tools/lf_templates.py records, per release, the variants of the classes
# whose code it recognises here; a template of a class it does not recognise goes to LLaMA-Factory's own code.
CODE = {
    "Template": {
        "f5f57150a1fdfb3bfd8b53e2e396efe779c5d31508f8130a3d5bcd1bf65556d1": "0.9.3",  # format_function(content)
        "227b44184a0aaa4ad7d0ebfd818c6129ef4fe35d64d4801b59f783dfb45fccee": "0.9.5",  # + thought/tool-call words
    },
    "Llama2Template": {"b9197348fecd0e114b00ae5fb5ed81aa62dba31d74cbc277da20c781c9131008": "0.9.3"},  # and 0.9.5
    "ReasoningTemplate": {
        "a7d0a9bfcaf9f33f2eccfbd89f13e9bffa3a8c420008f4ca28a6e538c442290a": "0.9.3",  # thought words as they are
        "e5cf8302ae5d9bed5dd9c0dc4e0d85ada09957d6cb1ee9c249f2c73c119f8553": "0.9.5",  # stripped; preserve_thinking
    },
    "Glm47ReasoningTemplate": {"c5c7511a3e8b4237687fdbad5d678d35686b06211a97612b33c392f63f1f8ff8": "0.9.5"},
}


# --- the installed LLaMA-Factory and the shipped descriptions ----------------------------------------------


def installed_root() -> str:
    """The installed llamafactory package folder (nothing is imported)."""
    if "llamafactory" in sys.modules and getattr(sys.modules["llamafactory"], "__path__", None):
        return list(sys.modules["llamafactory"].__path__)[0]
    try:
        spec = importlib.util.find_spec("llamafactory")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise UsageError("token checks need LLaMA-Factory (No module named 'llamafactory'): "
                         "pip install 'prefkit[train]'")
    return list(spec.submodule_search_locations)[0]


@functools.cache
def source_hashes(root: str) -> dict[str, str]:
    """sha256 of the installed sources a description depends on ("" for a file that is missing)."""
    found = {}
    for name in SOURCES:
        try:
            with open(os.path.join(root, *name.split("/")), "rb") as f:
                found[name] = hashlib.sha256(f.read()).hexdigest()
        except OSError:
            found[name] = ""
    return found


@functools.cache
def shipped() -> dict[str, Any]:
    try:
        with open(DATA, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {"versions": [], "descriptions": {}}


def shipped_models() -> list[list[Any]] | None:
    """The installed release's model table as the shipped file has it, [[name, [paths], default template or
    None], ...] in SUPPORTED_MODELS order; None where its constants are not the shipped ones."""
    root = installed_root()
    release = shipped_release(root)
    if release is None or "models" not in release:
        return None
    try:
        with open(os.path.join(root, *MODELS_SOURCE.split("/")), "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() != release.get("models_source"):
                return None
    except OSError:
        return None
    return release["models"]


def shipped_release(root: str) -> dict[str, Any] | None:
    """The shipped entry whose sources are the installed ones: {"version", "sources", "templates": {name: key}}."""
    hashes = source_hashes(root)
    return next((v for v in shipped()["versions"] if v["sources"] == hashes), None)


# --- descriptions --------------------------------------------------------------------------------------------


def _json_slot(slot: Any) -> Any:
    if isinstance(slot, (set, frozenset)):
        return sorted(slot)  # a list stands for a set (bos_token / eos_token)
    if isinstance(slot, dict):
        return dict(slot)
    return slot


def _json_value(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if hasattr(value, "slots") and hasattr(value, "apply"):  # a formatter
        described = {"class": type(value).__name__}
        for field in dataclasses.fields(value):
            item = getattr(value, field.name)
            described[field.name] = [_json_slot(s) for s in item] if field.name == "slots" else _json_value(item)
        return described
    raise TypeError(f"cannot describe {type(value).__name__}")


def describe(template: Any) -> dict[str, Any]:
    """A LLaMA-Factory Template as JSON: its class and every dataclass field (the multimodal plugin aside: text
    never reaches it)."""
    described: dict[str, Any] = {"class": type(template).__name__}
    for field in dataclasses.fields(template):
        if field.name != "mm_plugin":
            described[field.name] = _json_value(getattr(template, field.name))
    return described


def description_key(description: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(description, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def code_hashes(templates: dict[str, Any], get_template_and_fix_tokenizer: Any) -> dict[str, str]:
    """For each template class of ``templates`` (and their bases up to ``Template``), the sha256 of the source of
    the methods it defines itself (Template's with get_template_and_fix_tokenizer, which fixes the tokenizer)."""
    classes: dict[str, type] = {}
    for template in templates.values():
        for cls in type(template).__mro__:
            if cls.__name__ in CLASSES or cls is type(template):
                classes.setdefault(cls.__name__, cls)
    found = {}
    for name, cls in classes.items():
        parts = []
        for attr, value in sorted(vars(cls).items()):
            function = getattr(value, "__func__", value)
            if getattr(function, "__code__", None) is None:
                continue
            try:
                parts.append(inspect.getsource(function))
            except (OSError, TypeError):  # made by dataclass: follows the fields, which the descriptions hold
                parts.append(attr)
        if name == "Template":
            parts.append(inspect.getsource(get_template_and_fix_tokenizer))
        found[name] = hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return found


def recognised(hashes: dict[str, str]) -> dict[str, str]:
    """The variant of FastTemplate for each class whose code is one it replicates."""
    return {name: CODE[name][h] for name, h in hashes.items() if h in CODE.get(name, {})}


def data_arguments(data_args_class: Any) -> dict[str, Any]:
    """The DataArguments defaults get_template_and_fix_tokenizer reads."""
    fields = {f.name: f for f in dataclasses.fields(data_args_class)}
    return {name: fields[name].default for name in ("template", "default_system", "tool_format", "train_on_prompt",
                                                    "enable_thinking", "preserve_thinking") if name in fields}


@functools.cache
def formatter_module(root: str) -> Any:
    """LLaMA-Factory's ``data/formatter.py`` (and the ``data/tool_utils.py`` it imports), loaded from ``root``
    under a private package name with ``SLOTS`` standing in for ``data/data_utils`` (which imports datasets)."""
    package = stand_in_module(FORMATTERS, [os.path.join(root, "data")])
    utils = stand_in_module(f"{FORMATTERS}.data_utils")
    utils.SLOTS = list  # type: ignore[attr-defined]  # only a type alias there
    sys.modules[FORMATTERS], sys.modules[f"{FORMATTERS}.data_utils"] = package, utils
    return importlib.import_module(f"{FORMATTERS}.formatter")


def _formatter(module: Any, described: dict[str, Any]) -> Any:
    cls = getattr(module, described["class"])
    slots = [set(s) if isinstance(s, list) else s for s in described["slots"]]
    return cls(**{**{k: v for k, v in described.items() if k != "class"}, "slots": slots})


# --- rendering -----------------------------------------------------------------------------------------------

_KEYS = {"content": "{{content}}", "idx": "{{idx}}"}


def _compiled_formatter(formatter: Any, tokenizer: Any) -> Callable[..., list[Any]] | None:
    """``_convert_elements_to_ids(formatter.apply(**kwargs))`` through the deferring proxy, for LLaMA-Factory's
    StringFormatter (each text slot with each argument put in its first ``{{name}}``, in argument order; a
    RuntimeError for an argument that is not a string) and EmptyFormatter (the slots as they are); None for
    another kind of formatter or slot."""
    kind = type(formatter).__name__
    if kind not in ("StringFormatter", "EmptyFormatter"):
        return None
    parts: list[Any] = []
    for slot in formatter.slots:
        if isinstance(slot, str):
            parts.append(slot)
        elif isinstance(slot, dict):
            parts.append([tokenizer.convert_tokens_to_ids(slot.get("token"))])
        elif isinstance(slot, set):
            if "bos_token" in slot and tokenizer.bos_token_id is not None:
                parts.append([tokenizer.bos_token_id])
            elif "eos_token" in slot and tokenizer.eos_token_id is not None:
                parts.append([tokenizer.eos_token_id])
            else:
                parts.append([])
        else:
            return None
    if kind == "EmptyFormatter":
        fixed = [x for part in parts for x in ((part,) if part.__class__ is str and part else
                                               () if part.__class__ is str else part)]
        return lambda **kwargs: fixed

    def apply(**kwargs: Any) -> list[Any]:
        out: list[Any] = []
        for part in parts:
            if part.__class__ is str:
                for name, value in kwargs.items():
                    if not isinstance(value, str):
                        raise RuntimeError(f"Expected a string, got {value}")
                    part = part.replace(_KEYS.get(name) or "{{" + name + "}}", value, 1)
                if part:
                    out.append(part)
            else:
                out += part
        return out

    return apply



class FastTemplate:
    """One LLaMA-Factory template, rendered as its class's ``encode_oneturn`` does (``Template``,
    ``Llama2Template``, ``ReasoningTemplate``, ``Glm47ReasoningTemplate``, in the variant of the installed
    release), with the same attributes (``format_user``, ``efficient_eos``, ``stop_words``, ...) and the same
    tokenizer fix. ``encode_prompt`` and ``encode_answer`` split ``encode_oneturn`` so that a pair's prompt is
    rendered once: the messages before the last never depend on it."""

    def __init__(self, name: str, template_class: str, fields: dict[str, Any], code: dict[str, str],
                 defaults: dict[str, Any]) -> None:
        if template_class not in CLASSES or any(c not in code for c in CLASSES[template_class]):
            raise ValueError(f"{template_class} is not rendered by prefkit for this LLaMA-Factory")
        self.name, self.template_class = name, template_class
        for key, value in fields.items():
            setattr(self, key, value)
        self.default_system: str = fields["default_system"]
        self.efficient_eos: bool = fields["efficient_eos"]
        self.replace_eos: bool = fields["replace_eos"]
        self.stop_words: list[str] = list(fields["stop_words"])
        self.replace_jinja_template: bool = fields["replace_jinja_template"]
        self.thought_words: tuple[str, str] = tuple(fields["thought_words"])  # type: ignore[assignment]
        self.variant = code["Template"]
        self.reasoning = code.get("ReasoningTemplate") if "ReasoningTemplate" in CLASSES[template_class] else None
        self._fused = template_class == "Llama2Template"  # the system prompt goes into the first user message
        self._glm47 = template_class == "Glm47ReasoningTemplate"  # only </think> for an empty thought
        self._compiled: tuple[Any, dict[str, Callable[..., list[Any]]] | None] | None = None
        # 0.9.5's Template._encode gives format_function the thought and tool-call words (0.9.3's does not)
        self._function_words = self.variant == "0.9.5" and not self._fused
        # what get_template_and_fix_tokenizer sets from the data arguments (fast_template passes them in defaults)
        if self.reasoning or self.variant == "0.9.3":
            self.enable_thinking = defaults.get("enable_thinking", True)
        if self.reasoning and self.variant == "0.9.5":
            self.preserve_thinking = defaults.get("preserve_thinking", False)

    @classmethod
    def from_description(cls, name: str, description: dict[str, Any], formatters: Any, code: dict[str, str],
                         defaults: dict[str, Any]) -> FastTemplate:
        fields: dict[str, Any] = {}
        for key, value in description.items():
            if key == "class":
                continue
            if isinstance(value, dict) and "slots" in value:
                fields[key] = _formatter(formatters, value)
            elif key in WORDS and isinstance(value, list):
                fields[key] = tuple(value)
            else:
                fields[key] = value
        return cls(name, description["class"], fields, code, defaults)

    @classmethod
    def from_template(cls, name: str, template: Any, code: dict[str, str], defaults: dict[str, Any]) -> FastTemplate:
        """From a live LLaMA-Factory Template object (its own formatters)."""
        return cls(name, type(template).__name__, {f.name: getattr(template, f.name) for f in dataclasses.fields(template)
                                                   if f.name != "mm_plugin"}, code, defaults)

    # --- encode_oneturn ------------------------------------------------------------------------------------

    @staticmethod
    def _convert_elements_to_ids(tokenizer: Any, elements: list[Any]) -> list[Any]:
        token_ids: list[Any] = []
        for elem in elements:
            if isinstance(elem, str):
                if len(elem) != 0:
                    token_ids += tokenizer.encode(elem, add_special_tokens=False)
            elif isinstance(elem, dict):
                token_ids += [tokenizer.convert_tokens_to_ids(elem.get("token"))]
            elif isinstance(elem, set):
                if "bos_token" in elem and tokenizer.bos_token_id is not None:
                    token_ids += [tokenizer.bos_token_id]
                elif "eos_token" in elem and tokenizer.eos_token_id is not None:
                    token_ids += [tokenizer.eos_token_id]
            else:
                raise ValueError(f"Input must be string, set[str] or dict[str, str], got {type(elem)}")
        return token_ids

    def _compile(self, tokenizer: Any) -> dict[str, Callable[..., list[Any]]] | None:
        """For the deferring proxy: each string formatter's ``apply`` and ``_convert_elements_to_ids`` in one step
        (its texts are their own placeholders, its token and bos/eos slots ids looked up once, after the fix);
        None where a formatter is of another kind."""
        if self._compiled is not None and self._compiled[0] is tokenizer:
            return self._compiled[1]
        compiled: dict[str, Callable[..., list[Any]]] | None = {}
        for name in ("prefix", "system", "user", "assistant", "observation"):
            apply = _compiled_formatter(getattr(self, f"format_{name}"), tokenizer)
            if apply is None:
                compiled = None
                break
            compiled[name] = apply  # type: ignore[index]
        self._compiled = (tokenizer, compiled)
        return compiled

    def encode_message(self, tokenizer: Any, i: int, message: dict[str, Any], system: Any, tools: Any) -> list[Any]:
        """The ids of message ``i`` of a conversation (``system`` and ``tools`` go with message 0): one step of
        ``_encode``."""
        compiled = self._compile(tokenizer) if isinstance(tokenizer, DeferringTokenizer) else None
        if compiled is not None:
            return self._encode_compiled(compiled, tokenizer, i, message, system, tools)
        elements: list[Any] = []
        system_text = ""
        if i == 0:
            system = system or self.default_system
            elements += self.format_prefix.apply()
            if system or tools:
                tool_text = self.format_tools.apply(content=tools)[0] if tools else ""
                if self._fused:
                    system_text = self.format_system.apply(content=(system + tool_text))[0]
                else:
                    elements += self.format_system.apply(content=(system + tool_text))
        role, content = message["role"], message["content"]
        if role == "user":
            if self._fused:
                elements += self.format_user.apply(content=system_text + content)
            else:
                elements += self.format_user.apply(content=content, idx=str(i // 2))
        elif role == "assistant":
            elements += self.format_assistant.apply(content=content)
        elif role == "observation":
            elements += self.format_observation.apply(content=content)
        elif role == "function":
            if self._function_words:
                elements += self.format_function.apply(content=content, thought_words=self.thought_words,
                                                       tool_call_words=self.tool_call_words)
            else:
                elements += self.format_function.apply(content=content)
        else:
            raise NotImplementedError(f"Unexpected role: {role}")
        return self._convert_elements_to_ids(tokenizer, elements)

    def _encode_compiled(self, compiled: dict[str, Callable[..., list[Any]]], tokenizer: Any, i: int,
                         message: dict[str, Any], system: Any, tools: Any) -> list[Any]:
        """``encode_message`` with the compiled formatters (same steps, same order, same errors)."""
        out: list[Any] = []
        system_text = ""
        if i == 0:
            system = system or self.default_system
            out += compiled["prefix"]()
            if system or tools:
                tool_text = self.format_tools.apply(content=tools)[0] if tools else ""
                if self._fused:
                    system_text = self.format_system.apply(content=(system + tool_text))[0]
                else:
                    out += compiled["system"](content=(system + tool_text))
        role, content = message["role"], message["content"]
        if role == "user":
            if self._fused:
                out += compiled["user"](content=system_text + content)
            else:
                out += compiled["user"](content=content, idx=str(i // 2))
        elif role == "assistant":
            out += compiled["assistant"](content=content)
        elif role == "observation":
            out += compiled["observation"](content=content)
        elif role == "function":
            if self._function_words:
                elements = self.format_function.apply(content=content, thought_words=self.thought_words,
                                                      tool_call_words=self.tool_call_words)
            else:
                elements = self.format_function.apply(content=content)
            out += self._convert_elements_to_ids(tokenizer, elements)
        else:
            raise NotImplementedError(f"Unexpected role: {role}")
        return out

    def encode_prompt(self, tokenizer: Any, prompt: list[dict[str, Any]], system: Any, tools: Any) -> list[Any]:
        """The ids of the messages before the answer."""
        if self.reasoning and not (self.reasoning == "0.9.5" and self.preserve_thinking):
            # the thoughts of earlier answers go (range(1, len(messages) - 2, 2) with the answer appended)
            prompt = [dict(m, content=self.remove_thought(m["content"])) if i % 2 == 1 and i < len(prompt) - 1 else m
                      for i, m in enumerate(prompt)]
        return [x for i, m in enumerate(prompt) for x in self.encode_message(tokenizer, i, m, system, tools)]

    def encode_answer(self, tokenizer: Any, at: int, answer: dict[str, Any], system: Any, tools: Any
                      ) -> tuple[list[Any], list[Any]]:
        """What the answer as message ``at`` adds: ids that go at the end of the prompt (a reasoning template's
        empty thought when thinking is off) and its own ids."""
        if not self.reasoning:
            return [], self.encode_message(tokenizer, at, answer, system, tools)
        if self.enable_thinking is False:  # remove all cot
            answer = dict(answer, content=self.remove_thought(answer["content"]))
        answer_ids = self.encode_message(tokenizer, at, answer, system, tools)
        start, end = self.thought_words
        if self.reasoning == "0.9.5":
            start, end = start.strip(), end.strip()
        if start not in answer["content"] and end not in answer["content"]:  # add empty cot
            thought = tokenizer.encode(self.add_thought(), add_special_tokens=False)
            if not self.enable_thinking:  # do not compute loss
                return thought, answer_ids
            return [], thought + answer_ids
        return [], answer_ids

    def encode_oneturn(self, tokenizer: Any, messages: list[dict[str, Any]], system: Any = None, tools: Any = None
                       ) -> tuple[list[Any], list[Any]]:
        """LLaMA-Factory's ``encode_oneturn``: the ids of the prompt (all messages but the last), and of the last."""
        prompt_ids = self.encode_prompt(tokenizer, messages[:-1], system, tools)
        suffix, answer_ids = self.encode_answer(tokenizer, len(messages) - 1, messages[-1], system, tools)
        return prompt_ids + suffix, answer_ids

    def add_thought(self, content: str = "") -> str:
        start, end = self.thought_words
        if self._glm47:
            return end if not content else start + content + end
        if self.reasoning == "0.9.3":
            return f"{start}\n\n{end}\n\n" + content
        return f"{start}{end}" + content

    def remove_thought(self, content: str) -> str:
        start, end = self.thought_words
        pattern = re.compile(f"{re.escape(start)}(.*?){re.escape(end)}", re.DOTALL)
        return re.sub(pattern, "", content).lstrip("\n")

    # --- the tokenizer fix (get_template_and_fix_tokenizer) -------------------------------------------------

    @staticmethod
    def _add_or_replace_eos_token(tokenizer: Any, eos_token: str) -> None:
        if tokenizer.eos_token == eos_token:
            return
        tokenizer.add_special_tokens({"eos_token": eos_token})

    def fix_special_tokens(self, tokenizer: Any) -> None:
        stop_words = self.stop_words
        if self.replace_eos:
            if not stop_words:
                raise ValueError("Stop words are required to replace the EOS token.")
            self._add_or_replace_eos_token(tokenizer, eos_token=stop_words[0])
            stop_words = stop_words[1:]
        if tokenizer.eos_token_id is None:
            self._add_or_replace_eos_token(tokenizer, eos_token="<|endoftext|>")
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        if stop_words:
            try:
                tokenizer.add_special_tokens(dict(additional_special_tokens=stop_words),
                                             replace_additional_special_tokens=False)
            except TypeError:
                tokenizer.add_special_tokens(dict(additional_special_tokens=stop_words))

    @staticmethod
    def _jinja_escape(content: str) -> str:
        return content.replace("'", r"\'")

    @staticmethod
    def _convert_slots_to_jinja(slots: list[Any], tokenizer: Any, placeholder: str = "content") -> str:
        slot_items = []
        for slot in slots:
            if isinstance(slot, str):
                slot_pieces = slot.split("{{content}}")
                if slot_pieces[0]:
                    slot_items.append("'" + FastTemplate._jinja_escape(slot_pieces[0]) + "'")
                if len(slot_pieces) > 1:
                    slot_items.append(placeholder)
                    if slot_pieces[1]:
                        slot_items.append("'" + FastTemplate._jinja_escape(slot_pieces[1]) + "'")
            elif isinstance(slot, set):
                if "bos_token" in slot and tokenizer.bos_token_id is not None:
                    slot_items.append("'" + tokenizer.bos_token + "'")
                elif "eos_token" in slot and tokenizer.eos_token_id is not None:
                    slot_items.append("'" + tokenizer.eos_token + "'")
            elif isinstance(slot, dict):
                raise ValueError("Dict is not supported.")
        return " + ".join(slot_items)

    def _get_jinja_template(self, tokenizer: Any) -> str:
        jinja = self._convert_slots_to_jinja
        prefix = jinja(self.format_prefix.apply(), tokenizer)
        system = jinja(self.format_system.apply(), tokenizer, placeholder="system_message")
        user = jinja(self.format_user.apply(), tokenizer)
        assistant = jinja(self.format_assistant.apply(), tokenizer)
        jinja_template = ""
        if prefix:
            jinja_template += "{{ " + prefix + " }}"
        if self.default_system:
            jinja_template += "{% set system_message = '" + self._jinja_escape(self.default_system) + "' %}"
        jinja_template += (
            "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
            "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% endif %}")
        if self._fused:
            jinja_template += (
                "{% for message in loop_messages %}"
                "{% if loop.index0 == 0 and system_message is defined %}"
                "{% set content = " + system + " + message['content'] %}"
                "{% else %}{% set content = message['content'] %}{% endif %}")
        else:
            jinja_template += ("{% if system_message is defined %}{{ " + system + " }}{% endif %}"
                               "{% for message in loop_messages %}"
                               "{% set content = message['content'] %}")
        jinja_template += ("{% if message['role'] == 'user' %}{{ " + user + " }}"
                           "{% elif message['role'] == 'assistant' %}{{ " + assistant + " }}"
                           "{% endif %}{% endfor %}")
        return jinja_template

    def fix_jinja_template(self, tokenizer: Any) -> None:
        if tokenizer.chat_template is None or self.replace_jinja_template:
            try:
                tokenizer.chat_template = self._get_jinja_template(tokenizer)
            except ValueError:
                pass

    def fix_tokenizer(self, tokenizer: Any) -> None:
        """What ``get_template_and_fix_tokenizer`` does to the tokenizer (with LLaMA-Factory's default data
        arguments: no default_system or tool_format override)."""
        self.fix_special_tokens(tokenizer)
        self.fix_jinja_template(tokenizer)


def fast_template(name: str, enable_thinking: bool | None = True, preserve_thinking: bool = False
                  ) -> FastTemplate | None:
    """The template ``name`` on the fast path, or None where LLaMA-Factory's own code must render it (a class not
    replicated here, sources that are not a shipped release, a template only the live TEMPLATES has). Raises
    UsageError for a name the installed release does not have, and when LLaMA-Factory is not installed.
    ``enable_thinking`` and ``preserve_thinking`` are the data arguments get_template_and_fix_tokenizer sets on the
    template (preserve_thinking only where the release has it)."""
    root = installed_root()
    release = shipped_release(root)
    if release is None:
        return None
    code, defaults = release.get("code", {}), release.get("data_arguments", {})
    if defaults.get("train_on_prompt") or defaults.get("default_system") is not None or defaults.get("tool_format"):
        return None  # defaults that change the template: LLaMA-Factory's own path
    thinking = {"enable_thinking": enable_thinking, "preserve_thinking": preserve_thinking}
    defaults = {**defaults, **{k: v for k, v in thinking.items() if k in defaults}}
    live = sys.modules.get("llamafactory.data.template")
    if live is not None and getattr(live, "__file__", "") and os.path.dirname(os.path.dirname(live.__file__)) == root:
        template = live.TEMPLATES.get(name)
        if template is None or not _renders(type(template).__name__, code):
            return None  # LLaMA-Factory's path says what is wrong (or renders it)
        return FastTemplate.from_template(name, template, code, defaults)
    key = release["templates"].get(name)
    if key is None:
        known = ", ".join(sorted(release["templates"])[:12])
        raise UsageError(f"unknown template {name!r}; LLaMA-Factory knows e.g. {known}, ...")
    description = shipped()["descriptions"][key]
    if not _renders(description["class"], code):
        return None
    return FastTemplate.from_description(name, description, formatter_module(root), code, defaults)


def _renders(template_class: str, code: dict[str, str]) -> bool:
    return template_class in CLASSES and all(c in code for c in CLASSES[template_class])
