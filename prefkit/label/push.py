"""``prefkit label push``: pairs (labeled or not) -> an Argilla dataset of pairs to label.

The input is read by the same pipeline as ``prefkit convert --unlabeled`` (any format, every record
accounted for) and sent in batches. Records already in the dataset are skipped by id, so a second push creates no duplicates
and a push that was interrupted resumes where it stopped. Pairs with images are shown with them, above the
conversation (:mod:`.media`); a new dataset gets image fields only when its first pairs have images.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import chain, islice
from typing import Any

from ..errors import InputError, UsageError
from ..io.run import Run
from ..pipeline.flow import Sink, read_records
from ..readers import ReadOptions, check_mapping
from ..records import Reject, RowProblem, UnlabeledPair
from ..writers import get_writer
from . import layout, media
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
    first_failure: str | None = None  # "file record N: message" of the first pair not pushed
    image_fields: int | None = None  # of a dataset this push created (image_1..image_<n>)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def push(inputs: list[str], dataset: str, connection: Connection, workspace: str | None = None,
         min_submitted: int = 1, guidelines: str | None = None, fmt: str = "auto", mapping: dict[str, str] | None = None,
         seed: int = 0, rejects: str | None = None, batch_size: int = BATCH, report_json: str | None = None,
         progress: Callable[[int, int], None] | None = None, image_fields: int | None = None) -> PushReport:
    """Push ``inputs`` to ``dataset``; ``progress(done, total)`` is called after each batch. ``image_fields``: the
    image fields of a dataset this push creates (default: none for pairs without images, else enough for the
    first batch's pairs, at least layout.IMAGE_FIELDS); pairs with images are shown with them (media)."""
    check_dataset_name(dataset)
    if image_fields is not None and not 0 <= image_fields <= media.MAX_IMAGE_FIELDS:
        raise UsageError(f"--image-fields {image_fields}: 0 to {media.MAX_IMAGE_FIELDS}")
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
        push_pairs = getattr(connection, "push_pairs", None) or _push  # a backend's own (prefkit.label.labeler)
        report = push_pairs(inputs, dataset, connection, workspace, min_submitted, guidelines, fmt, mapping, seed,
                            batch_size, sink, progress, image_fields)
        if sink.rejects.count:
            report.rejects_file = rejects
        else:
            sink.rejects.discard()
        report_file.value = report.to_json()
        run.commit()
    return report


def _push(inputs: list[str], dataset: str, connection: Connection, workspace: str | None, min_submitted: int,
          guidelines: str | None, fmt: str, mapping: dict[str, str] | None, seed: int, batch_size: int, sink: Sink,
          progress: Callable[[int, int], None] | None, image_fields: int | None = None) -> PushReport:
    ws = connection.workspace(workspace)
    report = PushReport(dataset=dataset, workspace=ws.name, min_submitted=min_submitted)
    writer = sink.writer
    options = ReadOptions(target="unlabeled", mapping=mapping or {})
    target = _existing(connection, dataset, ws.name, report)
    pairs = _covered(read_records(inputs, fmt, writer, options, sink), sink)
    head: list[UnlabeledPair] = []
    if target is None:  # a new dataset: its first pairs decide whether it has image fields
        head = list(islice(pairs, batch_size))
        target = _create(connection, dataset, ws.name, guidelines, min_submitted, _image_fields(head, image_fields),
                         report)
    fields = layout.image_fields(target)
    question_id = str(target.settings.questions[layout.PREFERENCE].id)
    present = set() if report.dataset_created else {r["external_id"] for r in connection.records(
        target.id, page_bytes=media.PAGE_BYTES if fields else None) if r.get("external_id")}

    def fail(reject: Reject) -> None:
        sink.rejects.write(reject.to_json())
        sink.reasons[reject.reason] += 1
        report.failed += 1
        report.first_failure = report.first_failure or f"{reject.source} record {reject.index}: {reject.message}"

    batch: list[Task] = []
    chars = 0  # of the batch's image fields: a request stays far below the server's memory
    sent: set[str] = set()
    for pair in chain(head, pairs):
        report.pairs += 1
        try:
            media.check_room(len(pair.images), fields, dataset)
            images = media.load_images(pair)
            item = task(pair, seed, question_id, [image.key for image in images])
            if item.id in present:
                report.already_present += 1
                continue
            if item.id in sent:
                report.duplicates += 1
                continue
            shown = media.field_values(images)
        except RowProblem as problem:
            fail(Reject(*origin(pair), problem.reason, problem.message, pair.model_dump(mode="json")))
            continue
        item.body["fields"].update(shown)
        sent.add(item.id)
        batch.append(item)
        chars += sum(map(len, shown.values()))
        if len(batch) >= batch_size or chars >= media.BATCH_CHARS:
            _send(connection, target.id, batch, report, fail)
            batch, chars = [], 0
            if progress:
                progress(report.created + report.already_present + report.duplicates + report.failed, report.pairs)
    if batch:
        _send(connection, target.id, batch, report, fail)
    if progress:
        progress(report.pairs, report.pairs)
    return counted(report, sink)


def counted(report: Any, sink: Any) -> Any:
    """``report`` with the records read and rejected on the way (the reject sink's counts), for every backend."""
    report.input_records = sum(s.input_records for s in sink.sources)
    report.rejected = sum(s.rejected for s in sink.sources)
    report.rejected_by_reason = dict(sink.reasons.most_common())
    if sink.first_reject is not None and report.first_failure is None:
        first = sink.first_reject
        report.first_failure = f"{first.source} record {first.index}: {first.message}"
    return report


def _covered(pairs: Iterator[UnlabeledPair], sink: Sink) -> Iterator[UnlabeledPair]:
    """Each pair counted as used as it is read (before its source's records are tallied)."""
    for pair in pairs:
        sink.cover(pair)
        yield pair


def _image_fields(head: list[UnlabeledPair], requested: int | None) -> int:
    """Image fields of a new dataset: as requested, else none for pairs without images, else room for the most
    images a first pair has (at least layout.IMAGE_FIELDS, at most media.MAX_IMAGE_FIELDS)."""
    if requested is not None:
        return requested
    most = max((len(pair.images) for pair in head), default=0)
    return min(max(layout.IMAGE_FIELDS, most), media.MAX_IMAGE_FIELDS) if most else 0


def _existing(connection: Connection, name: str, workspace: str, report: PushReport) -> Any:
    with connection.errors(f"looking up dataset {name!r}"):
        found = connection.client.datasets(name, workspace=workspace)
    if found is not None:
        layout.check(found, f"dataset {name!r} in workspace {workspace!r}")
        report.min_submitted = found.settings.distribution.min_submitted
    return found


def _create(connection: Connection, name: str, workspace: str, guidelines: str | None, min_submitted: int,
            images: int, report: PushReport) -> Any:
    import argilla as rg

    with connection.errors(f"creating dataset {name!r}"):
        created = rg.Dataset(name=name, workspace=workspace, client=connection.client,
                             settings=layout.settings(guidelines, min_submitted, images)).create()
    report.dataset_created = True
    report.image_fields = images
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
