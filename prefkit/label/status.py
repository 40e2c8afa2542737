"""``prefkit label status``: how far the annotators are."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..io.run import Run
from . import layout
from .connection import Connection, check_dataset_name


@dataclass
class Status:
    dataset: str
    workspace: str
    min_submitted: int
    total: int = 0
    completed: int = 0  # records with min_submitted submitted answers
    pending: int = 0
    # username -> {"submitted": n, "discarded": n, "draft": n} over all records
    annotators: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def status(dataset: str, connection: Connection, workspace: str | None = None, report_json: str | None = None) -> Status:
    """How far the annotators are; the report is also written to ``report_json`` when given."""
    check_dataset_name(dataset)
    with Run() as run:
        report_file = run.json("--report-json", report_json)
        report_file.value = (out := _status(dataset, connection, workspace)).to_json()
        run.commit()
    return out


def _status(dataset: str, connection: Connection, workspace: str | None) -> Status:
    target = connection.dataset(dataset, workspace)
    layout.check(target, f"dataset {dataset!r} in workspace {target.workspace.name!r}")
    with connection.errors(f"reading the progress of {dataset!r}"):
        progress = target.progress(with_users_distribution=True)
    out = Status(dataset=dataset, workspace=target.workspace.name,
                 min_submitted=target.settings.distribution.min_submitted, total=progress.get("total", 0),
                 completed=progress.get("completed", 0), pending=progress.get("pending", 0))
    for name, parts in (progress.get("users") or {}).items():
        totals: dict[str, int] = {}
        for part in parts.values():  # "completed" and "pending" records, each by answer status
            for state, n in part.items():
                totals[state] = totals.get(state, 0) + n
        out.annotators[name] = totals
    return out
