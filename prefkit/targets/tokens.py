"""Tokenizers for token counting: loading one (and the rule for a model folder's own code), and the deferring
proxy every target renders with.

A target renders a row with its trainer's own code, but through :class:`DeferringTokenizer`, whose ``encode``
returns the text itself as a placeholder; the distinct texts of a batch are then encoded once, together, by the
Rust tokenizer (on all cores), and lengths and kept ids are read through the placeholders. Same ids, a fraction
of the work.
"""

from __future__ import annotations

import json
import os
import sys
from array import array
from typing import Any

from ..errors import UsageError

BATCH = 2048  # pairs per encoding batch
CACHE_CHARS = 8_000_000  # encoded texts kept across batches (repeated system prompts, answers); ~25 MB


class DeferringTokenizer:
    """Stands in for the tokenizer inside LLaMA-Factory's template: ``encode(text)`` returns ``[text]``, a
    placeholder that the template concatenates like any id list. The distinct texts of a batch are then
    encoded once, together, and each placeholder counts as the ids of its text."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self.ids: dict[str, array] = {}
        self._chars = 0

    def encode(self, text: str, add_special_tokens: bool = False, **kwargs: Any) -> list[Any]:
        if add_special_tokens or kwargs:
            return self._tokenizer.encode(text, add_special_tokens=add_special_tokens, **kwargs)
        return [text]

    def resolve(self, sequences: list[list[Any]]) -> None:
        """Encode, in one batch, every placeholder text of these sequences not encoded yet."""
        wanted = {x for seq in sequences for x in seq if isinstance(x, str)}
        texts = [x for x in wanted if x not in self.ids]
        if not texts:
            return
        self._chars += sum(map(len, texts))
        if self._chars > CACHE_CHARS:  # bounded memory: keep only what this batch needs
            self.ids = {k: v for k, v in self.ids.items() if k in wanted}
            self._chars = sum(map(len, self.ids)) + sum(map(len, texts))
        backend = getattr(self._tokenizer, "backend_tokenizer", None) if getattr(self._tokenizer, "is_fast", False) else None
        if backend is not None:  # the Rust tokenizer itself: what transformers calls, without its wrappers
            encoded = [e.ids for e in backend.encode_batch(texts, add_special_tokens=False)]
        else:
            encoded = self._tokenizer(texts, add_special_tokens=False)["input_ids"]
        self.ids.update((text, array("I", ids)) for text, ids in zip(texts, encoded, strict=True))

    def length(self, sequence: list[Any]) -> int:
        ids = self.ids
        return sum(len(ids[x]) if isinstance(x, str) else 1 for x in sequence)

    def expand(self, sequence: list[Any]) -> list[int]:
        out: list[int] = []
        for x in sequence:
            if isinstance(x, str):
                out += self.ids[x]
            else:
                out.append(x)
        return out

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
