"""The labeler interface: what ``label push|status|pull`` need of a labeling backend, and the backends.

push, status and pull own the guarantees (every record pushed or rejected, seeded A/B order undone on pull, ties
and split votes to the rejects, agreement and position bias); a backend only moves records. Argilla
(:mod:`.connection`, its code in push/status/pull) is the first; Label Studio (:mod:`.studio`) implements:

- ``push_pairs(...)``: the same signature and report as push's ``_push`` (pairs in, a PushReport out);
- ``progress(dataset, workspace)``: a Status;
- ``answered(dataset, workspace)``: an :class:`Answered`, its records in Argilla's REST shape (``external_id``,
  ``fields``, ``metadata``, ``responses[].values.preference.value``, ``suggestions``), which pull reads.

A backend is one module, a Backend spec in prefkit.label.backends and one line in prefkit.kinds.LABELERS (which
backend_for picks and connect connects).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass
class Answered:
    """A labeled dataset as pull reads it, whichever backend holds it."""

    workspace: str
    where: str  # "dataset 'x' in workspace 'y'": for messages
    source: str  # provenance source of pulled rows: "argilla:ws/name", "label-studio:name"
    fmt: str  # provenance format: "argilla", "label-studio"
    question_id: str  # the id suggestions carry
    names: dict[str, str]  # user id -> username
    records: Iterable[dict[str, Any]]
