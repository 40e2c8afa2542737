"""The one record pipeline: every input record is written or rejected with a reason, never lost.

    rows (sources) ─► read (readers) ─► adapt ─► row (writers) ──►  Sink: coverage, dedup, write (io)
    └──────────── map_rows: per record, no state between batches ─┘  └── in input order, one process ──┘

:func:`map_rows` is the per-record side. It is a generator over any iterable of rows that keeps no state
from one batch to the next (readers that group rows, like openai-logs, get the whole stream), so a local
loop or a distributed engine can run it on blocks of rows. Any exception inside one record's processing
becomes that record's reject (``unexpected_value`` with the field it was reading), never the end of the
run. :class:`Sink` is the ordered side: it marks which records were written or rejected, finds exact
duplicates over the whole input, counts prompt duplicates and writes the output and rejects files.

With ``--near-dedup`` the map also signs each row (:func:`sign`: MinHash band keys and low bytes, prefkit.hygiene)
and the sink rejects a row that a :class:`prefkit.hygiene.NearDuplicates` finds close to an earlier one, or, on
Ray, that the cluster already judged so (prefkit.pipeline.near_cluster): the same rows either way. With ``-o DIR/`` on
Ray the cluster also decides contradictions, exact and prompt duplicates (prefkit.pipeline.ordered_cluster): the
sink then takes each row's :class:`Mark` in place of its sets, so this process holds nothing per pair.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import chain
from typing import TYPE_CHECKING, Any

import orjson

from ..errors import DataError, unexpected
from ..io import files as io
from ..io.sample import sample_rows
from ..io.sources import Row, encoding_hint, iter_rows
from ..readers import Reader, ReadOptions, detect, get_reader
from ..records import KtoExample, Note, PreferencePair, Reject, RowProblem, UnlabeledPair
from ..writers import Writer
from ..writers.base import adapt
from .executors import Executor, MapFactory, blocks
from .outcomes import Outcome, Written

if TYPE_CHECKING:
    from ..hygiene.neardup import Duplicate, NearDuplicates
    from ..writers.image_files import ImageFile
    from .shards import Parts, Spilled

_WRITTEN, _REJECTED = 1, 2
Record = PreferencePair | KtoExample | UnlabeledPair


def prompt_key(record: Record) -> bytes:
    """The same for two records with one system prompt, tools, prompt and images, in any process."""
    data = io.dumps([record.system, record.tools, [(m.role, m.content) for m in record.prompt], record.images])
    return hashlib.blake2b(data, digest_size=8).digest()


def map_records(rows: Iterable[Row], reader: Reader, writer: Writer, options: ReadOptions) -> Iterator[Record | Reject | Note]:
    """Rows -> the writer's records, with a Reject or Note wherever a record gives none."""
    for item in reader(rows, options):
        if isinstance(item, (Note, Reject)):
            yield item
            continue
        if options.decontaminate is not None and (found := options.decontaminate.screen(item)):
            yield from found  # it holds a benchmark item (prefkit.hygiene): one reject per input record
            continue
        p = item.provenance
        try:
            adapted = adapt(item, writer)
        except Exception as err:  # a record no writer can take: this record only
            yield Reject(p.source, p.index, *unexpected(err), None, p.line)
            continue
        if isinstance(adapted, Reject):
            yield adapted
        else:
            yield from adapted


def map_rows(rows: Iterable[Row], reader: Reader, writer: Writer, options: ReadOptions,
             near: bool = False) -> Iterator[Outcome]:
    """Rows -> outcomes: a Written row, a Reject or a Note for every input record (``near``: with its texts, to sign)."""
    for item in map_records(rows, reader, writer, options):
        yield item if isinstance(item, (Note, Reject)) else to_row(item, writer, near)


def sign(outcomes: list[Outcome], threshold: float) -> list[Outcome]:
    """Give each Written row of a block its near-duplicate signature, in place of its texts (one batch: fast)."""
    from ..hygiene.neardup import signatures

    written = [o for o in outcomes if isinstance(o, Written) and o.text is not None]
    for row, signature in zip(written, signatures([w.text for w in written], threshold)):  # type: ignore[misc]
        row.signature, row.text = signature, None
    return outcomes


def to_row(record: Record, writer: Writer, near: bool = False) -> Written | Reject:
    p = record.provenance
    try:
        row = writer.row(record)
        key = prompt_key(record)
        labelled = None
        if isinstance(record, KtoExample):
            answer = hashlib.blake2b(key + io.dumps([record.completion.role, record.completion.content]), digest_size=8)
            labelled = answer.digest(), record.label
        text = near_text(record) if near else None
        return Written(p.source, p.index, p.line, tuple(p.merged), io.dumps(row), tuple(row), key, labelled, text,
                       files=writer.image_files(record))
    except RowProblem as problem:
        return Reject(p.source, p.index, problem.reason, problem.message, record.model_dump(mode="json"), p.line)
    except Exception as err:  # an odd value no writer check foresaw: this record only
        return Reject(p.source, p.index, *unexpected(err), record.model_dump(mode="json"), p.line)


def near_text(record: Record) -> list[str]:
    """The record's texts to sign, as parts (the signer hashes a part seen before only once)."""
    from ..hygiene.neardup import record_texts

    return record_texts(record)


class ConvertMap:
    """The per-record side of convert as a factory: it travels to each worker and builds there, once, the
    function that maps a block of rows to outcomes (see prefkit.pipeline.executors). The writer travels as convert set it up
    (Parquet's JSON text, v1's weight and size, where image paths are rebased)."""

    def __init__(self, reader: Reader, writer: Writer, options: ReadOptions, near: float | None = None) -> None:
        self.reader, self.writer, self.options, self.near = reader, writer, options, near

    @classmethod
    def reading(cls, name: str, writer: Writer, options: ReadOptions, near: float | None = None) -> ConvertMap:
        """The map of an input read as format ``name``."""
        return cls(get_reader(name), writer, replace(options, format=name), near)

    def __call__(self) -> Callable[[list[Row]], list[Outcome]]:
        writer = self.writer
        if self.near is None:
            return lambda rows: list(map_rows(rows, self.reader, writer, self.options))
        threshold = self.near
        return lambda rows: sign(list(map_rows(rows, self.reader, writer, self.options, True)), threshold)


Input = tuple[str, str]  # an input's path and its format, resolved once per run (resolve_formats)


def resolve_formats(inputs: list[str], fmt: str, options: ReadOptions) -> list[Input]:
    """Each input with its format: ``fmt``, or for "auto" the one detected from its first records; every later
    step of the run reads with that format, so none detects again."""
    return [(path, fmt if fmt != "auto" else detected(path, options)) for path in inputs]


def convert_sources(inputs: list[Input], writer: Writer, options: ReadOptions, sink: Sink, executor: Executor,
                    progress: Callable[[int], None] | None = None, near: float | None = None) -> None:
    """Every input through map_rows into the sink, on ``executor``. A reader that groups rows across the
    file (openai-logs) needs the whole stream, so it runs here whatever the executor. With ``near`` (a Jaccard
    threshold) the map signs each row for near-duplicate detection, unless a cluster already decided."""
    near = near if sink.decided is None else None
    for path, name in inputs:
        source = sink.start(path, name)
        reader = get_reader(name)
        results: Iterable[tuple[int, list[Outcome] | Spilled]]
        if runs_here(executor, reader):
            rows, _ = source_rows(path, name, options)
            mapped = map_rows(_counted(rows, source), reader, writer, replace(options, format=name), near is not None)
            results = ((0, sign(outcomes, near) if near is not None else outcomes) for outcomes in blocks(mapped))
        else:  # on the workers (-o DIR/: each keeps its rows, spilled, and writes their part later)
            results = map_on_workers(path, name, writer, options, executor, near, sink.parts)
        for read, outcomes in results:
            source.input_records += read  # rows a worker read (the local stream counts its own)
            sink.take_block(outcomes)
            if progress is not None:
                progress(sum(s.input_records for s in sink.sources))
        sink.end()


def map_on_workers(path: str, name: str, writer: Writer, options: ReadOptions, executor: Executor,
                   near: float | None = None, parts: Parts | None = None,
                   apart: bool = False) -> Iterator[tuple[int, list[Outcome] | Spilled]]:
    """One input (read as format ``name``) mapped on the executor's workers: (rows read, outcomes) per block, in
    order. With ``parts`` (-o DIR/) each worker spills its block's outcomes (shards.SpillMap, ``apart`` as there)."""
    rows, _ = source_rows(path, name, options)
    factory: MapFactory = ConvertMap.reading(name, writer, options, near)
    if parts is not None:
        from .shards import SpillMap

        factory = SpillMap(factory, parts.spill, parts.output, apart)
    return executor.map_blocks(executor.parts(path, rows), factory)


def on_cluster(inputs: list[Input], executor: Executor) -> bool:
    """Whether every input's map runs on the cluster (a Ray executor, no input whose reader runs here): then the
    cluster can judge near-duplicates (near_cluster) and, with -o DIR/, the sink's key sets (ordered_cluster)."""
    return not executor.local and not any(runs_here(executor, get_reader(name)) for _, name in inputs)


def runs_here(executor: Executor, reader: Reader) -> bool:
    """Whether a source's per-record side runs in this process (local, or a reader that groups rows)."""
    return executor.local or getattr(reader, "groups_rows", False)


def source_rows(path: str, fmt: str, options: ReadOptions) -> tuple[Iterator[Row], str]:
    """The rows of one input and its format (detected from the first records for "auto"; a known format reads
    nothing here)."""
    rows: Iterator[Row] = iter_rows(path, options.split, options.subset, groups=True)
    if fmt != "auto":
        return rows, fmt
    head = sample_rows(rows)  # fewer when records are huge: a sample never holds 20 of 20 MB
    return chain(head, rows), detect(head, path, options.target)


def detected(path: str, options: ReadOptions) -> str:
    """The format of one input, detected from its first records (its file is closed after)."""
    rows = iter_rows(path, options.split, options.subset, groups=True)
    try:
        return detect(sample_rows(rows), path, options.target)
    finally:
        rows.close()  # type: ignore[attr-defined]  # iter_rows' generator


def read_records(inputs: list[str], fmt: str, writer: Writer, options: ReadOptions, sink: Sink) -> Iterator[Record]:
    """The writer's records from every input, in order, for a caller that uses records rather than rows
    (label push). Rejects and notes go to ``sink``; the caller marks each record with ``sink.cover``. After
    each source the sink proves that every one of its records was accounted for."""
    for path in inputs:
        rows, name = source_rows(path, fmt, options)
        source = sink.start(path, name)
        for item in map_records(_counted(rows, source), get_reader(name), writer, replace(options, format=name)):
            if isinstance(item, (Note, Reject)):
                sink.take(item)
            else:
                yield item
        sink.end()


def _counted(rows: Iterator[Row], source: SourceReport) -> Iterator[Row]:
    for row in rows:
        source.input_records += 1
        yield row


ROW_BITS = 24  # a Ray near-dedup decision's key: block number << ROW_BITS | place among the block's written rows
INDEX_BITS = 40  # a near-duplicate index's key: source number << INDEX_BITS | record index
CONTRADICTED, DUPLICATE, PROMPT_SEEN = 1, 2, 4  # a Mark's flags


@dataclass(slots=True)
class Mark:
    """What the Ray cluster decided of one written row (prefkit.pipeline.ordered_cluster), in place of the sink's sets:
    its flags and, when CONTRADICTED, the first label of its answer and that row's name (see near_key)."""

    flags: int
    first: tuple[bool, int] | None = None


def near_key(sink: Sink, row: Written) -> int:
    """The source (its number in this run) and index of a written row, as one int for NearDuplicates."""
    return (len(sink.sources) - 1) << INDEX_BITS | row.index


@dataclass
class SourceReport:
    path: str
    format: str
    input_records: int = 0
    accepted: int = 0
    rejected: int = 0


class _Coverage:
    """Which input records of one source were written or rejected: one byte per record."""

    def __init__(self) -> None:
        self.state = bytearray()

    def mark(self, index: int, state: int) -> None:
        if index >= len(self.state):
            self.state.extend(bytes(index + 1 - len(self.state) + 1024))
        if state == _WRITTEN or self.state[index] == 0:
            self.state[index] = state


@dataclass
class Sink:
    """The ordered side: writes rows and rejects, and proves every record of every source was accounted for."""

    out: io.RowFile | None
    rejects: io.RowFile | None  # None with -o DIR/ (parts)
    writer: Writer
    dedup: bool = False
    reasons: Counter = field(default_factory=Counter)
    notes: Counter = field(default_factory=Counter)
    details: Counter = field(default_factory=Counter)  # (reason, detail) of rejects that carry a detail
    exact_duplicates: int = 0
    prompt_duplicates: int = 0
    near_duplicates: int = 0
    # --near-dedup: the index (this process decides), or the decisions a Ray cluster made, by block and row
    near: NearDuplicates | None = None
    decided: dict[int, Duplicate] | None = None
    sources: list[SourceReport] = field(default_factory=list)
    _blocks: int = 0  # blocks taken: with the row's place among a block's written rows, its key in ``decided``
    # -o DIR/ on Ray: the cluster's Marks, by block (ordered_cluster.Marks); the sink then keeps none of these sets
    ordered: Any = None
    _exact: set[int] = field(default_factory=set)
    _prompts: set[bytes] = field(default_factory=set)  # prompts of the rows written so far
    _labels: dict[bytes, tuple[bool, str, int]] = field(default_factory=dict)  # KTO answer -> (label, source, index)
    _cover: _Coverage = field(default_factory=_Coverage)
    first_reject: Reject | None = None
    # takes a written row's images (ImageStore.add): its files, and the names its part writer writes (-o DIR/)
    images: Callable[[tuple[ImageFile, ...], tuple[str, ...]], None] | None = None
    parts: Parts | None = None  # -o DIR/: the sink decides; the part writers write rows and rejects (shards)
    _at: int = 0  # the place in its block of the outcome being taken

    def start(self, path: str, fmt: str) -> SourceReport:
        self.sources.append(SourceReport(path=path, format=fmt))
        self._cover = _Coverage()
        return self.sources[-1]

    def reject(self, item: Reject, decided: bool = False) -> None:
        """Count a reject and write it; with -o DIR/ its block's part writer writes it (``decided``: the sink
        rejected a written row, whose record the part writer fills in)."""
        if self.rejects is not None:
            self.rejects.write(item.to_json())
        elif decided and self.parts is not None:
            self.parts.drop(self._at, item)
        self.reasons[item.reason] += 1
        self.first_reject = self.first_reject or item
        if item.detail:
            self.details[item.reason, item.detail] += 1
        self._cover.mark(item.index, _REJECTED)

    def take(self, outcome: Outcome, near: Duplicate | None = None, mark: Mark | None = None) -> None:
        if isinstance(outcome, Note):
            self.notes[outcome.reason] += outcome.count
        elif isinstance(outcome, Reject):
            self.reject(outcome)
        else:
            self._write(outcome, near, mark)

    def take_block(self, outcomes: list[Outcome] | Spilled) -> None:
        """Take a block's outcomes in order; with --near-dedup, first judge its written rows (all of them, so that
        this process and a Ray cluster see the same rows whatever the sink rejects after). With -o DIR/ the sink
        decides from the outcomes without their data, and the block's part is written after (shards.Parts)."""
        if self.parts is None:
            self._take_block(outcomes)
            return
        from .shards import Spilled, light

        self._take_block(outcomes.outcomes if isinstance(outcomes, Spilled) else light(outcomes))
        self.parts.done(self._blocks - 1, outcomes)

    def _take_block(self, outcomes: list[Outcome]) -> None:
        found: Iterator[Duplicate | None] = iter(())
        if self.near is not None or self.decided is not None:
            written = [o for o in outcomes if isinstance(o, Written)]
            if self.near is not None:
                found = iter(self.near.add_block([near_key(self, w) for w in written], [w.signature for w in written]))
            else:
                first = self._blocks << ROW_BITS
                found = iter([self.decided.get(first + i) for i in range(len(written))])  # type: ignore[union-attr]
        marks: Iterator[Mark | None] = iter(())
        if self.ordered is not None:
            marks = iter(self.ordered.block(self._blocks, sum(isinstance(o, Written) for o in outcomes)))
        self._blocks += 1
        for self._at, outcome in enumerate(outcomes):
            if isinstance(outcome, Written):
                self.take(outcome, next(found, None), next(marks, None))
            else:
                self.take(outcome)

    def _write(self, row: Written, near: Duplicate | None = None, mark: Mark | None = None) -> None:
        """Write a row unless it contradicts an earlier label, repeats a row (--dedup) or is a near-duplicate; the
        sink's sets decide, or with ``ordered`` the cluster's ``mark`` (the same rule, see ordered_cluster)."""
        if row.labelled is not None and self._contradicts(row, mark):
            return
        if self._repeats(row, mark):
            self.exact_duplicates += 1
            if self.dedup:
                self.reject(Reject(row.source, row.index, "duplicate_pair", "an identical row was already written",
                                   self._record(row), row.line), decided=True)
                return
        if near is not None and near.via != near_key(self, row):  # not the other KTO example of its own pair
            self._near_duplicate(row, near)
            return
        if self._prompt_seen(row, mark):  # counted per row, as validate counts duplicate_prompt
            self.prompt_duplicates += 1
        if self.parts is not None:
            self.parts.count += 1
        else:
            assert self.out is not None
            self.out.write_bytes(row.data)
        if row.files and self.images is not None:
            self.images(row.files, row.pending)
        self.writer.seen.update(row.keys)
        for index in (row.index, *row.merged):
            self._cover.mark(index, _WRITTEN)

    def _repeats(self, row: Written, mark: Mark | None) -> bool:
        """Whether an identical row (not contradicted) came before."""
        if self.ordered is not None:
            return mark is not None and bool(mark.flags & DUPLICATE)
        exact = row.digest or hash(row.data)  # one process: Python's hash is stable here
        if exact in self._exact:
            return True
        self._exact.add(exact)
        return False

    def _prompt_seen(self, row: Written, mark: Mark | None) -> bool:
        """Whether a row with the same prompt came before (among those that were not rejected)."""
        if self.ordered is not None:
            return mark is not None and bool(mark.flags & PROMPT_SEEN)
        seen = row.prompt_key in self._prompts
        self._prompts.add(row.prompt_key)
        return seen

    def _contradicts(self, row: Written, mark: Mark | None) -> bool:
        """A KTO example whose prompt and answer an earlier example labelled the other way: the first label
        seen stays, this one is rejected."""
        answer, label = row.labelled  # type: ignore[misc]
        if self.ordered is None:
            first, source, index = self._labels.setdefault(answer, (label, row.source, row.index))
            if first == label:
                return False
            where = f"record {index}" + (f" of {source}" if source != row.source else "")
        elif mark is not None and mark.flags & CONTRADICTED:
            first, name = mark.first  # type: ignore[misc]
            where = self._where(name, row.source)
        else:
            return False
        self.reject(Reject(row.source, row.index, "contradictory_label", f"{where} labels the same prompt and answer "
                           f"{'desirable' if first else 'undesirable'}", self._record(row), row.line), decided=True)
        return True

    def _record(self, row: Written) -> object:
        """A written row's data as the record of its reject (None with -o DIR/: the part writer has it)."""
        return None if self.parts is not None else orjson.loads(row.data)

    def _near_duplicate(self, row: Written, near: Duplicate) -> None:
        """Reject a row (and the input records merged into it) as a near-duplicate, naming the group's first row."""
        self.near_duplicates += 1
        kept, via = self._where(near.kept, row.source), self._where(near.via, row.source)
        how = f"estimated Jaccard {near.jaccard:.2f}"
        message = (f"near-duplicate of {kept} ({how}), which is kept" if near.via == near.kept else
                   f"near-duplicate of {via} ({how}), itself a near-duplicate of {kept}, which is kept")
        record = self._record(row)
        for index in (row.index, *row.merged):
            self.reject(Reject(row.source, index, "near_duplicate", message, record,
                               row.line if index == row.index else None), decided=True)

    def _where(self, key: int, source: str) -> str:
        """'record 12', or 'record 12 of other.jsonl' for a key of another source (see near_key)."""
        number, index = key >> INDEX_BITS, key & ((1 << INDEX_BITS) - 1)
        path = self.sources[number].path
        return f"record {index}" + (f" of {path}" if path != source else "")

    def cover(self, record: Record) -> None:
        """Count a record as used without writing it (a pair pushed to Argilla)."""
        for index in (record.provenance.index, *record.provenance.merged):
            self._cover.mark(index, _WRITTEN)

    def require_rows(self, where: str) -> None:
        """Refuse to write an output with no rows (LLaMA-Factory stops on it: "corresponds to no data"):
        exit 1 with the top reject reasons and the first reject, before any file is replaced."""
        if (self.out is None and self.parts is None) or self.written:
            return
        total = sum(s.input_records for s in self.sources)
        top = ", ".join(f"{reason} {n:,}" for reason, n in self.reasons.most_common(3))
        first, hint = "", ""
        if self.first_reject is not None:
            first = f"; first: {self.first_reject.source} record {self.first_reject.index}: {self.first_reject.message}"
            if set(self.reasons) == {"invalid_json"}:
                hint = encoding_hint(self.first_reject.source)
        raise DataError(f"{where}: no rows to write: all {total:,} records were rejected ({top}){first}{hint}; "
                        "nothing was written or registered")

    @property
    def rejects_written(self) -> int:
        return sum(self.reasons.values())

    @property
    def written(self) -> int:
        """Rows written (with -o DIR/: kept, for the part writers to write)."""
        return self.parts.count if self.parts is not None else self.out.count if self.out is not None else 0

    def detailed(self, reason: str) -> dict[str, int]:
        """The details seen with ``reason`` and how often."""
        return {detail: n for (r, detail), n in self.details.items() if r == reason}

    def end(self) -> None:
        """Check the source just read: every record written or rejected."""
        source = self.sources[-1]
        source.accepted = self._cover.state.count(_WRITTEN)
        source.rejected = self._cover.state.count(_REJECTED)
        if source.accepted + source.rejected != source.input_records:
            raise RuntimeError(f"internal error: {source.path}: {source.input_records} records read but "
                               f"{source.accepted} written + {source.rejected} rejected (reader {source.format})")
