"""``prefkit convert``: raw logs -> records -> one LLaMA-Factory dataset file, with nothing lost.

Every input record is written (possibly as several pairs) or sent to the rejects file with a reason;
``ConvertReport`` always satisfies ``input_records == accepted + rejected``.

>>> import json, tempfile
>>> d = tempfile.mkdtemp()
>>> rows = [{"prompt": "2+2?", "response_a": "4", "response_b": "5", "winner": "model_a"},
...         {"prompt": "Hi", "response_a": "Hello", "response_b": "Yo", "winner": "tie"}]
>>> _ = open(f"{d}/votes.jsonl", "w").write("\\n".join(json.dumps(r) for r in rows))
>>> report = convert([f"{d}/votes.jsonl"], f"{d}/pairs.json", fmt="pairwise")
>>> report.input_records, report.accepted, report.rejected, report.rejected_by_reason
(2, 1, 1, {'tie': 1})
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import chain
from typing import Any

import orjson

from . import pairing, registry
from .errors import InputError, UsageError
from .readers import ReadOptions, detect, get_reader
from .records import KtoExample, Note, PreferencePair, Reject, RowProblem, UnlabeledPair
from .sources import Row, iter_rows
from .writers import AtomicOutput, Writer, get_writer

_WRITTEN, _REJECTED = 1, 2


@dataclass
class SourceReport:
    path: str
    format: str
    input_records: int = 0
    accepted: int = 0
    rejected: int = 0


@dataclass
class ConvertReport:
    output: str
    to: str
    rejects_file: str | None = None
    input_records: int = 0
    accepted: int = 0
    rejected: int = 0
    pairs_written: int = 0  # rows written (KTO examples with --to kto)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)
    exact_duplicates: int = 0
    prompt_duplicates: int = 0
    sources: list[SourceReport] = field(default_factory=list)
    dataset_info_entry: dict[str, Any] | None = None
    registered: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class _Coverage:
    """Which input records of one source were written or rejected: one byte per record."""

    def __init__(self) -> None:
        self.state = bytearray()

    def mark(self, index: int, state: int) -> None:
        if index >= len(self.state):
            self.state.extend(bytes(index + 1 - len(self.state) + 1024))
        if state == _WRITTEN or self.state[index] == 0:
            self.state[index] = state


def default_rejects_path(output: str) -> str:
    base = output[: -len(".jsonl")] if output.endswith(".jsonl") else os.path.splitext(output)[0]
    return base + ".rejects.jsonl"


def _check_paths(inputs: list[str], output: str) -> None:
    if not inputs:
        raise UsageError("no input files given")
    out = os.path.realpath(output)
    for path in inputs:
        if not os.path.exists(path):
            raise InputError(f"{path}: no such file")
        if os.path.realpath(path) == out:
            raise UsageError(f"{output}: the output is also an input; write to another file")
    if not output.lower().endswith((".json", ".jsonl")):
        raise UsageError(f"{output}: the output must be .json (one array) or .jsonl (one record a line)")


def _counted(rows: Iterator[Row], source: SourceReport) -> Iterator[Row]:
    for row in rows:
        source.input_records += 1
        yield row


Written = PreferencePair | KtoExample | UnlabeledPair


def adapt(record: Written, writer: Writer) -> list[Written] | Reject:
    """Fit a record to the writer: a pair becomes two KTO examples, or a pair to label with its verdict as
    the suggestion; a KTO example cannot become a pair."""
    if isinstance(record, writer.record_type):
        return [record]
    if isinstance(record, PreferencePair) and writer.record_type is UnlabeledPair:
        return [UnlabeledPair.of(record)]
    if isinstance(record, PreferencePair) and writer.record_type is KtoExample:
        base = dict(system=record.system, tools=record.tools, prompt=record.prompt, provenance=record.provenance,
                    metadata=record.metadata)
        return [KtoExample(completion=record.chosen, label=True, **base),
                KtoExample(completion=record.rejected, label=False, **base)]
    p = record.provenance
    return Reject(p.source, p.index, "kto_example_not_a_pair",
                  "a KTO example (one answer with a label) cannot become a pair; use --to kto",
                  record.model_dump(mode="json"), p.line)


def _prompt_key(record: Written) -> int:
    """Python's 64-bit hash: stable within a run, which is all duplicate counting needs."""
    return hash((record.system, record.tools, tuple((m.role, m.content) for m in record.prompt)))


def convert(inputs: list[str] | str, output: str, fmt: str = "auto", to: str = "sharegpt",
            rejects: str | None = None, pairing_strategy: str = "best-vs-worst", min_margin: float = 0.0,
            mapping: dict[str, str] | None = None, verdicts: dict[str, list[str]] | None = None,
            dedup: bool = False, register: str | None = None, dataset_dir: str | None = None,
            force: bool = False, progress: Callable[[int], None] | None = None) -> ConvertReport:
    """Convert raw preference logs into one LLaMA-Factory dataset file.

    ``fmt`` is a reader name or "auto"; ``to`` is sharegpt, alpaca, kto or unlabeled (pairs to label,
    for ``prefkit label push``). Rejected records go to
    ``rejects`` (default: ``<output stem>.rejects.jsonl``, written only when something is rejected).
    With ``register`` the output is registered in ``dataset_dir``/dataset_info.json.
    """
    inputs = [inputs] if isinstance(inputs, str) else list(inputs)
    _check_paths(inputs, output)
    pairing.check_strategy(pairing_strategy)
    writer = get_writer(to)
    if register and not dataset_dir:
        raise UsageError("--register needs --dataset-dir")
    if register and to == "unlabeled":
        writer.entry(output)  # raises: pairs to label are not a training set
    if register and dataset_dir:
        registry.relative_file_name(output, dataset_dir)  # fail before the work if it cannot be registered
    options = ReadOptions(target=to, pairing=pairing_strategy, min_margin=min_margin, mapping=mapping or {},
                          verdicts=verdicts)
    report = ConvertReport(output=output, to=to)
    rejects_path = rejects or default_rejects_path(output)
    reasons: Counter = Counter()
    notes: Counter = Counter()
    exact_seen: set[int] = set()
    prompt_seen: dict[int, int] = {}  # prompt hash -> first record that had it (source number << 40 | index)
    seen_total = 0

    with AtomicOutput(output) as out, AtomicOutput(rejects_path, lines=True) as rej:
        def reject_item(item: Reject, cover: _Coverage) -> None:
            rej.write(item.to_json())
            reasons[item.reason] += 1
            cover.mark(item.index, _REJECTED)

        for source_no, path in enumerate(inputs):
            rows: Iterator[Row] = iter_rows(path)
            name = fmt
            if fmt == "auto":
                head = [r for _, r in zip(range(20), rows)]
                name = detect(head, path)
                rows = chain(head, rows)
            reader = get_reader(name)
            source = SourceReport(path=path, format=name)
            report.sources.append(source)
            cover = _Coverage()
            options.format = name
            for item in reader(_counted(rows, source), options):
                if isinstance(item, Note):
                    notes[item.reason] += item.count
                    continue
                if isinstance(item, Reject):
                    reject_item(item, cover)
                    continue
                adapted = adapt(item, writer)
                if isinstance(adapted, Reject):
                    reject_item(adapted, cover)
                    continue
                for record in adapted:
                    p = record.provenance
                    try:
                        row = writer.row(record)
                    except RowProblem as problem:
                        reject_item(Reject(p.source, p.index, problem.reason, problem.message,
                                           record.model_dump(mode="json"), p.line), cover)
                        continue
                    data = orjson.dumps(row)
                    exact = hash(data)
                    if exact in exact_seen:
                        report.exact_duplicates += 1
                        if dedup:
                            reject_item(Reject(p.source, p.index, "duplicate_pair",
                                               "an identical row was already written", row, p.line), cover)
                            continue
                    else:
                        exact_seen.add(exact)
                    prompt_key = _prompt_key(record)
                    record_id = source_no << 40 | p.index
                    if prompt_seen.setdefault(prompt_key, record_id) != record_id:
                        report.prompt_duplicates += 1
                    out.write_bytes(data)
                    for index in (p.index, *p.merged):
                        cover.mark(index, _WRITTEN)
                seen_total += 1
                if progress is not None and seen_total % 1000 == 0:
                    progress(seen_total)
            source.accepted = cover.state.count(_WRITTEN)
            source.rejected = cover.state.count(_REJECTED)
            if source.accepted + source.rejected != source.input_records:
                raise RuntimeError(f"internal error: {path}: {source.input_records} records read but "
                                   f"{source.accepted} written + {source.rejected} rejected (reader {name})")
        if sum(s.input_records for s in report.sources) == 0:
            raise InputError(f"{', '.join(inputs)}: no records in the input")
    finish_rejects(rejects, rejects_path, rej.count)

    report.input_records = sum(s.input_records for s in report.sources)
    report.accepted = sum(s.accepted for s in report.sources)
    report.rejected = sum(s.rejected for s in report.sources)
    report.pairs_written = out.count
    report.rejected_by_reason = dict(reasons.most_common())
    report.notes = dict(notes.most_common())
    report.rejects_file = rejects_path if rej.count or rejects else None
    if to != "unlabeled":  # pairs to label are not a dataset (and cannot be registered: checked above)
        report.dataset_info_entry = registry.entry_for_output(writer, output, dataset_dir, register, force)
        report.registered = register if register and dataset_dir else None
    return report


def finish_rejects(asked: str | None, path: str, count: int) -> None:
    """The default rejects file exists only when something was rejected."""
    if not asked and count == 0 and os.path.exists(path):
        os.unlink(path)
