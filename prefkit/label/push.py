"""``prefkit label push``: pairs (labeled or not) -> an Argilla dataset of pairs to label.

The input is read by the same pipeline as ``prefkit convert --unlabeled`` (any format, every record
accounted for) and sent in batches. Records already in the dataset are skipped by id, so a second push creates no duplicates
and a push that was interrupted resumes where it stopped.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..run import Run
from ..errors import InputError, UsageError
from ..pipeline import Sink, read_records
from ..readers import ReadOptions, check_mapping
from ..records import Reject, RowProblem
from ..writers import get_writer
from . import layout
from .connection import Connection, check_dataset_name
from .tasks import Task, origin, task

BATCH = 250  # records per bulk upsert by default (the server takes at most 500)


@dataclass
class PushReport:
    dataset: str
    workspace: str
    dataset_created: bool = False
    min_submitted: int = 1
    input_records: int = 0
    rejected: int = 0  # input records that gave no pair (in the rejects file, by reason)
    pairs: int = 0  # pairs read from the input (a record can give several)
    created: int = 0
    already_present: int = 0  # in the dataset before this push
    duplicates: int = 0  # the same pair again in the input (the same content, in either order)
    failed: int = 0  # pairs the server refused, or that it would refuse (in the rejects file, by reason)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)  # input records and failed pairs
    rejects_file: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def push(inputs: list[str], dataset: str, connection: Connection, workspace: str | None = None,
         min_submitted: int = 1, guidelines: str | None = None, fmt: str = "auto", mapping: dict[str, str] | None = None,
         seed: int = 0, rejects: str | None = None, batch_size: int = BATCH, report_json: str | None = None,
         progress: Callable[[int, int], None] | None = None) -> PushReport:
    """Push ``inputs`` to ``dataset``; ``progress(done, total)`` is called after each batch."""
    check_dataset_name(dataset)
    if not 1 <= batch_size <= 500:
        raise UsageError(f"--batch-size {batch_size}: Argilla takes 1 to 500 records a request")
    for path in inputs:
        if not os.path.isfile(path):
            raise InputError(f"{path}: no such file")
    check_mapping(mapping or {}, fmt)
    rejects = rejects or os.path.join(os.path.dirname(os.path.abspath(inputs[0])), f"{dataset}.push-rejects.jsonl")
    with Run(inputs) as run:  # the files are checked before the server is asked anything
        sink = Sink(None, run.rows("--rejects", rejects, lines=True), get_writer("unlabeled"))
        report_file = run.json("--report-json", report_json)
        report = _push(inputs, dataset, connection, workspace, min_submitted, guidelines, fmt, mapping, seed,
                       batch_size, sink, progress)
        if sink.rejects.count:
            report.rejects_file = rejects
        else:
            sink.rejects.discard()
        report_file.value = report.to_json()
        run.commit()
    return report


def _push(inputs: list[str], dataset: str, connection: Connection, workspace: str | None, min_submitted: int,
          guidelines: str | None, fmt: str, mapping: dict[str, str] | None, seed: int, batch_size: int, sink: Sink,
          progress: Callable[[int, int], None] | None) -> PushReport:
    ws = connection.workspace(workspace)
    report = PushReport(dataset=dataset, workspace=ws.name, min_submitted=min_submitted)
    writer = sink.writer
    options = ReadOptions(target="unlabeled", mapping=mapping or {})
    target = _dataset(connection, dataset, ws.name, guidelines, min_submitted, report)
    question_id = str(target.settings.questions[layout.PREFERENCE].id)
    present = set() if report.dataset_created else \
        {r["external_id"] for r in connection.records(target.id) if r.get("external_id")}

    def fail(reject: Reject) -> None:
        sink.rejects.write(reject.to_json())
        sink.reasons[reject.reason] += 1
        report.failed += 1

    batch: list[Task] = []
    sent: set[str] = set()
    for pair in read_records(inputs, fmt, writer, options, sink):
        sink.cover(pair)
        report.pairs += 1
        try:
            item = task(pair, seed, question_id)
        except RowProblem as problem:
            fail(Reject(*origin(pair), problem.reason, problem.message, pair.model_dump(mode="json")))
            continue
        if item.id in present:
            report.already_present += 1
            continue
        if item.id in sent:
            report.duplicates += 1
            continue
        sent.add(item.id)
        batch.append(item)
        if len(batch) >= batch_size:
            _send(connection, target.id, batch, report, fail)
            batch = []
            if progress:
                progress(report.created + report.already_present + report.duplicates + report.failed, report.pairs)
    if batch:
        _send(connection, target.id, batch, report, fail)
    if progress:
        progress(report.pairs, report.pairs)
    report.input_records = sum(s.input_records for s in sink.sources)
    report.rejected = sum(s.rejected for s in sink.sources)
    report.rejected_by_reason = dict(sink.reasons.most_common())
    return report


def _dataset(connection: Connection, name: str, workspace: str, guidelines: str | None, min_submitted: int,
             report: PushReport) -> Any:
    import argilla as rg

    with connection.errors(f"looking up dataset {name!r}"):
        found = connection.client.datasets(name, workspace=workspace)
    if found is not None:
        layout.check(found, f"dataset {name!r} in workspace {workspace!r}")
        report.min_submitted = found.settings.distribution.min_submitted
        return found
    with connection.errors(f"creating dataset {name!r}"):
        created = rg.Dataset(name=name, workspace=workspace, client=connection.client,
                             settings=layout.settings(guidelines, min_submitted)).create()
    report.dataset_created = True
    return created


def _send(connection: Connection, dataset_id: Any, batch: list[Task], report: PushReport,
          fail: Callable[[Reject], None]) -> None:
    """Send a batch; when the server refuses it as invalid, send one record at a time to find the culprits."""
    created, problem = connection.bulk_upsert(dataset_id, [t.body for t in batch])
    if problem is None:
        report.created += created
        report.already_present += len(batch) - created
        return
    for one in batch:
        created, problem = connection.bulk_upsert(dataset_id, [one.body])
        if problem is None:
            report.created += created
            report.already_present += 1 - created
        else:
            fail(Reject(*one.origin, "refused_by_argilla", problem, one.body))
