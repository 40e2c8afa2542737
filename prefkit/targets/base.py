"""The target interface, and the per-row side of validate that every target shares.

A target parses a row the way its trainer's loader does (:meth:`Target.parse`: what it trains on, or why it
drops or fails on the row) and counts its tokens the way the trainer renders and cuts it (:meth:`Target.counter`:
a :class:`Counter` whose lengths say what a limit keeps and drops). :class:`BlockChecker` runs both on blocks of
rows, with the content and hygiene checks on what the trainer would see; any executor can run it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from ..checks.acceptance import Aligned
from ..checks.content import ContentFacts, RowContent
from ..checks.findings import Finding
from ..errors import unexpected
from ..hygiene import check_aligned
from ..images.checks import RowLayout
from ..images.tokens import LF_IMAGE_MAX_PIXELS, LF_IMAGE_MIN_PIXELS
from ..io.sample import detect, fits, sample
from ..io.sources import Row


@dataclass(frozen=True)
class TokenOptions:
    """What token counting needs: the tokenizer, the template (LLaMA-Factory's; TRL renders with the tokenizer's
    chat template) and the limits (LLaMA-Factory's ``cutoff_len`` is TRL's ``max_length``)."""

    model: str
    cutoff_len: int | None  # None: the trainer's default (TRL's max_length)
    template: str = "auto"
    trust_remote_code: bool = False
    max_prompt_length: int | None = None  # TRL only
    truncation_mode: str | None = None  # TRL only; None: the version's default
    trl_version: str = "auto"  # TRL only: whose rules (0.24, 1), auto: the TRL installed here
    image_max_pixels: int = LF_IMAGE_MAX_PIXELS  # LLaMA-Factory only: its ModelArguments' limits an image is resized to
    image_min_pixels: int = LF_IMAGE_MIN_PIXELS
    enable_thinking: bool | None = True  # LLaMA-Factory only: reasoning templates (None: thoughts kept, empty one masked)
    preserve_thinking: bool = False  # LLaMA-Factory 0.9.5 only: history thoughts kept


class Lengths(Protocol):
    """One row's token counts as its trainer builds it, and what the limit keeps."""

    prompt: int
    prompt_kept: int

    @property
    def total(self) -> int: ...  # the limit that keeps the row whole
    @property
    def truncated(self) -> bool: ...
    @property
    def became_identical(self) -> bool: ...
    @property
    def lost_eos(self) -> bool: ...
    def answers(self) -> list[tuple[str, int, int]]: ...  # (side, length, kept)
    def to_json(self, index: int) -> dict[str, Any]: ...
    def problems(self) -> list[tuple[str, str, str, str]]: ...  # (code, level, path, message) at the limit

    drop: str | None  # the code of the problem for which the trainer leaves the row out


@dataclass(slots=True)
class PairCounts:
    """What the pair lengths of every target share: a prompt and two answers, each kept whole or cut (subclasses add
    their trainer's facts and a ``truncated`` property)."""

    prompt: int
    chosen: int
    rejected: int
    prompt_kept: int
    chosen_kept: int
    rejected_kept: int
    identical_after_truncation: bool  # the kept answers are the same ids
    truncated: ClassVar[bool]  # a property of each subclass

    @property
    def became_identical(self) -> bool:
        """Different answers that truncation made identical: the pair carries no signal any more."""
        return self.identical_after_truncation and self.truncated

    @property
    def lost_eos(self) -> bool:
        """An answer cut short loses its final end-of-turn token: the model never learns to stop there."""
        return self.chosen_kept < self.chosen or self.rejected_kept < self.rejected

    def answers(self) -> list[tuple[str, int, int]]:
        """(side, length, kept) of each answer."""
        return [("chosen", self.chosen, self.chosen_kept), ("rejected", self.rejected, self.rejected_kept)]


class Counter(Protocol):
    """Token counting for one tokenizer, template and limit."""

    tokenizer: Any
    cutoff_len: int  # the limit
    limit_name: str  # its name in the trainer's config: cutoff_len, max_length

    def measure(self, items: list[Any]) -> list[Lengths]: ...  # what parse gave, a batch at a time
    def limits(self) -> dict[str, Any]: ...  # the report's "tokens" header: model, template, cutoff_len, ...
    def notes(self) -> list[tuple[str, str, str]]: ...  # (code, level, message): about the set-up, once


@dataclass(slots=True)
class Parsed:
    """A row the trainer keeps: what the content checks read (prompt, answers, system, tools as LLaMA-Factory's
    converter aligns them), and what the counter measures."""

    aligned: Aligned | None
    measure: Any


@dataclass(slots=True)
class RowCheck:
    """What one row gives, computed from that row alone (so any executor can compute it)."""

    index: int
    outcome: Parsed | str | None  # what to measure and check (None once done, or nothing to measure), or the drop code
    findings: list[Finding] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)  # each column's JSON type (the loader's type check)
    drop: dict[str, Any] | None = None  # the report's would_drop entry
    lengths: Any = None  # exact token lengths (with a model): a Lengths
    content: ContentFacts | None = None  # for the checks across rows (duplicates, contradictions)
    contaminated: tuple[str, ...] = ()  # --decontaminate: the benchmarks whose items the row holds
    near: bytes | None = None  # --near-dedup: the MinHash signature of what the trainer sees (prefkit.hygiene)
    images: tuple[str, ...] = ()  # the row's image references: the same words about other images are another pair
    thoughts: bool = False  # the row has a thought (<think>...): validate's reasoning findings across rows

    def add(self, code: str, level: str, path: str, message: str) -> None:
        self.findings.append(Finding(code, level, self.index, path, message))

    def dropped(self, code: str, path: str, message: str) -> str:
        """The trainer leaves the row out: an error finding and the would_drop entry; returns the code."""
        self.add(code, "error", path, message)
        self.drop = {"index": self.index, "code": code, "path": path, "message": message}
        return code


class Target:
    """One trainer's view of a dataset. Subclasses set the class attributes and implement the methods."""

    name: ClassVar[str]  # --target
    trainer: ClassVar[str]  # in messages: "LLaMA-Factory", "TRL"
    layouts: ClassVar[tuple[str, ...]]  # --layout values this target reads
    registry: ClassVar[str | None]  # which registry file holds its entries ("v0", "v1"), None for none
    size_key: ClassVar[str | None] = None  # the entry key that keeps only part of the records
    limit_option: ClassVar[str] = "--cutoff-len"  # the option that gives its length limit
    limit_required: ClassVar[bool] = True  # False: the counter has the trainer's default
    options: ClassVar[tuple[str, ...]] = ()  # the TokenOptions beyond model, limit and template that it reads
    catch_all: ClassVar[bool] = False  # detect() takes any file (and says what is missing): tried after the others

    def owns(self, entry: dict[str, Any]) -> bool:
        """Whether a registry entry is one of this target's."""
        raise NotImplementedError

    def fits(self, record: dict[str, Any]) -> bool:
        """Whether a file whose first readable record this is holds this target's rows (see :func:`detect_target`)."""
        return False

    def detect(self, path: str) -> bool:
        """Whether a file's rows are this target's own (for a file given without --target or --layout)."""
        records = sample(path)
        return bool(records) and fits(self.fits, records[0])

    def file_entry(self, path: str, layout: str | None) -> dict[str, Any]:
        """The entry that reads ``path`` as it is."""
        raise NotImplementedError

    def stage(self, entry: dict[str, Any]) -> str:
        """What the trainer trains on it: "rm" (pairs), "kto" (labelled examples) or "none"."""
        raise NotImplementedError

    def check_entry(self, dataset_dir: str, entry: dict[str, Any]) -> list[str]:
        """The problems of a registered entry."""
        return []

    def entry_file(self, dataset_dir: str, name: str, entry: dict[str, Any]) -> str:
        """The local file a registered entry reads (InputError or UsageError when it reads none)."""
        raise NotImplementedError

    def counter(self, options: TokenOptions, entry: dict[str, Any]) -> Counter:
        raise NotImplementedError

    def parser(self, entry: dict[str, Any], counter: Counter | None, template: str = "auto",
               media_dir: str | None = None) -> Callable[[dict[str, Any], RowCheck], Parsed | str | None]:
        """The function that reads one row as the trainer's loader does (rendered with ``template`` where the
        trainer renders without a model too; images found in ``media_dir``): findings go to the RowCheck; it
        returns what the trainer keeps, the code of why it drops or fails on the row, or None for nothing to
        train."""
        raise NotImplementedError


def detect_target(targets: Sequence[Target], path: str) -> Target:
    """The target whose rows a file holds: the first of ``targets`` (in detection order) that fits its first readable
    record (prefkit.io.sample.detect), else the last one, the catch-all that says what a file lacks."""
    found = detect(((t, t.fits) for t in targets), sample(path)[:1])
    return found if found is not None else targets[-1]


def json_kind(value: Any) -> str:
    return "object" if isinstance(value, dict) else "list" if isinstance(value, list) else \
        "bool" if isinstance(value, bool) else "number" if isinstance(value, (int, float)) else "string"


def unreadable(row: Row) -> RowCheck | None:
    """The check of a row that holds no record (None for one that does): content after a JSON array breaks the
    loader; an unparsable row is reported under the reason sources.py gives it (invalid_json, too_deep, ...)."""
    i = row.index
    if row.error is not None and row.reason == "trailing_content":
        result = RowCheck(i, "breaks_loader")
        result.add("breaks_loader", "error", "", f"{row.error}: the trainer's loader fails on the file")
        return result
    if row.error is not None and row.reason == "invalid_unicode":  # Arrow fails on the file, not on the row
        result = RowCheck(i, "breaks_loader")
        result.add("invalid_unicode", "error", row.field, row.error)
        return result
    if row.error is None and isinstance(row.data, dict):
        return None
    code = row.reason if row.error is not None else "invalid_json"
    result = RowCheck(i, code, drop={"index": i, "code": code, "path": "", "message": "unreadable"})
    result.add(code, "error", "", row.error or "the record is not a JSON object")
    return result


def attempt_lengths(measure: Callable[[list[Any]], list[Any]], kept: list[RowCheck], trainer: str = "LLaMA-Factory"
                    ) -> None:
    """The rows' token lengths, measured as one batch; when the trainer's template raises on the batch (a content
    or system that is not text), row by row: the row it raises on breaks the loader, the others are measured."""
    try:
        found: list[Any] = measure([r.outcome.measure for r in kept])  # type: ignore[union-attr]
    except Exception:
        found = []
        for result in kept:
            try:
                found += measure([result.outcome.measure])  # type: ignore[union-attr]
            except Exception as err:
                message = unexpected(err)[1]  # re-raised under --debug
                result.add("breaks_loader", "error", "", f"{trainer}'s template raises on this row ({message}): "
                           "the run fails")
                result.outcome = "breaks_loader"
                found.append(None)
    for result, lengths in zip(kept, found, strict=True):
        result.lengths = lengths
        if lengths is None:
            continue
        for code, level, path, message in lengths.problems():
            if code == lengths.drop:
                result.dropped(code, path, message)
            else:
                result.add(code, level, path, message)


def seen_text(aligned: Aligned) -> str:
    """What a pair's near-duplicates are judged on: system prompt, prompt turns and answers."""
    texts = [aligned.system] + [m["content"] for m in aligned.prompt + aligned.response]
    return "\n".join(t for t in texts if isinstance(t, str) and t)


class BlockChecker:
    """The per-row side of validate for one target: each row parsed as the trainer reads it, its content and
    hygiene checked, and with a counter its lengths measured, a block at a time (a Staged map: the local
    executor counts one block while it checks the next, prefkit.pipeline.executors)."""

    def __init__(self, target: Target, entry: dict[str, Any], counter: Counter | None, template: str = "auto",
                 benchmarks: Any = None, media_dir: str | None = None, near_threshold: float | None = None) -> None:
        self.parse = target.parser(entry, counter, template, media_dir)
        self.trainer = target.trainer
        self.kto = target.stage(entry) == "kto"
        self.counter, self.benchmarks, self.near_threshold = counter, benchmarks, near_threshold
        self.content = RowContent(list(counter.tokenizer.all_special_tokens) if counter else None)
        layout = RowLayout.from_entry(entry)
        self.images_column = layout.images if layout is not None else None

    def row(self, row: Row) -> RowCheck:
        """One row's findings. Never raises: an odd value no check foresaw is reported for this row
        (``unexpected_value``) and the run goes on."""
        unread = unreadable(row)
        if unread is not None:
            return unread
        result = RowCheck(row.index, None, kinds={k: json_kind(v) for k, v in row.data.items() if v is not None})
        try:
            result.outcome = self.parse(row.data, result)
        except Exception as err:
            reason, message = unexpected(err)
            result.add(reason, "error", "", f"{message}: prefkit cannot tell what {self.trainer} does here")
            result.outcome = reason
        aligned = result.outcome.aligned if isinstance(result.outcome, Parsed) else None
        if self.images_column is not None and isinstance(row.data.get(self.images_column), list):
            result.images = tuple(str(ref) for ref in row.data[self.images_column])
        if aligned is not None:
            try:
                result.content = self.content.facts(aligned, self.kto, result.add, result.images)
                if self.benchmarks is not None:
                    check_aligned(self.benchmarks, result, aligned)
            except Exception as err:
                reason, message = unexpected(err)
                result.add(reason, "error", "", f"{message}: prefkit cannot check this row's content")
        return result

    def sign(self, kept: list[RowCheck]) -> None:
        """--near-dedup: each row's signature, in one batch (the ordered side groups them)."""
        from ..hygiene import signatures

        rows = [r for r in kept if r.outcome.aligned is not None]  # type: ignore[union-attr]
        texts = [[seen_text(r.outcome.aligned), *r.images] for r in rows]  # type: ignore[union-attr]  (parts)
        for result, found in zip(rows, signatures(texts, self.near_threshold), strict=True):
            result.near = found

    def check(self, rows: list[Row]) -> list[RowCheck]:
        """A block's rows parsed and checked, not yet measured: everything but the token counting."""
        results = [self.row(row) for row in rows]
        if self.near_threshold is not None:
            self.sign([r for r in results if isinstance(r.outcome, Parsed)])
        return results

    def count(self, results: list[RowCheck]) -> list[RowCheck]:
        """The checked block's token lengths (with a counter); the rows' text is let go."""
        kept = [r for r in results if isinstance(r.outcome, Parsed)]
        if self.counter is not None:
            attempt_lengths(self.counter.measure, kept, self.trainer)
        for result in kept:
            if isinstance(result.outcome, Parsed):
                result.outcome = None  # measured and checked: the text need not travel back
        return results

    def __call__(self, rows: list[Row]) -> list[RowCheck]:
        return self.count(self.check(rows))
