"""Tokenizers for token counting: loading one (and the rule for a model folder's own code), and the deferring
proxy every target renders with.

A target renders a row with its trainer's own code, but through :class:`DeferringTokenizer`, whose ``encode``
returns the text itself as a placeholder; the distinct texts of a batch are then encoded once, together, by the
Rust tokenizer (on all cores), and lengths and kept ids are read through the placeholders. Same ids, a fraction
of the work.

:func:`load_counting_tokenizer` reads a model folder with ``tokenizers`` alone (:class:`FastTokenizer`: no
transformers import, about 1.3 s less per run): ``tokenizer.json``, plus what ``AutoTokenizer`` takes from
``tokenizer_config.json`` and ``special_tokens_map.json`` (the named special tokens, the additional ones, the
``added_tokens_decoder`` entries, the chat template), and offers what LLaMA-Factory's template code and prefkit
call. It is the backend transformers itself would encode with when the tokenizer class uses ``tokenizer.json``
as it is (transformers 4; in transformers 5 the class may rebuild the pipeline from the vocabulary, to the same
effect for the models it knows: the parity tests compare the two). AutoTokenizer loads it as before for a folder
without ``tokenizer.json``, a hub name, ``--trust-remote-code`` on a folder that maps classes to its own code
(``auto_map``; on any other folder the flag changes nothing), a config that asks transformers to convert the
slow tokenizer or to change the pre-tokenizer (``from_slow``, ``add_prefix_space``, ``legacy: false``, a
top-level pre-tokenizer that adds a prefix space), a class whose default special tokens the folder does not
override, and with ``PREFKIT_TOKENIZER=transformers``.

One difference from transformers 5 is kept on purpose: LLaMA-Factory 0.9.5 adds a template's stop words with
``replace_additional_special_tokens=False``, which transformers 5 no longer accepts, and its fallback replaces
the additional special tokens; :meth:`FastTokenizer.add_special_tokens` accepts the argument and extends them
(as transformers 4 does). Ids are the same either way (the tokens stay in the vocabulary); ``all_special_tokens``
keeps the folder's own, so the special-token-in-text check still knows them.
"""

from __future__ import annotations

import json
import os
import sys
from array import array
from collections.abc import Iterable
from typing import Any

from ..errors import UsageError

BATCH = 2048  # pairs per encoding batch
CACHE_CHARS = 8_000_000  # encoded texts kept across batches (repeated system prompts, answers); ~25 MB


class _Ids(dict):
    """text -> its ids (an array), made on first use from the batch's encodings (or by encoding the text again,
    for one whose encoding has gone since): most texts are only counted, never expanded."""

    def __init__(self, proxy: DeferringTokenizer, items: Any = ()) -> None:
        super().__init__(items)
        self._proxy = proxy

    def __missing__(self, text: str) -> array:
        ids = array("I", self._proxy._ids_of(text))
        self[text] = ids
        return ids


class DeferringTokenizer:
    """Stands in for the tokenizer inside LLaMA-Factory's template: ``encode(text)`` returns ``[text]``, a
    placeholder that the template concatenates like any id list. The distinct texts of a batch are then
    encoded once, together, and each placeholder counts as the ids of its text.

    ``lengths`` holds the token count of every text resolved (and kept: at most CACHE_CHARS characters of them);
    ``ids[text]`` gives its ids, taken from the batch's encodings when first asked for (a pair's answers when
    truncation may have made them identical), so the ids of most texts never become Python objects."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self.ids: _Ids = _Ids(self)
        self.lengths: dict[str, int] = {}
        self._pending: dict[str, Any] = {}  # the last batch's encodings, until the next one
        self._chars = 0
        backend = getattr(tokenizer, "backend_tokenizer", None) if getattr(tokenizer, "is_fast", False) else None
        self._backend = backend  # the Rust tokenizer itself: what transformers calls, without its wrappers
        if backend is not None and (backend.truncation is not None or backend.padding is not None):
            backend.no_truncation()  # as transformers' encode does unless asked (tokenizer.json may set them)
            backend.no_padding()

    def encode(self, text: str, add_special_tokens: bool = False, **kwargs: Any) -> list[Any]:
        if add_special_tokens or kwargs:
            return self._tokenizer.encode(text, add_special_tokens=add_special_tokens, **kwargs)
        return [text]

    def resolve(self, sequences: list[list[Any]]) -> None:
        """Encode, in one batch, every placeholder text of these sequences not encoded yet."""
        self._pending = {}
        lengths = self.lengths
        wanted = {x for seq in sequences for x in seq if isinstance(x, str)}
        texts = [x for x in wanted if x not in lengths]
        new_chars = sum(map(len, texts))
        if not new_chars:
            return
        self._chars += new_chars
        if self._chars > CACHE_CHARS:  # bounded memory: keep only what this batch needs
            self.lengths = lengths = {k: v for k, v in lengths.items() if k in wanted}
            self.ids = _Ids(self, ((k, v) for k, v in self.ids.items() if k in wanted))
            self._chars = sum(map(len, lengths)) + new_chars
        if self._backend is not None:
            encodings = self._backend.encode_batch(texts, add_special_tokens=False)
            lengths.update(zip(texts, map(len, encodings), strict=True))
            self._pending.update(zip(texts, encodings, strict=True))
        else:
            encoded = self._tokenizer(texts, add_special_tokens=False)["input_ids"]
            for text, ids in zip(texts, encoded, strict=True):
                lengths[text] = len(ids)
                dict.__setitem__(self.ids, text, array("I", ids))

    def release(self) -> None:
        """Let the last batch's encodings go (what was not expanded stays counted)."""
        self._pending = {}

    def _ids_of(self, text: str) -> list[int]:
        encoding = self._pending.pop(text, None)
        if encoding is not None:
            return encoding.ids
        if self._backend is not None:
            return self._backend.encode(text, add_special_tokens=False).ids
        return self._tokenizer(text, add_special_tokens=False)["input_ids"]

    def length(self, sequence: list[Any]) -> int:
        lengths = self.lengths
        return sum(lengths[x] if isinstance(x, str) else 1 for x in sequence)

    def expand(self, sequence: list[Any], limit: int | None = None) -> list[int]:
        """The ids of a sequence (its first ``limit``, without copying the rest)."""
        out: list[int] = []
        for x in sequence:
            if limit is not None and len(out) >= limit:
                break
            if isinstance(x, str):
                out += self.ids[x] if limit is None else self.ids[x][:limit - len(out)]
            else:
                out.append(x)
        return out if limit is None else out[:limit]

    def same(self, a: list[Any], b: list[Any], limit: int | None = None) -> bool:
        """Whether two sequences have the same ids (the same first ``limit``)."""
        return a == b or self.expand(a, limit) == self.expand(b, limit)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tokenizer, name)


def tokenizer_only_transformers() -> bool:
    """Run transformers in its tokenizer-only mode in this process: it then never imports torch, which
    costs about 3 s and 250 MB and which token counting does not use. Only for a process that will not
    need torch (``prefkit validate``; see prefkit.cli.main); a no-op once either is imported."""
    if "torch" in sys.modules or "transformers" in sys.modules:
        return False
    sys.modules["torch"] = None  # type: ignore[assignment]  # find_spec("torch") is None: "not installed"
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")  # no "PyTorch was not found" on import
    return True


# The files of a model folder whose ``auto_map`` names Python code of its own, and what an auto_map that is not
# a mapping stands for (an old tokenizer_config's [slow, fast] list).
REMOTE_CODE_FILES = {"tokenizer_config.json": "AutoTokenizer", "config.json": "AutoConfig",
                     "processor_config.json": "AutoProcessor", "preprocessor_config.json": "AutoProcessor"}


def remote_code(model: str, tokenizer_only: bool = False) -> str | None:
    """Where a local model folder maps classes to Python files of its own (``auto_map``), e.g.
    "tokenizer_config.json (AutoTokenizer)"; None when it does not (or for a hub name: not known before loading).
    ``tokenizer_only``: only what loading its tokenizer would run (LLaMA-Factory also loads the processor)."""
    found = []
    for name, default in REMOTE_CODE_FILES.items():
        if tokenizer_only and default == "AutoProcessor":
            continue  # AutoTokenizer reads neither processor file
        try:
            with open(os.path.join(model, name), encoding="utf-8") as f:
                auto_map = json.load(f).get("auto_map")
        except (OSError, ValueError, AttributeError):
            continue
        keys = sorted(auto_map) if isinstance(auto_map, dict) else [default] if auto_map else []
        if tokenizer_only and name == "config.json":
            keys = [k for k in keys if k in ("AutoConfig", "AutoTokenizer")]
        if keys:
            found.append(f"{name} ({', '.join(keys)})")
    return "; ".join(found) or None


def refuse_remote_code(model: str, trust_remote_code: bool, what: str = "--model", tokenizer_only: bool = False) -> None:
    """One clear line instead of running (or, with transformers 5, silently skipping) a folder's own code."""
    where = None if trust_remote_code else remote_code(model, tokenizer_only)
    if where:
        raise UsageError(f"{what} {model}: the folder maps classes to its own Python code (auto_map in {where}); "
                         "prefkit runs that code only with --trust-remote-code (give it only for a folder you trust)")


def load_tokenizer(model: str, trust_remote_code: bool = False) -> Any:
    refuse_remote_code(model, trust_remote_code, tokenizer_only=True)
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise UsageError("token checks need transformers and LLaMA-Factory: pip install 'prefkit[train]'") from None
    try:
        return AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code)
    except Exception as err:  # transformers raises many types for a missing or broken tokenizer
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if not trust_remote_code and "trust_remote_code" in str(err):  # a hub model whose tokenizer is its own code
            raise UsageError(f"--model {model}: its tokenizer is Python code of the model's own; prefkit runs that "
                             "code only with --trust-remote-code (give it only for a model you trust)") from None
        raise UsageError(f"--model {model}: cannot load a tokenizer ({first})") from None


# --- a tokenizer folder read with `tokenizers` alone --------------------------------------------------------

SPECIAL_TOKENS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
# Classes that take tokenizer.json as it is and set no special tokens of their own (transformers 4 and 5).
GENERIC_CLASSES = {None, "PreTrainedTokenizerFast", "TokenizersBackend"}


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}


def _content(value: Any) -> str | None:
    """A special token as tokenizer_config.json writes it: a string, or an AddedToken as a dict."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _added_token(value: Any, special: bool = True) -> Any:
    from tokenizers import AddedToken

    if isinstance(value, dict):
        return AddedToken(value["content"], single_word=bool(value.get("single_word", False)),
                          lstrip=bool(value.get("lstrip", False)), rstrip=bool(value.get("rstrip", False)),
                          normalized=bool(value.get("normalized", not special)),
                          special=bool(value.get("special", special)))
    return AddedToken(value, special=special)


class FastTokenizer:
    """A tokenizer folder read with ``tokenizers`` alone, with the part of transformers' tokenizer interface that
    LLaMA-Factory's template code (encode, convert_tokens_to_ids, bos/eos/pad tokens and ids, add_special_tokens
    for its eos and stop-word fix, chat_template) and prefkit (all_special_tokens, name_or_path,
    apply_chat_template for a note) use. ``backend_tokenizer`` is the Rust tokenizer, as on a transformers fast
    tokenizer, so :class:`DeferringTokenizer` batches with it the same way."""

    is_fast = True

    def __init__(self, backend: Any, name_or_path: str, special: dict[str, str | None], additional: list[str],
                 chat_template: Any = None) -> None:
        self.backend_tokenizer = backend
        self.name_or_path = name_or_path
        self._special = {key: special.get(key) for key in SPECIAL_TOKENS}
        self._additional = list(additional)
        self.chat_template = chat_template

    @classmethod
    def from_folder(cls, folder: str) -> FastTokenizer | None:
        """The folder's tokenizer as transformers would load it, or None where that takes transformers itself."""
        if not os.path.isfile(os.path.join(folder, "tokenizer.json")):
            return None
        config = _read_json(os.path.join(folder, "tokenizer_config.json"))
        special_map = _read_json(os.path.join(folder, "special_tokens_map.json"))
        if config.get("from_slow") or config.get("add_prefix_space") or config.get("legacy") is False:
            return None  # transformers converts the slow tokenizer (or rebuilds the pre-tokenizer) for these
        tokenizer_class = config.get("tokenizer_class")
        if tokenizer_class not in GENERIC_CLASSES and any(
                key not in config and key not in special_map for key in ("bos_token", "eos_token", "unk_token", "pad_token")):
            return None  # the class's own defaults apply (LlamaTokenizer's <s>, Qwen2Tokenizer's <|endoftext|>, ...)
        from tokenizers import Tokenizer

        backend = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        pre_tokenizer = json.loads(backend.pre_tokenizer.__getstate__()) if backend.pre_tokenizer is not None else {}
        if pre_tokenizer.get("add_prefix_space", False) is not False:
            return None  # transformers 4 sets it to the config's (False), 5 keeps it: not one answer
        special: dict[str, str | None] = {}
        for key in SPECIAL_TOKENS:
            value = config.get(key) if config.get(key) is not None else special_map.get(key)
            special[key] = _content(value)
        additional: list[str] = []
        for source in (config, special_map):
            extra = source.get("additional_special_tokens") or source.get("extra_special_tokens") or []
            values = extra.values() if isinstance(extra, dict) else extra
            additional = [t for t in (_content(v) for v in values) if t]
            if additional:
                break
        # what transformers' __init__ does: the config's added tokens (their flags win), then the special tokens
        # that are not added tokens yet, as special added tokens
        decoder = config.get("added_tokens_decoder") or {}
        try:
            entries = sorted((int(i), t) for i, t in decoder.items() if isinstance(t, dict) and "content" in t)
        except (TypeError, ValueError):
            return None
        for _, token in entries:
            backend.add_tokens([_added_token(token, special=bool(token.get("special", False)))])
        if any(backend.token_to_id(token["content"]) != i for i, token in entries):
            return None  # the config and tokenizer.json disagree on ids: let transformers sort it out
        present = {str(t.content) for t in backend.get_added_tokens_decoder().values()}
        raw = {key: config.get(key) if config.get(key) is not None else special_map.get(key) for key in SPECIAL_TOKENS}
        for value in [v for v in raw.values() if v is not None] + additional:
            if _content(value) and _content(value) not in present:
                backend.add_tokens([_added_token(value)])
                present.add(_content(value))  # type: ignore[arg-type]
        if config.get("split_special_tokens"):
            backend.encode_special_tokens = True
        backend.no_truncation()  # transformers' encode neither truncates nor pads unless asked
        backend.no_padding()
        return cls(backend, folder, special, additional, _chat_template(folder, config))

    # --- the special tokens -----------------------------------------------------------------------------

    def _id(self, token: str | None) -> int | None:
        return self.convert_tokens_to_ids(token)

    def _set(self, key: str, value: Any) -> None:
        self._special[key] = _content(value) if value is not None else None

    bos_token = property(lambda self: self._special["bos_token"], lambda self, v: self._set("bos_token", v))
    eos_token = property(lambda self: self._special["eos_token"], lambda self, v: self._set("eos_token", v))
    unk_token = property(lambda self: self._special["unk_token"], lambda self, v: self._set("unk_token", v))
    sep_token = property(lambda self: self._special["sep_token"], lambda self, v: self._set("sep_token", v))
    pad_token = property(lambda self: self._special["pad_token"], lambda self, v: self._set("pad_token", v))
    cls_token = property(lambda self: self._special["cls_token"], lambda self, v: self._set("cls_token", v))
    mask_token = property(lambda self: self._special["mask_token"], lambda self, v: self._set("mask_token", v))
    bos_token_id = property(lambda self: self._id(self._special["bos_token"]))
    eos_token_id = property(lambda self: self._id(self._special["eos_token"]))
    unk_token_id = property(lambda self: self._id(self._special["unk_token"]))
    pad_token_id = property(lambda self: self._id(self._special["pad_token"]))

    @property
    def additional_special_tokens(self) -> list[str]:
        return list(self._additional)

    @property
    def special_tokens_map(self) -> dict[str, Any]:
        found: dict[str, Any] = {k: v for k, v in self._special.items() if v is not None}
        if self._additional:
            found["additional_special_tokens"] = list(self._additional)
        return found

    @property
    def all_special_tokens(self) -> list[str]:
        """The named special tokens, then the additional ones, each once (transformers' order)."""
        return list(dict.fromkeys([t for t in self._special.values() if t is not None] + self._additional))

    @property
    def all_special_ids(self) -> list[int | None]:
        return [self.convert_tokens_to_ids(t) for t in self.all_special_tokens]

    def add_tokens(self, new_tokens: Any, special_tokens: bool = False) -> int:
        tokens = new_tokens if isinstance(new_tokens, (list, tuple)) else [new_tokens]
        if special_tokens:
            from tokenizers import AddedToken

            return self.backend_tokenizer.add_special_tokens(
                [AddedToken(t, rstrip=False, lstrip=False, normalized=False, special=True) if isinstance(t, str) else t
                 for t in tokens])
        return self.backend_tokenizer.add_tokens(list(tokens))

    def add_special_tokens(self, special_tokens_dict: dict[str, Any], replace_additional_special_tokens: bool = True
                           ) -> int:
        """transformers' ``add_special_tokens``: set the named tokens, extend (or replace) the additional ones, and
        add each to the vocabulary as a special token (the ids of tokens already there stay)."""
        to_add: list[Any] = []
        for key, value in special_tokens_dict.items():
            if key in ("additional_special_tokens", "extra_special_tokens"):
                values = [v for v in value if replace_additional_special_tokens or str(v) not in self._additional]
                if replace_additional_special_tokens and values:
                    self._additional = [str(v) for v in values]
                else:
                    self._additional += [str(v) for v in values]
                to_add += values
            elif key in SPECIAL_TOKENS:
                self._set(key, value if isinstance(value, str) else str(value))
                to_add.append(value)
            else:
                raise ValueError(f"Key {key} is not a special token")
        return self.add_tokens(to_add, special_tokens=True)

    # --- encoding ---------------------------------------------------------------------------------------

    def encode(self, text: str, add_special_tokens: bool = True, **kwargs: Any) -> list[int]:
        if kwargs:
            raise TypeError(f"FastTokenizer.encode: unsupported arguments {sorted(kwargs)}")
        return self.backend_tokenizer.encode(text, add_special_tokens=add_special_tokens).ids

    def __call__(self, texts: str | list[str], add_special_tokens: bool = True) -> dict[str, Any]:
        if isinstance(texts, str):
            return {"input_ids": self.encode(texts, add_special_tokens)}
        return {"input_ids": [e.ids for e in self.backend_tokenizer.encode_batch(texts, add_special_tokens=add_special_tokens)]}

    def convert_tokens_to_ids(self, tokens: Any) -> Any:
        if tokens is None:
            return None
        if isinstance(tokens, str):
            found = self.backend_tokenizer.token_to_id(tokens)
            return found if found is not None else self.unk_token_id
        return [self.convert_tokens_to_ids(t) for t in tokens]

    def convert_ids_to_tokens(self, ids: int | Iterable[int]) -> Any:
        if isinstance(ids, int):
            return self.backend_tokenizer.id_to_token(ids)
        return [self.backend_tokenizer.id_to_token(i) for i in ids]

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        return self.backend_tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def __len__(self) -> int:
        return self.backend_tokenizer.get_vocab_size(with_added_tokens=True)

    def apply_chat_template(self, conversation: list[dict[str, Any]], tokenize: bool = True,
                            add_generation_prompt: bool = False, **kwargs: Any) -> str:
        """The chat template rendered as transformers renders it (text only)."""
        if tokenize:
            raise NotImplementedError("FastTokenizer.apply_chat_template renders text only (tokenize=False)")
        template = self.chat_template
        if isinstance(template, dict):
            template = template.get("default")
        if not isinstance(template, str):
            raise ValueError("the tokenizer has no chat template")
        return _render_chat_template(template, conversation, add_generation_prompt,
                                     {k: v for k, v in self._special.items() if v is not None}, kwargs)

    def __repr__(self) -> str:
        return f"FastTokenizer({self.name_or_path!r}, vocab={len(self)})"


def _chat_template(folder: str, config: dict[str, Any]) -> Any:
    """The chat template transformers would find: chat_template.jinja, chat_template.json, the config's."""
    try:
        with open(os.path.join(folder, "chat_template.jinja"), encoding="utf-8") as f:
            return f.read()
    except OSError:
        pass
    template = _read_json(os.path.join(folder, "chat_template.json")).get("chat_template") or config.get("chat_template")
    if isinstance(template, list):  # named templates
        return {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
    return template


def _render_chat_template(template: str, messages: list[dict[str, Any]], add_generation_prompt: bool,
                          special: dict[str, str], extra: dict[str, Any]) -> str:
    """transformers' chat-template environment: a sandbox with trim_blocks, lstrip_blocks, loop controls, tojson,
    raise_exception and strftime_now."""
    from datetime import datetime

    import jinja2
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x: Any, ensure_ascii: bool = False, indent: Any = None, separators: Any = None,
               sort_keys: bool = False) -> str:
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(template).render(messages=messages, add_generation_prompt=add_generation_prompt,
                                            **{**special, **extra})


def load_counting_tokenizer(model: str, trust_remote_code: bool = False) -> Any:
    """The tokenizer to count tokens with: a :class:`FastTokenizer` where the folder allows it (see the module
    docstring), else transformers' AutoTokenizer (:func:`load_tokenizer`)."""
    refuse_remote_code(model, trust_remote_code, tokenizer_only=True)
    # trust_remote_code changes nothing for a folder that maps no class to code of its own (LLaMA-Factory's example
    # YAMLs set it for every model)
    own_code = trust_remote_code and (not os.path.isdir(model) or remote_code(model, tokenizer_only=True) is not None)
    if not own_code and os.environ.get("PREFKIT_TOKENIZER") != "transformers":
        try:
            fast = FastTokenizer.from_folder(model)
        except Exception:  # no tokenizers, or a file it cannot read: transformers says what is wrong
            fast = None
        if fast is not None:
            return fast
    return load_tokenizer(model, trust_remote_code)
