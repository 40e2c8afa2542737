"""``prefkit label status``: how far the annotators are, how far they agree, and whether they favour a side.

Agreement and the position check are pull's own (:func:`.pull.agreement`, :func:`.agreement.position_share`), over
the submitted answers as a pull with its defaults (``--policy majority --min-annotations 1``) would count them; on
every backend (the records come through :func:`.pull.answered`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..io.run import Run
from . import layout
from .agreement import PositionCheck
from .connection import Connection, check_dataset_name
from .pull import agreement, answered, verdict_of
from .tasks import votes


@dataclass
class Status(PositionCheck):
    dataset: str
    workspace: str
    min_submitted: int
    total: int = 0
    completed: int = 0  # records with min_submitted submitted answers
    pending: int = 0
    # username -> {"submitted": n, "discarded": n, "draft": n} over all records
    annotators: dict[str, dict[str, int]] = field(default_factory=dict)
    # as in pull's report: Cohen's kappa / Krippendorff's alpha, and the records decided for the side shown as A / B
    agreement: dict[str, Any] = field(default_factory=dict)
    chosen_shown_as_a: int = 0
    chosen_shown_as_b: int = 0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "position_share": self.position_share, "position_biased": self.position_biased}


def status(dataset: str, connection: Connection, workspace: str | None = None, report_json: str | None = None) -> Status:
    """How far the annotators are; the report is also written to ``report_json`` when given."""
    check_dataset_name(dataset)
    with Run() as run:
        report_file = run.json("--report-json", report_json)
        progress = getattr(connection, "progress", None) or (lambda d, w: _status(d, connection, w))  # see labeler
        out = progress(dataset, workspace)
        _judge(out, connection, dataset, workspace)
        report_file.value = out.to_json()
        run.commit()
    return out


def _judge(out: Status, connection: Any, dataset: str, workspace: str | None) -> None:
    """Agreement and the position check of ``out``, from the submitted answers (as a default pull counts them)."""
    view = answered(connection, dataset, workspace)
    units: list[dict[str, str]] = []
    seen: set[Any] = set()
    for record in view.records:
        if record["id"] in seen:  # offset paging over a growing dataset can repeat a record (as in pull)
            continue
        seen.add(record["id"])
        cast = {view.names.get(user, user): label for user, label in votes(record).items()}
        units.append(cast)
        verdict, _ = verdict_of(list(cast.values()), "majority", 1)
        out.chosen_shown_as_a += verdict == "a"
        out.chosen_shown_as_b += verdict == "b"
    out.agreement = agreement(units)


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
