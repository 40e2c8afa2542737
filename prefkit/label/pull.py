"""``prefkit label pull``: submitted answers -> a preference dataset (and its rejects), registered if asked.

Each record's submitted answers are votes for the side shown as A or B; the text shown on that side is
the chosen answer, so the A/B order needs no undoing. Several annotators are resolved by ``--policy``:
``majority`` (more than half of the votes) or ``unanimous``. Ties and "both bad" are rejected, or with
``--to kto --ties kto`` become two desirable (tie) or two undesirable (both bad) examples. Pairs pushed with
images come back with their image paths (:func:`.media.pulled_images`), never the data URIs the page showed.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Any

from ..errors import UsageError
from ..io.run import Run
from ..names import POLICIES
from ..pipeline.convert import check_output_name, default_rejects_path
from ..pipeline.flow import Sink, to_row
from ..records import KtoExample, PreferencePair, Provenance, Reject
from ..registry import info as registry
from ..writers import WRITERS, get_writer
from ..writers.base import adapt
from . import layout, media
from .agreement import PositionCheck, cohen_kappa, krippendorff_alpha
from .connection import Connection, check_dataset_name
from .labeler import Answered
from .tasks import original_fields, pair_fields, suggested, votes

_UNSWAP = {"a": "b", "b": "a"}  # a label given on a record shown swapped, in the input's terms


@dataclass
class PullReport(PositionCheck):
    dataset: str
    workspace: str
    output: str
    to: str
    policy: str
    min_annotations: int
    records: int = 0
    pairs: int = 0  # records that became a preference (or, with --ties kto, a tie or both-bad verdict)
    rows_written: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    rejects_file: str | None = None
    annotators: dict[str, dict[str, int]] = field(default_factory=dict)  # name -> label -> count
    # Position check: of the records decided for A or B, how many for the side shown as A. The order is
    # random per record, so far from half means the annotators favour a side.
    chosen_shown_as_a: int = 0
    chosen_shown_as_b: int = 0
    agreement: dict[str, Any] = field(default_factory=dict)
    # Of the records that carried a suggestion (a judge's verdict, or the input's label: prefkit label push),
    # how far the annotators agree with it: empty when none did (see judge_agreement).
    judge_agreement: dict[str, Any] = field(default_factory=dict)
    dataset_info_entry: dict[str, Any] | None = None
    registered: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def verdict_of(labels: list[str], policy: str, min_annotations: int) -> tuple[str | None, str]:
    """(the verdict, "") or (None, the reason there is none).

    >>> verdict_of(["a", "a", "b"], "majority", 1), verdict_of(["a", "b"], "majority", 1)
    (('a', ''), (None, 'split_vote'))
    >>> verdict_of(["a", "a", "b"], "unanimous", 1), verdict_of(["a"], "majority", 2)
    ((None, 'split_vote'), (None, 'too_few_annotations'))
    """
    if len(labels) < max(min_annotations, 1):
        return None, "too_few_annotations"
    (top, n), *rest = Counter(labels).most_common()
    if (policy == "unanimous" and rest) or 2 * n <= len(labels):
        return None, "split_vote"
    return top, ""


def pull(dataset: str, output: str, connection: Connection, workspace: str | None = None, to: str = "sharegpt",
         policy: str = "majority", min_annotations: int = 1, ties: str = "drop", rejects: str | None = None,
         register: str | None = None, dataset_dir: str | None = None, force: bool = False,
         report_json: str | None = None, progress: Callable[[int], None] | None = None) -> PullReport:
    check_dataset_name(dataset)
    if policy not in POLICIES:
        raise UsageError(f"unknown --policy {policy!r}; choose one of {', '.join(POLICIES)}")
    if ties not in ("drop", "kto") or (ties == "kto" and to != "kto"):
        raise UsageError("--ties is drop or kto, and --ties kto needs --to kto (a tie has no chosen answer)")
    if to == "unlabeled":
        raise UsageError(f"label pull writes answered pairs: --to {', '.join(n for n in WRITERS if n != 'unlabeled')}")
    check_output_name(output)
    rejects_path = rejects or default_rejects_path(output)
    with Run() as run:
        if register and dataset_dir:
            run.registry(registry.info_path(dataset_dir))
        registry.precheck_registration(dataset_dir, register, output, force)
        sink = Sink(run.rows("-o", output), run.rows("--rejects", rejects_path, lines=True), get_writer(to))
        report_file = run.json("--report-json", report_json)
        report = _pull(sink, dataset, connection, workspace, to, policy, min_annotations, ties, register,
                       dataset_dir, force, progress)
        if not sink.rejects.count and not rejects:
            sink.rejects.discard()  # the default rejects file exists only when something was rejected
        report.rejects_file = rejects_path if sink.rejects.count or rejects else None
        report_file.value = report.to_json()
        registry.commit_registered(run, report.dataset_info_entry, sink.writer.registry, dataset_dir, register, force)
    if not sink.rejects.count and not rejects and os.path.exists(rejects_path):
        os.unlink(rejects_path)  # a previous pull's rejects would now be wrong
    return report


def _pull(sink: Sink, dataset: str, connection: Connection, workspace: str | None, to: str, policy: str,
          min_annotations: int, ties: str, register: str | None, dataset_dir: str | None, force: bool,
          progress: Callable[[int], None] | None) -> PullReport:
    """The records of ``dataset`` into ``sink``; the report, but for the rejects file. A backend other than
    Argilla gives its records through ``answered`` (prefkit.label.labeler)."""
    writer = sink.writer
    view = answered(connection, dataset, workspace)
    where, names, question_id, source = view.where, view.names, view.question_id, view.source
    output = sink.out.path if sink.out else ""
    report = PullReport(dataset=dataset, workspace=view.workspace, output=output, to=to, policy=policy,
                        min_annotations=min_annotations)
    per_annotator: dict[str, Counter] = defaultdict(Counter)
    units: list[dict[str, str]] = []  # per record: annotator -> label, for agreement
    judged: list[tuple[str, str | None, dict[str, str]]] = []  # (suggestion, verdict, votes) of suggested records
    # pulled image paths point at the files pushed, from where the trainer reads them (as convert writes them)
    image_dir = dataset_dir if register and dataset_dir else os.path.dirname(os.path.abspath(output))
    seen: set[str] = set()  # offset paging over a dataset that grows meanwhile can repeat a record
    counted = sink.start(source, view.fmt)
    for record in view.records:
        if record["id"] in seen:
            continue
        seen.add(record["id"])
        index = report.records
        report.records += 1
        counted.input_records += 1
        if progress and report.records % 1000 == 0:
            progress(report.records)
        cast = {names.get(user, user): label for user, label in votes(record).items()}
        for name, label in cast.items():
            per_annotator[name][label] += 1
        units.append(cast)
        verdict, reason = verdict_of(list(cast.values()), policy, min_annotations)
        suggestion = suggested(record, question_id)
        if suggestion is not None:  # compared in the input's A/B terms, as a user would compare the files
            unswap = _UNSWAP if (record.get("metadata") or {}).get("position") == "swapped" else {}
            judged.append((unswap.get(suggestion, suggestion), verdict and unswap.get(verdict, verdict),
                           {name: unswap.get(label, label) for name, label in cast.items()}))
        if verdict in ("tie", "both_bad") and ties == "drop":
            reason = verdict
        if reason:
            kept = {"id": record.get("external_id"), "fields": original_fields(record),
                    "metadata": record.get("metadata"), "votes": cast}  # not the server's ids and timestamps
            sink.take(Reject(source, index, reason, _why(reason, cast), kept))
            continue
        report.pairs += 1
        for pair in _records(record, verdict, cast, source, index, writer, image_dir, view.fmt):
            sink.take(to_row(pair, writer))
        report.chosen_shown_as_a += verdict == "a"
        report.chosen_shown_as_b += verdict == "b"
    sink.end()
    sink.require_rows(where)
    report.dataset_info_entry = registry.output_entry(writer, output, dataset_dir)
    report.rows_written = sink.out.count if sink.out else 0
    report.rejected_by_reason = dict(sink.reasons.most_common())
    report.annotators = {name: dict(counts) for name, counts in sorted(per_annotator.items())}
    report.agreement = agreement(units)
    report.judge_agreement = judge_agreement(judged)
    report.registered = register if register and dataset_dir else None
    return report


def answered(connection: Any, dataset: str, workspace: str | None) -> Answered:
    """The labeled dataset as pull (and status) read it: the backend's ``answered``, or Argilla's."""
    if hasattr(connection, "answered"):
        return connection.answered(dataset, workspace)
    return _argilla_answered(connection, dataset, workspace)


def _argilla_answered(connection: Connection, dataset: str, workspace: str | None) -> Answered:
    target = connection.dataset(dataset, workspace)
    where = f"dataset {dataset!r} in workspace {target.workspace.name!r}"
    layout.check(target, where)
    page_bytes = media.PAGE_BYTES if layout.image_fields(target) else None
    return Answered(workspace=target.workspace.name, where=where, source=f"argilla:{target.workspace.name}/{dataset}",
                    fmt="argilla", question_id=str(target.settings.questions[layout.PREFERENCE].id),
                    names=connection.usernames(),
                    records=connection.records(target.id, include=("responses", "suggestions"), page_bytes=page_bytes))


def _why(reason: str, cast: dict[str, str]) -> str:
    votes_text = ", ".join(f"{name}: {label}" for name, label in sorted(cast.items())) or "no submitted answers"
    return {"too_few_annotations": "not enough submitted answers", "split_vote": "the annotators disagree",
            "tie": "the verdict is a tie", "both_bad": "the verdict is that both responses are bad"}[reason] + \
        f" ({votes_text})"


def _records(record: dict[str, Any], verdict: str, cast: dict[str, str], source: str, index: int,
             writer: Any, image_dir: str, fmt: str = "argilla") -> list[PreferencePair | KtoExample]:
    system, tools, prompt, a, b = pair_fields(record)
    images = media.pulled_images(record.get("metadata") or {}, image_dir)
    base = dict(system=system, tools=tools, prompt=prompt, annotators=sorted(cast), images=images,
                provenance=Provenance(source=source, index=index, format=fmt),
                metadata={f"{fmt.replace('-', '_')}_id": record.get("external_id"), "votes": dict(Counter(cast.values()))})
    if verdict in ("a", "b"):
        chosen, rejected = (a, b) if verdict == "a" else (b, a)
        records = adapt(PreferencePair(chosen=chosen, rejected=rejected, **base), writer)
    else:  # --ties kto: a tie makes both answers desirable, "both bad" both undesirable
        base.pop("annotators")
        records = [KtoExample(completion=answer, label=verdict == "tie", **base) for answer in (a, b)]
    assert isinstance(records, list)  # a pair always fits every writer
    return records


def agreement(units: list[dict[str, str]]) -> dict[str, Any]:
    """Cohen's kappa for two annotators, Krippendorff's alpha for more, with the records each rests on."""
    annotators = sorted({name for unit in units for name in unit})
    if len(annotators) < 2:
        return {"method": None, "value": None, "records": 0, "annotators": len(annotators)}
    if len(annotators) == 2:
        both = [(u[annotators[0]], u[annotators[1]]) for u in units if len(u) == 2]
        return {"method": "cohen_kappa", "value": cohen_kappa(both), "records": len(both), "annotators": 2}
    shared = [list(u.values()) for u in units if len(u) >= 2]
    pairwise = {f"{x}/{y}": cohen_kappa([(u[x], u[y]) for u in units if x in u and y in u])
                for x, y in combinations(annotators, 2)}
    return {"method": "krippendorff_alpha", "value": krippendorff_alpha(shared), "records": len(shared),
            "annotators": len(annotators), "pairwise_kappa": pairwise}


def judge_agreement(judged: list[tuple[str, str | None, dict[str, str]]]) -> dict[str, Any]:
    """Cohen's kappa between the suggestion each record carried and the annotators' verdict (by --policy: split
    votes and records with too few answers have none), over the records with both; and each annotator's own
    labels against the suggestion. Labels are in the input's A/B terms (a record shown swapped is turned back):
    kappa's chance term depends on the frame, and that one is the frame of the judged file. Empty without
    suggestions.

    >>> r = judge_agreement([("a", "a", {"x": "a"}), ("b", "a", {"x": "a", "y": "b"}), ("b", "b", {"y": "b"}),
    ...                      ("a", None, {})])
    >>> round(r["value"], 3), r["records"], r["agreed"], r["records_with_suggestion"], r["per_annotator"]["y"]
    (0.4, 3, 2, 4, {'value': None, 'records': 2, 'agreed': 2})
    """
    if not judged:
        return {}
    decided = [(s, v) for s, v, _ in judged if v is not None]
    per: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for s, _, cast in judged:
        for name, label in cast.items():
            per[name].append((s, label))
    return {"method": "cohen_kappa", "value": cohen_kappa(decided), "records": len(decided),
            "agreed": sum(s == v for s, v in decided), "records_with_suggestion": len(judged),
            "per_annotator": {name: {"value": cohen_kappa(p), "records": len(p), "agreed": sum(s == x for s, x in p)}
                              for name, p in sorted(per.items())}}
