"""Exact token lengths of preference pairs and KTO examples, as LLaMA-Factory's pairwise and feedback
processors build them.

LLaMA-Factory encodes each pair with its template's ``encode_oneturn`` (prompt + chosen, prompt +
rejected; a KTO example: prompt + its one answer), appends eos for ``efficient_eos`` templates, and
truncates with ``infer_seqlen``. prefkit runs
the same template code, but through a tokenizer proxy whose ``encode`` returns the text itself as a
placeholder; the distinct texts of a batch are then encoded once, together, by the fast tokenizer (on all
cores), and lengths and kept ids are read through the placeholders. Same ids, a fraction of the work.
"""

from __future__ import annotations

import json
import os
import sys
from array import array
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from . import lf_template
from .acceptance import Aligned
from .lf_template import LlamaFactoryTemplates

BATCH = 2048  # pairs per encoding batch
CACHE_CHARS = 8_000_000  # encoded texts kept across batches (repeated system prompts, answers); ~25 MB


def infer_seqlen(source_len: int, target_len: int, cutoff_len: int) -> tuple[int, int]:
    """LLaMA-Factory's truncation rule (data/processor/processor_utils.py), identical in 0.9.3-0.9.5."""
    if target_len * 2 < cutoff_len:
        max_target_len = cutoff_len
    elif source_len * 2 < cutoff_len:
        max_target_len = cutoff_len - source_len
    else:
        max_target_len = int(cutoff_len * (target_len / (source_len + target_len)))
    new_target_len = min(max_target_len, target_len)
    new_source_len = min(max(cutoff_len - new_target_len, 0), source_len)
    return new_source_len, new_target_len


@dataclass(slots=True)
class PairLengths:
    prompt: int
    chosen: int
    rejected: int
    prompt_kept: int
    chosen_kept: int
    rejected_kept: int
    identical_after_truncation: bool  # the kept ids of chosen and rejected are equal (LLaMA-Factory's view)

    @property
    def total(self) -> int:
        """The cutoff_len that keeps this pair whole."""
        return self.prompt + max(self.chosen, self.rejected)

    @property
    def truncated(self) -> bool:
        return (self.prompt_kept, self.chosen_kept, self.rejected_kept) != (self.prompt, self.chosen, self.rejected)

    @property
    def became_identical(self) -> bool:
        """Different answers that truncation made identical: the pair carries no signal any more."""
        return self.identical_after_truncation and self.truncated

    @property
    def lost_eos(self) -> bool:
        """A response cut short loses its final end-of-turn token: the model never learns to stop there."""
        return self.chosen_kept < self.chosen or self.rejected_kept < self.rejected

    def answers(self) -> list[tuple[str, int, int]]:
        """(side, length, kept) of each answer."""
        return [("chosen", self.chosen, self.chosen_kept), ("rejected", self.rejected, self.rejected_kept)]

    def to_json(self, index: int) -> dict[str, int]:
        return {"index": index, "prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected,
                "prompt_kept": self.prompt_kept, "chosen_kept": self.chosen_kept, "rejected_kept": self.rejected_kept}


@dataclass(slots=True)
class KtoLengths:
    """One KTO example as LLaMA-Factory's feedback processor (data/processor/feedback.py) builds it: the prompt
    and the one answer, desirable (its ``kto_tag``) when the answer is not empty, truncated by ``infer_seqlen``.

    The processor also builds a KL example for each: this prompt with the answer of the record before it in
    the same preprocessing batch (the first record of a batch takes the last one's), truncated on its own by
    the same rule. It is not measured here: which record comes before depends on LLaMA-Factory's batches
    (``preprocessing_batch_size``, ``preprocessing_num_workers``); like the example it never exceeds
    cutoff_len; and the KTO trainer only takes its log-probabilities under ``torch.no_grad`` as the KL
    baseline, so cutting it loses no training target. (The parity test checks that the KL example is
    exactly that: this prompt with the previous record's answer.)"""

    prompt: int
    answer: int
    prompt_kept: int
    answer_kept: int
    desirable: bool

    @property
    def total(self) -> int:
        """The cutoff_len that keeps this example whole."""
        return self.prompt + self.answer

    @property
    def truncated(self) -> bool:
        return (self.prompt_kept, self.answer_kept) != (self.prompt, self.answer)

    @property
    def became_identical(self) -> bool:
        return False  # one answer: nothing to compare

    @property
    def lost_eos(self) -> bool:
        return self.answer_kept < self.answer

    def answers(self) -> list[tuple[str, int, int]]:
        """(side, length, kept) of the answer: desirable counts with chosen, undesirable with rejected."""
        return [("chosen" if self.desirable else "rejected", self.answer, self.answer_kept)]

    def to_json(self, index: int) -> dict[str, Any]:
        return {"index": index, "desirable": self.desirable, "prompt": self.prompt, "answer": self.answer,
                "prompt_kept": self.prompt_kept, "answer_kept": self.answer_kept}


class _DeferringTokenizer:
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


def _llamafactory() -> LlamaFactoryTemplates:
    try:
        return lf_template.load()
    except ImportError as error:
        raise UsageError(f"token checks need LLaMA-Factory ({error}): pip install 'prefkit[train]'") from None


def default_template(model: str) -> str | None:
    """LLaMA-Factory's default template for a model it knows (by hub name or folder name), else None."""
    lf = _llamafactory()
    wanted = model.rstrip("/").lower()
    for name, sources in lf.supported_models.items():
        paths = {str(p).lower() for p in sources.values()}
        if wanted in paths or name.lower() == os.path.basename(wanted) or any(
                os.path.basename(p) == os.path.basename(wanted) for p in paths):
            return lf.default_template.get(name) or None
    return None


class TokenCounter:
    """Exact pairwise and KTO lengths for one tokenizer, template and cutoff_len."""

    def __init__(self, model: str, template: str, cutoff_len: int, trust_remote_code: bool = False) -> None:
        tokenizer = load_tokenizer(model, trust_remote_code)
        lf = _llamafactory()
        self.template_source = "given"
        if template == "auto":
            found = default_template(model)
            if not found:
                raise UsageError(f"--template auto: LLaMA-Factory has no default template for {model!r}; "
                                 "pass --template NAME")
            template, self.template_source = found, f"auto: LLaMA-Factory's default for {model}"
        if template not in lf.templates:
            known = ", ".join(sorted(lf.templates)[:12])
            raise UsageError(f"unknown template {template!r}; LLaMA-Factory knows e.g. {known}, ...")
        self.template_name = template
        self.template = lf.get_template_and_fix_tokenizer(tokenizer, lf.data_arguments(template=template,
                                                                                      cutoff_len=cutoff_len))
        self.tokenizer = tokenizer
        self.cutoff_len = cutoff_len
        self._proxy = _DeferringTokenizer(tokenizer)

    def _encode_turn(self, row: Aligned, answer: dict[str, str]) -> tuple[list[Any], list[Any]]:
        """Prompt and answer ids of prompt + ``answer`` as both processors build them (``encode_oneturn``, then
        eos for ``efficient_eos`` templates), with placeholders for the texts."""
        prompt_ids, answer_ids = self.template.encode_oneturn(self._proxy, row.prompt + [answer], row.system, row.tools)
        if self.template.efficient_eos:
            answer_ids = answer_ids + [self.tokenizer.eos_token_id]
        return prompt_ids, answer_ids

    def _encode(self, pair: Aligned) -> tuple[list[Any], list[Any], list[Any]]:
        """LLaMA-Factory's pairwise encoding (pairwise.py)."""
        prompt_ids, chosen_ids = self._encode_turn(pair, pair.response[0])
        _, rejected_ids = self._encode_turn(pair, pair.response[1])
        return prompt_ids, chosen_ids, rejected_ids

    def measure(self, pairs: list[Aligned]) -> list[PairLengths]:
        """Lengths of a batch of aligned pairwise rows (call with at most a few thousand at a time)."""
        proxy = self._proxy
        encoded = [self._encode(pair) for pair in pairs]
        proxy.resolve([seq for triple in encoded for seq in triple])
        out = []
        for prompt_seq, chosen_seq, rejected_seq in encoded:
            prompt, chosen, rejected = proxy.length(prompt_seq), proxy.length(chosen_seq), proxy.length(rejected_seq)
            source, target = infer_seqlen(prompt, max(chosen, rejected), self.cutoff_len)
            if target < max(chosen, rejected):  # truncated: compare the ids that are kept
                same = proxy.expand(chosen_seq)[:target] == proxy.expand(rejected_seq)[:target]
            else:  # whole: identical only if all ids are (NFC can make different texts tokenize the same)
                same = chosen == rejected and proxy.expand(chosen_seq) == proxy.expand(rejected_seq)
            out.append(PairLengths(prompt, chosen, rejected, source, min(target, chosen), min(target, rejected), same))
        return out

    def measure_kto(self, examples: list[Aligned]) -> list[KtoLengths]:
        """Lengths of a batch of aligned KTO rows (feedback.py: the answer is ``response[0]`` when its content
        is not empty, a desirable example, else ``response[1]``, an undesirable one)."""
        proxy = self._proxy
        encoded = []
        for example in examples:
            desirable = bool(example.response[0]["content"])
            encoded.append((*self._encode_turn(example, example.response[0 if desirable else 1]), desirable))
        proxy.resolve([seq for prompt_seq, answer_seq, _ in encoded for seq in (prompt_seq, answer_seq)])
        out = []
        for prompt_seq, answer_seq, desirable in encoded:
            prompt, answer = proxy.length(prompt_seq), proxy.length(answer_seq)
            out.append(KtoLengths(prompt, answer, *infer_seqlen(prompt, answer, self.cutoff_len), desirable))
        return out
