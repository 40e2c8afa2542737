"""The LLaMA-Factory v0 target (``dataset_info.json``; sharegpt, alpaca and KTO layouts): what its loader keeps
(:mod:`prefkit.checks.acceptance`), and exact token lengths of pairs and KTO examples as its pairwise and feedback
processors build them.

LLaMA-Factory encodes each pair with its template's ``encode_oneturn`` (prompt + chosen, prompt +
rejected; a KTO example: prompt + its one answer), appends eos for ``efficient_eos`` templates, and
truncates with ``infer_seqlen``. prefkit renders the same ids, but through a tokenizer proxy whose ``encode``
returns the text itself as a placeholder; the distinct texts of a batch are then encoded once, together, by the
fast tokenizer (on all cores), and lengths and kept ids are read through the placeholders. Same ids, a fraction
of the work.

The renderer is :class:`prefkit.targets.lf_render.FastTemplate` where the installed LLaMA-Factory is a release
prefkit ships template descriptions for and the template's class is one it replicates (no LLaMA-Factory or
transformers import: the tokenizer is read with ``tokenizers`` alone, :func:`prefkit.targets.tokens.
load_counting_tokenizer`), else LLaMA-Factory's own template code (:mod:`prefkit.targets.lf_template`). Either
way the prompt is rendered once per row and each answer as the message after it, which is what
``encode_oneturn`` concatenates.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..checks.acceptance import Aligned, Attr, LoaderFailure, align
from ..checks.reasoning import Thinking, row_findings
from ..checks.schema import row_schema
from ..errors import UsageError
from ..images.checks import IMAGE_PLACEHOLDER, STOPS_RUN, RowImages, RowLayout, check_row_images
from ..images.files import ImageProber
from ..images.tokens import (LF_IMAGE_MAX_PIXELS, LF_IMAGE_MIN_PIXELS, ImagePlugin, ImageTokenError, RowImageTokens,
                             first_cut_image, image_plugin, marker_ids, spans_from_markers)
from ..registry.info import detect_entry
from ..registry.lint import check_entry
from . import lf_render, lf_template
from .base import Counter, PairCounts, Parsed, RowCheck, Target, TokenOptions
from .lf_template import LlamaFactoryTemplates
from .tokens import DeferringTokenizer, load_counting_tokenizer


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
class PairLengths(PairCounts):
    """One pair as LLaMA-Factory's pairwise processor builds it (identical: in LLaMA-Factory's kept ids); the
    lengths include the image tokens of a row with images (``images``)."""

    images: RowImageTokens | None = None

    @property
    def total(self) -> int:
        """The cutoff_len that keeps this pair whole."""
        return self.prompt + max(self.chosen, self.rejected)

    @property
    def truncated(self) -> bool:
        return (self.prompt_kept, self.chosen_kept, self.rejected_kept) != (self.prompt, self.chosen, self.rejected)

    def to_json(self, index: int) -> dict[str, Any]:
        return {"index": index, "prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected,
                "prompt_kept": self.prompt_kept, "chosen_kept": self.chosen_kept, "rejected_kept": self.rejected_kept,
                **(self.images.to_json() if self.images else {})}

    drop = None  # LLaMA-Factory cuts, never drops, at cutoff_len

    def problems(self) -> list[tuple[str, str, str, str]]:
        """image_tokens_cut; what the cut does otherwise is counted over the whole file (validate's summary)."""
        return _image_problems(self)


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
    images: RowImageTokens | None = None  # a row with images: its image tokens (in the lengths above)

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
                "prompt_kept": self.prompt_kept, "answer_kept": self.answer_kept,
                **(self.images.to_json() if self.images else {})}

    drop = None

    def problems(self) -> list[tuple[str, str, str, str]]:
        return _image_problems(self)


def _image_problems(lengths: PairLengths | KtoLengths) -> list[tuple[str, str, str, str]]:
    return [lengths.images.finding] if lengths.images and lengths.images.finding else []


def lf_templates() -> LlamaFactoryTemplates:
    try:
        return lf_template.load()
    except ImportError as error:
        raise UsageError(f"token checks need LLaMA-Factory ({error}): pip install 'prefkit[train]'") from None


def default_template(model: str) -> str | None:
    """LLaMA-Factory's default template for a model it knows (by hub name or folder name), else None. Read from
    the shipped copy of its model table when the installed constants are the shipped ones (no import)."""
    models = lf_render.shipped_models()
    if models is None:
        lf = lf_templates()
        models = [[name, [str(p) for p in sources.values()], lf.default_template.get(name)]
                  for name, sources in lf.supported_models.items()]
    wanted = model.rstrip("/").lower()
    for name, sources, template in models:
        paths = {str(p).lower() for p in sources}
        if wanted in paths or name.lower() == os.path.basename(wanted) or any(
                os.path.basename(p) == os.path.basename(wanted) for p in paths):
            return template or None
    return None


class TokenCounter:
    """Exact pairwise and KTO lengths for one tokenizer, template and cutoff_len.

    ``render`` says which renderer counts: "prefkit" (:class:`~prefkit.targets.lf_render.FastTemplate`, from the
    shipped description of the installed LLaMA-Factory's template) or "llamafactory" (its own template code).

    ``images``: the dataset has an images column; rows with images are then measured with their image tokens as the
    template's multimodal plugin writes them (:attr:`images`: the Qwen2-VL plugin, or None where prefkit does not
    count this template's images, which :meth:`notes` says). A row measures as :class:`Pictured`: each ``<image>``
    rendered as the plugin's start and end markers only (added special tokens split the text, so these are the
    plugin's ids without the image tokens), the image tokens added to the lengths, and their places found only for
    a row that truncation cuts."""

    images: ImagePlugin | None = None
    image_refusal: str | None = None  # the template has no image plugin: why LLaMA-Factory stops on images
    _image_notes: list[tuple[str, str, str]] = []  # replaced, never changed in place
    _marker_ids: list[int] | None = None  # the ids of the plugin's markers (Qwen-VL: start, image token, end)
    thinking: Thinking = Thinking(None)  # the template's thought handling (set in __init__)

    def __init__(self, model: str, template: str, cutoff_len: int, trust_remote_code: bool = False,
                 kto: bool = False, images: bool = False, image_max_pixels: int = LF_IMAGE_MAX_PIXELS,
                 image_min_pixels: int = LF_IMAGE_MIN_PIXELS, enable_thinking: bool | None = True,
                 preserve_thinking: bool = False) -> None:
        self.kto = kto  # measure() counts KTO examples
        tokenizer = load_counting_tokenizer(model, trust_remote_code)
        self.template_source = "given"
        if template == "auto":
            found = default_template(model)
            if not found:
                raise UsageError(f"--template auto: LLaMA-Factory has no default template for {model!r}; "
                                 "pass --template NAME")
            template, self.template_source = found, f"auto: LLaMA-Factory's default for {model}"
        self.template_name = template
        fast = lf_render.fast_template(template, enable_thinking, preserve_thinking)
        if fast is not None:
            fast.fix_tokenizer(tokenizer)
            self.template: Any = fast
            self.render = "prefkit"
        else:
            lf = lf_templates()
            if template not in lf.templates:
                known = ", ".join(sorted(lf.templates)[:12])
                raise UsageError(f"unknown template {template!r}; LLaMA-Factory knows e.g. {known}, ...")
            thinking = {"enable_thinking": enable_thinking, "preserve_thinking": preserve_thinking}
            known = {f.name for f in dataclasses.fields(lf.data_arguments)}
            self.template = lf.get_template_and_fix_tokenizer(tokenizer, lf.data_arguments(
                template=template, cutoff_len=cutoff_len, **{k: v for k, v in thinking.items() if k in known}))
            self.render = "llamafactory"
        self.thinking = Thinking.of(self.template, template, enable_thinking, preserve_thinking, template_names(),
                                    llamafactory_version())
        self.tokenizer = tokenizer
        self.cutoff_len = cutoff_len
        self._proxy = DeferringTokenizer(tokenizer)
        if images:
            self._image_setup(model, image_max_pixels, image_min_pixels)

    def _image_setup(self, model: str, image_max_pixels: int, image_min_pixels: int) -> None:
        try:
            plugin, self._image_notes = image_plugin(self.template_name, model, image_max_pixels, image_min_pixels)
        except ImageTokenError as error:
            raise UsageError(str(error)) from None
        refused = [message for code, _, message in self._image_notes if code == "images_unsupported"]
        if refused:  # an error at each row with images (parse), not once
            self.image_refusal, self._image_notes = refused[0], []
        ids = marker_ids(self.tokenizer, plugin.markers) if plugin else None
        if plugin and ids is None:
            self._image_notes.append(("image_tokens_not_counted", "warning", f"image tokens are not counted: the "
                                      f"tokenizer of {model} has no {', '.join(plugin.markers)} tokens (not a "
                                      f"{self.template_name} model's tokenizer?); lengths below leave the images out"))
            plugin = None
        self.images, self._marker_ids = plugin, ids

    def _render(self, row: Aligned, kto: bool) -> Any:
        """A pair's (prompt, chosen, rejected) sequences; a KTO example's (prompt, answer, desirable)."""
        if not kto:
            return self._encode(row)
        desirable = bool(row.response[0]["content"])
        prompt_ids, (answer_ids,) = self._encode_answers(row, [row.response[0 if desirable else 1]])
        return prompt_ids, answer_ids, desirable

    def _encode_turn(self, row: Aligned, answer: dict[str, str]) -> tuple[list[Any], list[Any]]:
        """Prompt and answer ids of prompt + ``answer`` as both processors build them (``encode_oneturn``, then
        eos for ``efficient_eos`` templates), with placeholders for the texts."""
        prompt_ids, answer_ids = self.template.encode_oneturn(self._proxy, row.prompt + [answer], row.system, row.tools)
        if self.template.efficient_eos:
            answer_ids = answer_ids + [self.tokenizer.eos_token_id]
        return prompt_ids, answer_ids

    def _encode_answers(self, row: Aligned, answers: list[dict[str, str]]) -> tuple[list[Any], list[list[Any]]]:
        """The prompt's ids and each answer's, as ``encode_oneturn`` on prompt + answer gives them (plus eos for
        ``efficient_eos`` templates); the prompt is the first answer's (pairwise.py keeps the chosen one's). On the
        fast path the prompt is rendered once: the messages before the last never depend on the answer."""
        if self.render != "prefkit":
            encoded = [self._encode_turn(row, answer) for answer in answers]
            return encoded[0][0], [answer_ids for _, answer_ids in encoded]
        template, proxy, at = self.template, self._proxy, len(row.prompt)
        prompt_ids = template.encode_prompt(proxy, row.prompt, row.system, row.tools)
        eos = [self.tokenizer.eos_token_id] if template.efficient_eos else []
        encoded = [template.encode_answer(proxy, at, answer, row.system, row.tools) for answer in answers]
        return prompt_ids + encoded[0][0], [answer_ids + eos for _, answer_ids in encoded]

    def _encode(self, pair: Aligned) -> tuple[list[Any], list[Any], list[Any]]:
        """LLaMA-Factory's pairwise encoding (pairwise.py)."""
        prompt_ids, (chosen_ids, rejected_ids) = self._encode_answers(pair, [pair.response[0], pair.response[1]])
        return prompt_ids, chosen_ids, rejected_ids

    limit_name = "cutoff_len"

    def limits(self) -> dict[str, Any]:
        return {"model": self.tokenizer.name_or_path, "template": self.template_name,
                "template_source": self.template_source, "cutoff_len": self.cutoff_len,
                **self.thinking.describe(), **(self.images.describe() if self.images else {})}

    def notes(self) -> list[tuple[str, str, str]]:
        """How images are counted (or why not), and a warning when the tokenizer's own chat template does not use
        the template's user marker."""
        return [*self._image_notes, *self._template_notes(), *self.thinking.notes()]

    def _template_notes(self) -> list[tuple[str, str, str]]:
        tokenizer = self.tokenizer
        if not getattr(tokenizer, "chat_template", None):
            return []
        probe = "PREFKIT_PROBE"
        user = "".join(e for e in self.template.format_user.apply(content=probe, idx="0") if isinstance(e, str))
        marker = user.split(probe)[0].strip()
        try:
            rendered = tokenizer.apply_chat_template([{"role": "user", "content": probe}], tokenize=False,
                                                     add_generation_prompt=True)
        except Exception:  # a template that cannot render a plain user turn says nothing about markers
            return []
        if marker and marker not in rendered:
            return [("template_mismatch", "warning", f"template {self.template_name!r} marks a user turn with "
                     f"{marker!r}, which the tokenizer's own chat template does not use: check --template")]
        return []

    def measure(self, rows: list[Any]) -> list[Any]:
        """Lengths of a batch of aligned rows, pairs or KTO examples (a few thousand at a time); None for an
        :class:`Unmeasured` row."""
        keep = [i for i, row in enumerate(rows) if not isinstance(row, Unmeasured)]
        kept = [rows[i] for i in keep]
        measured = self.measure_kto(kept) if self.kto else self.measure_pairs(kept)
        out: list[Any] = [None] * len(rows)
        for i, lengths in zip(keep, measured, strict=True):
            out[i] = lengths
        return out

    def measure_pairs(self, pairs: list[Aligned | Pictured]) -> list[PairLengths]:
        """Lengths of a batch of aligned pairwise rows."""
        proxy = self._proxy
        rows, pictures = _unwrap(pairs)
        encoded = [self._render(row, kto=False) for row in rows]
        proxy.resolve([seq for triple in encoded for seq in triple])
        out = []
        for seqs, pictured in zip(encoded, pictures):
            counts = pictured.counts if pictured else ((), (), ())
            prompt, chosen, rejected = (proxy.length(seq) + self._extra(n) for seq, n in zip(seqs, counts))
            source, target = infer_seqlen(prompt, max(chosen, rejected), self.cutoff_len)
            if counts[1] or counts[2]:  # images in the answers (image_in_answer): compare the ids with their tokens
                same = self._expanded(seqs[1], counts[1])[:target] == self._expanded(seqs[2], counts[2])[:target]
            elif target < max(chosen, rejected):  # truncated: compare the ids that are kept
                same = proxy.same(seqs[1], seqs[2], target)
            else:  # whole: identical only if all ids are (NFC can make different texts tokenize the same)
                same = chosen == rejected and proxy.same(seqs[1], seqs[2])
            lengths = PairLengths(prompt, chosen, rejected, source, min(target, chosen), min(target, rejected), same)
            if pictured:
                lengths.images = self._placed(pictured, seqs, counts, (lengths.prompt_kept, lengths.chosen_kept,
                                                                       lengths.rejected_kept), lengths.total)
            out.append(lengths)
        proxy.release()
        return out

    def measure_kto(self, examples: list[Aligned | Pictured]) -> list[KtoLengths]:
        """Lengths of a batch of aligned KTO rows (feedback.py: the answer is ``response[0]`` when its content
        is not empty, a desirable example, else ``response[1]``, an undesirable one)."""
        proxy = self._proxy
        rows, pictures = _unwrap(examples)
        encoded = [self._render(row, kto=True) for row in rows]
        proxy.resolve([seq for prompt_seq, answer_seq, _ in encoded for seq in (prompt_seq, answer_seq)])
        out = []
        for (prompt_seq, answer_seq, desirable), pictured in zip(encoded, pictures):
            counts = (pictured.counts[0], pictured.counts[1 if desirable else 2]) if pictured else ((), ())
            prompt, answer = proxy.length(prompt_seq) + self._extra(counts[0]), proxy.length(answer_seq) + self._extra(counts[1])
            lengths = KtoLengths(prompt, answer, *infer_seqlen(prompt, answer, self.cutoff_len), desirable)
            if pictured:
                lengths.images = self._placed(pictured, (prompt_seq, answer_seq), counts,
                                              (lengths.prompt_kept, lengths.answer_kept), lengths.total)
            out.append(lengths)
        proxy.release()
        return out

    def _extra(self, counts: Sequence[int]) -> int:
        """The tokens a sequence's images add to its compact rendering."""
        return sum(counts) - (self.images.compact_tokens * len(counts) if self.images else 0)

    def _starts(self, ids: list[int]) -> list[int]:
        """Where the compact rendering's images sit (the plugin says how they look)."""
        return self.images.starts(ids, self._marker_ids)  # type: ignore[union-attr,arg-type]

    def _expanded(self, seq: list[Any], counts: Sequence[int]) -> list[int]:
        """A compact sequence's ids with each image's tokens put back after its start marker (as LLaMA-Factory's)."""
        ids = self._proxy.expand(seq)
        plugin = self.images
        pad = self._marker_ids[plugin.pad_index]  # type: ignore[index,union-attr]
        for start, count in reversed(list(zip(self._starts(ids), counts))):
            ids[start + 1:start + 1] = [pad] * (count - plugin.compact_tokens)  # type: ignore[union-attr]
        return ids

    def _placed(self, pictured: Pictured, seqs: Sequence[list[Any]], counts: Sequence[tuple[int, ...]],
                kept: Sequence[int], needed: int) -> RowImageTokens:
        """The row's images, with the first image that truncation cuts (image_tokens_cut): the image tokens of each
        sequence that is cut are placed after their start markers (spans_from_markers) and compared with what is
        kept. The prompt holds the first images; an answer holds the ones after them (image_in_answer)."""
        images = replace(pictured.images)
        names = ("prompt", "chosen answer" if len(seqs) == 3 else "answer", "rejected answer")
        for name, seq, seq_counts, seq_kept in zip(names, seqs, counts, kept):
            if not seq_counts or seq_kept >= self._proxy.length(seq) + self._extra(seq_counts):
                continue
            starts = self._starts(self._proxy.expand(seq))
            if len(starts) != len(seq_counts):
                continue  # the text itself holds the markers (special_token_in_text says so): no place to tell
            spans = spans_from_markers(starts, seq_counts, self.images.compact_tokens)  # type: ignore[union-attr]
            cut = first_cut_image(spans, seq_kept)
            if cut is not None:
                first = 0 if name == "prompt" else len(counts[0])  # an answer's images come after the prompt's
                images.cut_at((first + cut, name, seq_kept, *spans[cut]), self.limit_name, self.cutoff_len, needed)
                break
        return images


@dataclass(slots=True)
class Pictured:
    """A row with images as the counter measures it: the aligned row with each placeholder rendered compact (the
    plugin's start and end markers), and the image tokens of the prompt's images and of each answer's."""

    row: Aligned
    images: RowImageTokens
    counts: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]  # prompt, response[0], response[1]


@dataclass(frozen=True, slots=True)
class Unmeasured:
    """A row whose images stop LLaMA-Factory's run (missing, unreadable, placeholders and images differ in number):
    it has no lengths to measure."""

    code: str  # the image finding


def _unwrap(rows: Sequence[Aligned | Pictured]) -> tuple[list[Aligned], list[Pictured | None]]:
    return ([r.row if isinstance(r, Pictured) else r for r in rows],
            [r if isinstance(r, Pictured) else None for r in rows])


# --- the target ------------------------------------------------------------------------------------


def image_checker(entry: dict[str, Any], media_dir: str | None) -> Callable[[dict[str, Any]], RowImages] | None:
    """The image checks of an entry with an images column (prefkit.images): files found and readable, and the
    ``<image>`` placeholders LLaMA-Factory counts; None for an entry without images."""
    layout = RowLayout.from_entry(entry)
    if layout is None:
        return None
    prober = ImageProber()  # one per process: an image shared by many rows is opened once
    return lambda data: check_row_images(data, layout, media_dir, prober)


def with_images(aligned: Aligned, checked: RowImages, plugin: ImagePlugin, result: RowCheck, kto: bool
                ) -> Aligned | Pictured | Unmeasured:
    """What the counter measures of a row with an images column: the row itself when it has no image and no
    placeholder, :class:`Pictured` with its image tokens, or :class:`Unmeasured` when its images stop the run (an
    ``image_unreadable`` finding goes to ``result`` for a size the plugin cannot resize, an ``image_count_mismatch``
    for a KTO example whose placeholders and images differ: pairs have theirs from check_row_images)."""
    contents = [m.get("content") for m in aligned.prompt]
    answers = [m.get("content") for m in aligned.response[:2]]
    in_prompt = sum(c.count(IMAGE_PLACEHOLDER) for c in contents if isinstance(c, str))
    in_answers = [c.count(IMAGE_PLACEHOLDER) if isinstance(c, str) else 0 for c in answers]
    if not checked.refs and not in_prompt and not any(in_answers):
        return aligned
    counts, findings = plugin.counts(checked)
    for finding in findings:
        result.add(*finding)
    used = [in_answers[0 if answers[0] else 1]] if kto and len(answers) == 2 else in_answers
    if kto and any(in_prompt + n != len(counts) for n in used):
        result.add("image_count_mismatch", "error", checked.column, f"{len(counts)} image(s) but {in_prompt + used[0]} "
                   f"{IMAGE_PLACEHOLDER} placeholder(s) in the prompt and answer: LLaMA-Factory stops the whole run "
                   "(mm_plugin._validate_messages)")
    stop = next((f.code for f in result.findings if f.code in STOPS_RUN), None)
    if stop is not None or None in counts or any(in_prompt + n != len(counts) for n in used):
        return Unmeasured(stop or "image_count_mismatch")
    marker = plugin.compact_marker
    compact = replace(aligned, prompt=_compact(aligned.prompt, marker), response=_compact(aligned.response, marker))
    sizes = tuple(s for s in checked.sizes if s is not None)
    images = RowImageTokens(tuple(r.path for r in checked.refs), tuple(r.ref for r in checked.refs), sizes,
                            tuple(counts))  # type: ignore[arg-type]
    prompt_counts = tuple(counts[:in_prompt])  # type: ignore[arg-type]
    answer_counts = tuple(tuple(counts[in_prompt:in_prompt + n]) for n in in_answers + [0] * (2 - len(in_answers)))
    return Pictured(compact, images, (prompt_counts, *answer_counts))  # type: ignore[arg-type]


def _compact(messages: list[dict[str, Any]], marker: str) -> list[dict[str, Any]]:
    return [{**m, "content": m["content"].replace(IMAGE_PLACEHOLDER, marker)} if isinstance(m.get("content"), str)
            else m for m in messages]


def _no_kl_answer(response: list[dict[str, Any]]) -> bool:
    """feedback.py reads a KL answer as ``response[0]`` when its content is not empty, else ``response[1]``:
    an IndexError for a row the converter left without one (broken messages, no answer)."""
    return not response or (not response[0]["content"] and len(response) < 2)


def template_thinking(template: str) -> Thinking:
    """A named template's thought handling with the default data arguments, for a run without a model (the
    reasoning checks that need no tokenizer); unknown for ``auto`` or where LLaMA-Factory's own code renders it."""
    if template != "auto":
        try:
            fast = lf_render.fast_template(template)
        except UsageError:
            fast = None
        if fast is not None:
            return Thinking.of(fast, template, True, False, template_names(), llamafactory_version())
    return Thinking(None)


def template_names() -> Sequence[str]:
    """The installed release's template names (for a ``_nothink`` twin)."""
    release = lf_render.shipped_release(lf_render.installed_root())
    return list(release["templates"]) if release is not None else list(lf_templates().templates)


def llamafactory_version() -> str:
    try:
        return importlib.metadata.version("llamafactory")
    except importlib.metadata.PackageNotFoundError:
        return ""


class LlamaFactory(Target):
    """LLaMA-Factory v0: ``dataset_info.json`` entries, its converters' and processors' rules, its templates."""

    name = "lf"
    trainer = "LLaMA-Factory"
    layouts = ("sharegpt", "alpaca", "kto")
    registry = "v0"
    size_key = "num_samples"
    catch_all = True
    options = ("image_max_pixels", "image_min_pixels", "enable_thinking", "preserve_thinking")

    def owns(self, entry: dict[str, Any]) -> bool:
        return not ("path" in entry and "file_name" not in entry)

    def fits(self, record: dict[str, Any]) -> bool:
        return True  # the catch-all: file_entry says what is missing when the rows fit no layout

    def detect(self, path: str) -> bool:
        return True  # an empty file too

    def file_entry(self, path: str, layout: str | None) -> dict[str, Any]:
        return detect_entry(path, os.path.dirname(os.path.abspath(path)), layout)

    def stage(self, entry: dict[str, Any]) -> str:
        return Attr.from_entry(entry).stage

    def check_entry(self, dataset_dir: str, entry: dict[str, Any]) -> list[str]:
        return check_entry(dataset_dir, entry)

    def entry_file(self, dataset_dir: str, name: str, entry: dict[str, Any]) -> str:
        if "file_name" not in entry:
            raise UsageError(f"{name}: the entry points to a hub or script; validate reads local files")
        return os.path.join(dataset_dir, entry["file_name"])

    def counter(self, options: TokenOptions, entry: dict[str, Any]) -> Counter:
        return TokenCounter(options.model, options.template, options.cutoff_len, options.trust_remote_code,
                            kto=self.stage(entry) == "kto", images=RowLayout.from_entry(entry) is not None,
                            image_max_pixels=options.image_max_pixels, image_min_pixels=options.image_min_pixels,
                            enable_thinking=options.enable_thinking, preserve_thinking=options.preserve_thinking)

    def parser(self, entry: dict[str, Any], counter: Counter | None, template: str = "auto",  # type: ignore[no-untyped-def]
               media_dir: str | None = None):
        attr = Attr.from_entry(entry)
        schema = row_schema(attr)
        kto = attr.stage == "kto"
        images = image_checker(entry, media_dir)
        plugin = getattr(counter, "images", None)  # with a model: how the template's plugin counts image tokens
        thinking = getattr(counter, "thinking", None) or template_thinking(template)
        refusal = getattr(counter, "image_refusal", None)  # with a model: its template takes no image

        def parse(data: dict[str, Any], result: RowCheck) -> Parsed | str:
            if schema is not None:
                for where, message in schema.errors(data):
                    result.add("schema", "error", where, message)
            checked = images(data) if images is not None else None
            for finding in checked.findings if checked else ():
                result.add(*finding)
            if checked is not None and checked.refs and refusal:
                result.add("images_unsupported", "error", checked.column, refusal)
            try:
                aligned = align(data, attr)
            except LoaderFailure as failure:
                result.add("breaks_loader", "error", failure.path,
                           f"{failure}: LLaMA-Factory's converter raises on this row and the run fails")
                return "breaks_loader"
            for code, where, message in aligned.warnings:
                result.add(code, "warning", where, message)
            if aligned.drop:
                result.dropped(aligned.drop, aligned.drop_path, aligned.drop_message)
                if kto and _no_kl_answer(aligned.response):
                    result.add("breaks_loader", "error", aligned.drop_path,
                               "LLaMA-Factory's KTO processor gives each example the previous record's answer for its "
                               "KL term, and this record has none: the next record raises IndexError and the run fails "
                               "(unless that one is dropped too)")
                return aligned.drop
            result.thoughts = row_findings(aligned, thinking, kto, result.add)
            if checked is not None and plugin is not None:
                return Parsed(aligned, with_images(aligned, checked, plugin, result, kto))
            return Parsed(aligned, aligned)

        return parse
