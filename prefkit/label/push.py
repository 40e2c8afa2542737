"""``prefkit label push``: pairs (labeled or not) -> an Argilla dataset of pairs to label.

The input is read by ``prefkit convert --unlabeled`` (any format, every record accounted for), then sent
in batches. Records already in the dataset are skipped by id, so a second push creates no duplicates
and a push that was interrupted resumes where it stopped.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from ..convert import convert
from ..errors import UsageError
from ..readers import ReadOptions, get_reader
from ..records import Reject, RowProblem, UnlabeledPair
from ..sources import iter_rows
from ..writers import AtomicOutput
from . import layout
from .connection import Connection
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
         seed: int = 0, rejects: str | None = None, batch_size: int = BATCH,
         progress: Callable[[int, int], None] | None = None) -> PushReport:
    """Push ``inputs`` to ``dataset``; ``progress(done, total)`` is called after each batch."""
    if not 1 <= batch_size <= 500:
        raise UsageError(f"--batch-size {batch_size}: Argilla takes 1 to 500 records a request")
    ws = connection.workspace(workspace)
    report = PushReport(dataset=dataset, workspace=ws.name, min_submitted=min_submitted)
    rejects = rejects or os.path.join(os.path.dirname(os.path.abspath(inputs[0])), f"{dataset}.push-rejects.jsonl")
    with tempfile.TemporaryDirectory(prefix="prefkit-push-") as tmp:
        pairs_file, tmp_rejects = os.path.join(tmp, "pairs.jsonl"), os.path.join(tmp, "rejects.jsonl")
        read = convert(inputs, pairs_file, fmt=fmt, to="unlabeled", rejects=tmp_rejects, mapping=mapping)
        report.input_records, report.rejected, report.pairs = read.input_records, read.rejected, read.pairs_written
        reasons = Counter(read.rejected_by_reason)
        target = _dataset(connection, dataset, ws.name, guidelines, min_submitted, report)
        question_id = str(target.settings.questions[layout.PREFERENCE].id)
        present = set() if report.dataset_created else \
            {r["external_id"] for r in connection.records(target.id) if r.get("external_id")}
        with AtomicOutput(tmp_rejects + ".push", lines=True) as failed:
            def fail(reject: Reject) -> None:
                failed.write(reject.to_json())
                reasons[reject.reason] += 1
                report.failed += 1

            batch: list[Task] = []
            sent: set[str] = set()
            for item in _tasks(pairs_file, seed, question_id, fail):
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
                        progress(report.created + report.already_present + report.duplicates + report.failed,
                                 report.pairs)
            if batch:
                _send(connection, target.id, batch, report, fail)
            if progress:
                progress(report.pairs, report.pairs)
        report.rejected_by_reason = dict(reasons.most_common())
        if report.rejected_by_reason:
            _merge(rejects, [tmp_rejects, tmp_rejects + ".push"])
            report.rejects_file = rejects
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


def _tasks(pairs_file: str, seed: int, question_id: str, fail: Callable[[Reject], None]) -> Iterator[Task]:
    for item in get_reader("pairwise")(iter_rows(pairs_file), ReadOptions(target="unlabeled")):
        if not isinstance(item, UnlabeledPair):  # convert wrote these rows itself: a failure here is a bug
            raise RuntimeError(f"internal error: {pairs_file}: cannot read back a pair to label: {item}")
        try:
            yield task(item, seed, question_id)
        except RowProblem as problem:
            fail(Reject(*origin(item), problem.reason, problem.message, item.model_dump(mode="json")))


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


def _merge(target: str, parts: list[str]) -> None:
    with open(target + ".tmp", "wb") as out:
        for part in parts:
            if os.path.exists(part):
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out)
    os.replace(target + ".tmp", target)
