"""LLaMA-Factory v1 pair data (``USE_V1=1``): the rows' shape, v1's own rendering, and what v1 keeps.

v1 (0.9.5) reads a dataset YAML entry ``NAME: {path, source: local, converter: pair}``. Its ``pair`` converter
(``v1/plugins/data_plugins/converter.py``) turns a row ``{"chosen": [messages], "rejected": [messages],
"tools"?}`` into ``chosen_messages`` / ``rejected_messages``: each content becomes one text part, and
``loss_weight`` is 1.0 for assistant messages and 0.0 for the others. An entry without a converter takes rows
already in that form (v1's own ``v1_dpo_demo.jsonl``).

What v1 then does with a pair (each step is v1's code, run here on the row):

- ``Renderer.process_samples`` (``v1/core/utils/rendering.py``) renders chosen and rejected, each with the
  template (``chatml``, or a rendering plugin: ``qwen3``, ``qwen3_nothink``, ModelArguments' default), and packs
  them into ONE sequence: the chosen ids, then the rejected ids (token_type_ids 1 and 2). The labels are the
  ids of the messages with a loss weight (every assistant message), -100 elsewhere.
- Batching (``v1/core/utils/batching.py`` ``default_collate_fn``, and the dynamic and padding-free plugins)
  cuts that packed sequence at ``cutoff_len`` (``v1/utils/helper.py`` ``pad_and_truncate``), so the rejected
  side is cut first. The data path never removes a sample.
- What a cut pair is worth is decided in the trainers: the loss of each micro batch is scaled by its
  supervised tokens (labels != -100: ``compute_valid_tokens`` in ``base_trainer.fit``), so a pair with none
  left trains nothing; and the reward-model trainer (``v1/trainers/rm_trainer.py``, the one v1 trainer for
  pairs: 0.9.5's ``dpo`` command raises NotImplementedError) keeps only pairs that still have chosen and
  rejected tokens (``valid_pair_mask``) and raises "No valid RM pairs found" for a micro batch without one.

So for each pair prefkit predicts, at ``cutoff_len``: ``v1_no_supervised_tokens`` (no assistant token is left:
the pair trains nothing) and ``v1_no_rejected_tokens`` (the chosen side fills the cutoff: the RM trainer
leaves the pair out, and stops the run when a whole micro batch is such pairs), both in ``would_drop``; and
``v1_rejected_answer_cut`` (error: only part of the rejected prompt is left, the rejected answer is gone: the
pair compares the chosen answer with its own prompt). Rows on which v1's converter or renderer raises are
``breaks_loader``.

v1's modules import torch only through ``v1/utils/helper.py``, for functions rendering does not use; like
:mod:`prefkit.targets.lf_template`, :func:`load` imports the converter, the renderer and the template plugins
with a stand-in for that one module (its ``get_tokenizer``, the same one line), then takes the modules back
out of ``sys.modules``. The texts are encoded as in :mod:`prefkit.targets.tokens`: v1's renderer gets a
tokenizer proxy whose ``encode`` returns the text as a placeholder, and the distinct texts are encoded once,
in a batch. The parity tests compare the result with v1's ``DataEngine`` and ``BatchGenerator``.
"""

from __future__ import annotations

import functools
import importlib
import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..checks.acceptance import Aligned
from ..errors import InputError, RegistryError, UsageError, unexpected
from ..io.sample import sample
from .base import Counter, PairCounts, Parsed, RowCheck, Target, TokenOptions
from .lf_template import stand_in_module
from .tokens import DeferringTokenizer, load_tokenizer

LAYOUT = "lf-v1"  # --layout for a file of v1 pair rows (or of rows in v1's own converted form)
DEFAULT_TEMPLATE = "qwen3_nothink"  # v1's ModelArguments.template default: what v1 renders with unless told
ROLES = ("system", "user", "assistant")  # what v1's templates render as turns
ENTRY_KEYS = ("path", "source", "converter", "split", "size", "weight", "streaming")  # v1's DatasetInfo
FILE_TYPES = ("arrow", "csv", "json", "jsonl", "parquet", "txt")  # v1's loader: _get_builder_name


# --- entries ---------------------------------------------------------------------------------------


def is_v1_entry(entry: dict[str, Any]) -> bool:
    """An entry of v1's dataset YAML (``path``), not of ``dataset_info.json`` (``file_name``)."""
    return "path" in entry and "file_name" not in entry


def _is_messages(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(m, dict) and "role" in m and "content" in m
                                                            for m in value)


def is_v1_row(record: dict[str, Any]) -> bool:
    """Whether a record is a v1 pair row: list-valued chosen/rejected of role/content messages with the
    same prompt (at least one user turn before the answer), or v1's converted chosen_messages/rejected_messages."""
    if _is_messages(record.get("chosen_messages")) and _is_messages(record.get("rejected_messages")):
        return True
    chosen, rejected = record.get("chosen"), record.get("rejected")
    return (_is_messages(chosen) and _is_messages(rejected) and chosen[:-1] == rejected[:-1]
            and any(m.get("role") == "user" for m in chosen[:-1]))


def file_entry(path: str) -> dict[str, Any]:
    """The v1 entry that reads ``path`` as it is: the pair converter, or none for rows already converted."""
    rows = sample(path)
    converted = bool(rows) and "chosen_messages" in rows[0] and "chosen" not in rows[0]
    return {"path": path, "source": "local", **({} if converted else {"converter": "pair"})}


def entry_file(dataset_dir: str, name: str, entry: Any) -> str:
    """The file a v1 entry loads. v1 reads ``path`` relative to the directory llamafactory-cli runs in; a path
    that only exists inside the dataset dir is read from there (and :func:`check_entry` reports it)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        raise RegistryError(f"{name}: the v1 entry needs a path (a string)")
    source = entry.get("source", "hf_hub")
    if source != "local":
        raise UsageError(f"{name}: the v1 entry loads from {source!r}; validate reads local files (source: local)")
    path = entry["path"]
    if os.path.exists(path) or os.path.isabs(path):
        return path
    inside = os.path.join(dataset_dir, path)
    return inside if os.path.exists(inside) else path


def check_entry(dataset_dir: str, entry: dict[str, Any]) -> list[str]:
    """The problems of one v1 entry that v1's DataEngine or batching would fail on (or silently ignore)."""
    problems = [f"unknown key {key!r}: v1 ignores it" for key in entry if key not in ENTRY_KEYS]
    path = entry.get("path")
    if isinstance(path, str):
        if not os.path.exists(path):
            where = (f"; it is in {dataset_dir}, but v1 reads the path from the directory llamafactory-cli runs in "
                     "(write it relative to that, or absolute)") if os.path.exists(os.path.join(dataset_dir, path)) else ""
            problems.append(f"path {path!r} does not exist relative to the current directory{where}")
        elif os.path.isdir(path):
            kinds = {os.path.splitext(f)[1] for f in os.listdir(path)}
            if len(kinds) != 1:
                problems.append(f"path {path!r} is a folder of {', '.join(sorted(kinds)) or 'no'} files: v1 takes the "
                                "loader from the first file name it lists; give it a file, or a folder of one type")
        elif os.path.splitext(path)[1][1:] not in FILE_TYPES:
            problems.append(f"path {path!r}: v1 loads only {', '.join('.' + t for t in FILE_TYPES)} files")
    converter = entry.get("converter")
    if converter not in (None, "pair", "alpaca", "sharegpt"):
        problems.append(f"converter {converter!r}: v1 has alpaca, sharegpt and pair")
    size, weight = entry.get("size"), entry.get("weight")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
        problems.append(f"size {size!r}: v1 draws that many records (a positive integer)")
    if weight is not None and (not isinstance(weight, (int, float)) or isinstance(weight, bool) or weight <= 0):
        problems.append(f"weight {weight!r}: v1 scales the record count by it (a positive number)")
    if entry.get("split", "train") != "train" and isinstance(path, str) and os.path.isfile(path):
        problems.append(f"split {entry['split']!r}: a local file has only the train split")
    if entry.get("streaming"):
        problems.append("streaming: v1 0.9.5's batching raises NotImplementedError for an iterable dataset")
    return problems


# --- v1's code, loaded without torch --------------------------------------------------------------


@dataclass(frozen=True)
class V1Code:
    """The parts of LLaMA-Factory v1 that read and render a pair."""

    converter: Callable[[str], Callable[[dict[str, Any]], dict[str, Any]]]  # DataConverterPlugin
    render_chatml: Callable[..., dict[str, Any]]  # core.utils.rendering.render_chatml_messages
    rendering_plugin: type  # plugins.model_plugins.rendering.RenderingPlugin
    templates: tuple[str, ...]  # "chatml" and the rendering plugins
    ignore_index: int

    def render(self, template: str, processor: Any, messages: list[dict[str, Any]], tools: str | None
               ) -> dict[str, Any]:
        """``Renderer(template, processor).render_messages(messages, tools)``: its dispatch, with the functions
        loaded here (Renderer imports the plugin module anew on each call, which would bring in torch)."""
        if template == "chatml":
            return self.render_chatml(processor, messages, tools, False)
        return self.rendering_plugin(template).render_messages(processor, messages, tools, False, False)


def _get_tokenizer(processor: Any) -> Any:
    """v1/utils/helper.py's get_tokenizer (the stand-in's one function)."""
    return processor.tokenizer if hasattr(processor, "tokenizer") else processor


@functools.cache
def load() -> V1Code:
    """v1's converter and renderer (ImportError when LLaMA-Factory 0.9.5's v1 is not installed)."""
    spec = importlib.util.find_spec("llamafactory")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("llamafactory is not installed")
    root = list(spec.submodule_search_locations)[0]
    if not os.path.isdir(os.path.join(root, "v1")):
        raise ImportError("this LLaMA-Factory has no v1 data engine (0.9.5 has)")
    if "llamafactory.v1.core.utils.rendering" in sys.modules:  # the real one is loaded: use it
        return _code(root, *(importlib.import_module(f"llamafactory.v1.{m}") for m in _MODULES))
    before = set(sys.modules)
    helper = stand_in_module("llamafactory.v1.utils.helper")
    helper.get_tokenizer = _get_tokenizer
    stand_ins = {"llamafactory.v1.utils.helper": helper}
    if "llamafactory" not in sys.modules:  # its __init__ reads the environment (torch among it)
        stand_ins["llamafactory"] = stand_in_module("llamafactory", [root])
    sys.modules.update(stand_ins)
    try:
        return _code(root, *(importlib.import_module(f"llamafactory.v1.{m}") for m in _MODULES))
    finally:
        for name in set(sys.modules) - before:
            if name.split(".")[0] == "llamafactory":
                del sys.modules[name]


_MODULES = ("core.utils.rendering", "plugins.model_plugins.rendering", "plugins.data_plugins.converter",
            "utils.constants")


def _code(root: str, rendering: Any, plugins: Any, converter: Any, constants: Any) -> V1Code:
    folder = os.path.join(root, "v1", "plugins", "model_plugins", "templates")
    for name in sorted(f[:-3] for f in os.listdir(folder) if f.endswith(".py") and not f.startswith("_")):
        plugins.RenderingPlugin(name)._ensure_template_imported()  # now (in load: while the stand-in is in place)
    registry = plugins.RenderingPlugin._registry
    templates = ("chatml", *sorted(n for n, methods in registry.items() if "render_messages" in methods))
    return V1Code(converter.DataConverterPlugin, rendering.render_chatml_messages, plugins.RenderingPlugin, templates,
                  constants.IGNORE_INDEX)


def _v1() -> V1Code:
    try:
        return load()
    except ImportError as error:
        raise UsageError(f"v1 checks need LLaMA-Factory 0.9.5 ({error}): pip install 'prefkit[train]'") from None


def resolve_template(template: str, code: V1Code) -> tuple[str, str]:
    """(template name, where it came from): "auto" is what v1 renders with when the config names none."""
    if template == "auto":
        return DEFAULT_TEMPLATE, "auto: v1's default (ModelArguments.template)"
    if template not in code.templates:
        raise UsageError(f"unknown v1 template {template!r}; LLaMA-Factory v1 renders with {', '.join(code.templates)}")
    return template, "given"


@contextmanager
def _quiet() -> Iterator[None]:
    """v1's converter logs (to stdout) what it skips; prefkit reports it as findings instead."""
    logger = logging.getLogger("llamafactory.v1.plugins.data_plugins.converter")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


# --- one row -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Rendered:
    """A pair as v1's renderer builds it, with placeholder texts for the token ids."""

    chosen: dict[str, list[Any]]  # ModelInput: input_ids, labels (...)
    rejected: dict[str, list[Any]]


@dataclass(slots=True)
class V1PairLengths(PairCounts):
    """One pair as v1 trains on it: the chosen and the rejected rendering packed into one sequence, cut at
    cutoff_len. ``prompt``: the tokens before the final answer (the chosen side's; ``rejected_prompt`` the
    rejected side's); ``*_kept``: what the cut leaves (``prompt_kept``: of the side that keeps fewer)."""

    rejected_prompt: int
    supervised_kept: int  # tokens with a label left in the packed sequence
    cutoff_len: int
    drop: str | None = None  # v1_no_supervised_tokens, v1_no_rejected_tokens
    rejected_answer_cut: bool = False  # part of the rejected prompt is left but none of its answer

    @property
    def total(self) -> int:
        """The cutoff_len that keeps this pair whole: both sides, packed."""
        return self.prompt + self.chosen + self.rejected_prompt + self.rejected

    @property
    def truncated(self) -> bool:
        return self.total > self.cutoff_len

    def to_json(self, index: int) -> dict[str, Any]:
        out: dict[str, Any] = {"index": index, "prompt": self.prompt, "chosen": self.chosen,
                               "rejected": self.rejected, "prompt_kept": self.prompt_kept,
                               "chosen_kept": self.chosen_kept, "rejected_kept": self.rejected_kept,
                               "rejected_prompt": self.rejected_prompt, "sequence": self.total,
                               "sequence_kept": min(self.total, self.cutoff_len), "supervised_kept": self.supervised_kept}
        if self.drop:
            out["dropped"] = self.drop
        return out

    def problems(self) -> list[tuple[str, str, str, str]]:
        if self.drop:
            return [(self.drop, "error", "", DROP_MESSAGES[self.drop].format(
                cutoff=self.cutoff_len, total=self.total, chosen_side=self.prompt + self.chosen))]
        if self.rejected_answer_cut:
            return [("v1_rejected_answer_cut", "error", "rejected",
                     f"cutoff_len {self.cutoff_len} keeps {self.rejected_kept + self.prompt_kept} tokens of the "
                     "rejected side, none of its answer: the pair compares the chosen answer with part of the prompt")]
        return []


@dataclass
class _Row:
    """What the checks of one row found, before rendering."""

    aligned: Aligned | None = None  # prompt, answers, system and tools, for the content checks
    problems: list[tuple[str, str, str, str]] = field(default_factory=list)  # (code, level, path, message)
    broken: bool = False  # v1 raises on the row

    def add(self, code: str, level: str, path: str, message: str) -> None:
        self.problems.append((code, level, path, message))
        self.broken = self.broken or code == "breaks_loader"


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _text(content: Any, converted: bool) -> str:
    if not converted:
        return content if isinstance(content, str) else ""
    return "".join(p.get("value", "") for p in content if isinstance(p, dict) and isinstance(p.get("value"), str)) \
        if isinstance(content, list) else ""


def _check_messages(side: str, messages: Any, converted: bool, out: _Row) -> bool:
    """The shape of one side; False when v1 raises on it."""
    if not isinstance(messages, list):
        out.add("breaks_loader", "error", side, f"{side} is {_kind(messages)}, not a list of messages: v1's pair "
                "converter raises on it and the run fails")
        return False
    for i, m in enumerate(messages):
        where = f"{side}[{i}]"
        if not isinstance(m, dict):
            out.add("breaks_loader", "error", where, "a message is not an object: v1's converter raises on it")
            return False
        role, content = m.get("role"), m.get("content")
        if converted:
            parts_ok = isinstance(content, list) and all(isinstance(p, dict) and "type" in p and "value" in p
                                                        for p in content)
            if not parts_ok:
                out.add("breaks_loader", "error", f"{where}.content", f"content is {_kind(content)}, not a list of "
                        "typed parts {type, value}: v1's renderer raises on it")
                return False
        elif not isinstance(content, str):
            what = "a list (typed parts)" if isinstance(content, list) else _kind(content)
            out.add("breaks_loader", "error", f"{where}.content", f"content is {what}, not a string: v1's pair "
                    "converter makes it one text part and the renderer raises (TypeError); the run fails")
            return False
        if role not in ROLES:
            out.add("v1_bad_role", "error", f"{where}.role", f"role {role!r}: v1 renders system, user and assistant "
                    "turns (the pair converter reads 'tool' as tool calls, qwen3 templates skip other roles, chatml "
                    "writes them as they are)")
    return True


def inspect(data: dict[str, Any], converter: str | None) -> _Row:
    """The shape and meaning checks of one row (before v1's own code runs on it), and its text for the content
    checks."""
    out = _Row()
    converted = converter is None
    keys = ("chosen_messages", "rejected_messages") if converted else ("chosen", "rejected")
    sides = [data.get(k) for k in keys]
    ok = all([_check_messages(k, v, converted, out) for k, v in zip(keys, sides, strict=True)])
    tools = data.get("tools")
    if tools and not isinstance(tools, str):
        out.add("breaks_loader", "error", "tools", f"tools is {_kind(tools)}, not a JSON string: v1's converter "
                "raises (json.loads)")
        ok = False
    elif tools and converter == "pair":
        try:
            json.loads(tools)
        except ValueError:
            out.add("v1_invalid_tools", "warning", "tools", "tools is not valid JSON: v1's converter drops them "
                    "(with a warning) and trains without tools")
    if not ok:
        return out
    chosen, rejected = sides
    for key, messages in zip(keys, sides, strict=True):
        if not messages or messages[-1].get("role") != "assistant":
            out.add("v1_no_answer", "error", f"{key}[{len(messages) - 1}].role" if messages else key,
                    f"{key} does not end with an assistant turn: there is no answer to prefer")
    prompt = chosen[:-1]
    if not any(m.get("role") == "user" for m in prompt):
        out.add("v1_no_prompt", "error", keys[0], "no user turn before the answer")
    if [(m.get("role"), m.get("content")) for m in prompt] != [(m.get("role"), m.get("content")) for m in rejected[:-1]]:
        out.add("v1_prompt_mismatch", "error", keys[1], f"{keys[0]} and {keys[1]} differ before their last message: "
                "a pair answers one prompt twice")
    if chosen and rejected:
        system = prompt[0] if prompt and prompt[0].get("role") == "system" else None
        turns = [{"role": m.get("role"), "content": _text(m.get("content"), converted)}
                 for m in prompt[1 if system else 0:]]
        answers = [{"role": "assistant", "content": _text(m.get("content"), converted)}
                   for m in (chosen[-1], rejected[-1])]
        out.aligned = Aligned(turns, answers, _text(system.get("content"), converted) if system else "",
                              tools if isinstance(tools, str) else "")
    return out


def render(code: V1Code, template: str, proxy: Any, data: dict[str, Any], converter: str | None, out: _Row
           ) -> Rendered | None:
    """Run v1's converter and renderer on the row (Renderer.process_samples, one side at a time); an exception
    there is what the training run would die of."""
    try:
        with _quiet():
            sample = code.converter(converter)(data) if converter else dict(data)
        if "chosen_messages" not in sample or "rejected_messages" not in sample:
            raise ValueError("No valid messages or chosen_messages/rejected_messages found in sample.")
        tools = sample.get("tools")
        return Rendered(code.render(template, proxy, sample["chosen_messages"], tools),
                        code.render(template, proxy, sample["rejected_messages"], tools))
    except Exception as err:  # the converter and the templates raise several types
        reason, message = unexpected(err)
        out.add("breaks_loader", "error", "", f"v1 raises on this row with template {template!r} ({message}): the "
                "run fails")
        return None


# --- lengths -------------------------------------------------------------------------------------


def _segments(proxy: DeferringTokenizer, model_input: dict[str, list[Any]], ignore: int
              ) -> list[tuple[int, bool]]:
    """(token count, supervised) of each encoded text, in order."""
    ids = proxy.ids
    return [(len(ids[x]) if isinstance(x, str) else 1, label != ignore)
            for x, label in zip(model_input["input_ids"], model_input["labels"], strict=True)]


def _answer_start(segments: list[tuple[int, bool]]) -> int:
    """Where the final answer starts: the last run of supervised texts (v1 renders each message on its own)."""
    end = len(segments)
    while end and not segments[end - 1][1]:
        end -= 1
    start = end
    while start and segments[start - 1][1]:
        start -= 1
    return sum(n for n, _ in segments[:start]) if end else sum(n for n, _ in segments)


def _supervised(segments: list[tuple[int, bool]], keep: int) -> int:
    """Supervised tokens among the first ``keep``."""
    total, pos = 0, 0
    for n, supervised in segments:
        if pos >= keep:
            break
        if supervised:
            total += min(n, keep - pos)
        pos += n
    return total


class V1Counter:
    """v1's token lengths of pairs for one tokenizer, template and cutoff_len."""

    def __init__(self, model: str, template: str, cutoff_len: int, trust_remote_code: bool = False) -> None:
        self.code = _v1()
        self.template_name, self.template_source = resolve_template(template, self.code)
        self.tokenizer = load_tokenizer(model, trust_remote_code)
        self.cutoff_len = cutoff_len
        self.proxy = DeferringTokenizer(self.tokenizer)

    limit_name = "cutoff_len"

    def limits(self) -> dict[str, Any]:
        return {"model": self.tokenizer.name_or_path, "template": self.template_name,
                "template_source": self.template_source, "cutoff_len": self.cutoff_len}

    def notes(self) -> list[tuple[str, str, str]]:
        return []

    def measure(self, pairs: list[Rendered]) -> list[V1PairLengths]:
        """Lengths of a batch of rendered pairs (rendered with :attr:`proxy`)."""
        proxy, ignore, cutoff = self.proxy, self.code.ignore_index, self.cutoff_len
        proxy.resolve([side["input_ids"] for pair in pairs for side in (pair.chosen, pair.rejected)])
        out = []
        for pair in pairs:
            chosen, rejected = _segments(proxy, pair.chosen, ignore), _segments(proxy, pair.rejected, ignore)
            c, r = sum(n for n, _ in chosen), sum(n for n, _ in rejected)
            p, pr = _answer_start(chosen), _answer_start(rejected)
            c_keep = min(c, cutoff)  # pad_and_truncate: the packed chosen + rejected ids, cut at cutoff_len
            r_keep = max(0, min(r, cutoff - c))
            supervised = _supervised(chosen, c_keep) + _supervised(rejected, r_keep)
            chosen_kept, rejected_kept = max(0, c_keep - p), max(0, r_keep - pr)
            drop = "v1_no_supervised_tokens" if supervised == 0 else "v1_no_rejected_tokens" if r_keep == 0 else None
            identical = False
            if drop is None and c + r > cutoff and chosen_kept == rejected_kept:
                identical = proxy.expand(pair.chosen["input_ids"])[p:c_keep] == \
                    proxy.expand(pair.rejected["input_ids"])[pr:r_keep]
            out.append(V1PairLengths(p, c - p, r - pr, min(min(p, c_keep), min(pr, r_keep)), chosen_kept,
                                     rejected_kept, identical, pr, supervised, cutoff, drop,
                                     drop is None and rejected_kept == 0 and r > pr))
        return out


DROP_MESSAGES = {
    "v1_no_supervised_tokens": "no token of any assistant turn is left within cutoff_len {cutoff} (the packed chosen "
                               "+ rejected sequence is {total} tokens): v1 trains nothing on this pair",
    "v1_no_rejected_tokens": "the chosen side alone is {chosen_side} tokens, so cutoff_len {cutoff} leaves nothing of "
                             "the rejected side: v1's RM trainer leaves the pair out (valid_pair_mask) and raises "
                             "'No valid RM pairs found' when a whole micro batch is such pairs",
}


# --- the target ------------------------------------------------------------------------------------


class LlamaFactoryV1(Target):
    """LLaMA-Factory v1 (``USE_V1=1``): ``dataset_info.yaml`` entries, its pair converter and renderer."""

    name = "lf-v1"
    trainer = "LLaMA-Factory v1"
    layouts = (LAYOUT,)
    registry = "v1"
    size_key = "size"  # draws that many records at random

    def owns(self, entry: dict[str, Any]) -> bool:
        return is_v1_entry(entry)

    def fits(self, record: dict[str, Any]) -> bool:
        return is_v1_row(record)

    def file_entry(self, path: str, layout: str | None) -> dict[str, Any]:
        return file_entry(path)

    def stage(self, entry: dict[str, Any]) -> str:
        """Pairs (rm) for the pair converter or rows already converted; v1's alpaca and sharegpt converters make
        SFT samples."""
        return "rm" if entry.get("converter") in (None, "pair") else "none"

    def check_entry(self, dataset_dir: str, entry: dict[str, Any]) -> list[str]:
        return check_entry(dataset_dir, entry)

    def entry_file(self, dataset_dir: str, name: str, entry: dict[str, Any]) -> str:
        path = entry_file(dataset_dir, name, entry)
        if not os.path.exists(path):
            raise InputError(f"{path}: no such file (the path of v1 entry {name!r}, read from the current directory "
                             "as llamafactory-cli reads it)")
        return path

    def counter(self, options: TokenOptions, entry: dict[str, Any]) -> Counter:
        return V1Counter(options.model, options.template, options.cutoff_len, options.trust_remote_code)

    def parser(self, entry: dict[str, Any], counter: Counter | None, template: str = "auto",  # type: ignore[no-untyped-def]
               media_dir: str | None = None):
        """Each row's checks and v1's rendering; without a model v1's converter and renderer still run (with
        placeholders) when v1 is installed."""
        if isinstance(counter, V1Counter):
            code, template_name, proxy = counter.code, counter.template_name, counter.proxy
        else:
            try:
                code = load()
            except ImportError:
                code = None
            template_name = resolve_template(template, code)[0] if code else DEFAULT_TEMPLATE
            proxy = DeferringTokenizer(None)
        converter = entry.get("converter")

        def parse(data: dict[str, Any], result: RowCheck) -> Parsed | str | None:
            if converter not in (None, "pair"):  # v1's SFT converters: not a preference dataset (reported once)
                return None
            found = inspect(data, converter)
            rendered = None if found.broken or code is None else render(code, template_name, proxy, data, converter,
                                                                          found)
            for problem in found.problems:
                result.add(*problem)
            if found.broken or (rendered is None and code is not None):
                return "breaks_loader"
            return Parsed(found.aligned, rendered) if rendered is not None or found.aligned is not None else None

        return parse
