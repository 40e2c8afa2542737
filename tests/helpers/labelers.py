"""Fixtures of the Label Studio tests (imported by the tests/label_studio/ modules; tests/conftest.py marks them):
a real Label Studio (1.23.2, .venv-label-studio) for the session, started by prefkit's own ``label serve`` code,
and ``labeler``: the same test against Argilla and Label Studio.

Annotators answer through the REST API: on Argilla as its UI does (helpers/annotators.py); on Label Studio the
owner posts each annotation with ``completed_by`` set to the annotator (the free edition has no per-user tokens
through the API), which is the record the UI's submit makes.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

LS_EXECUTABLE = ROOT / ".venv-label-studio" / "bin" / "label-studio"
ANNOTATORS = ("ann1", "ann2", "ann3")


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory):
    """A real Label Studio for the session; yields url, token, annotator ids, and the Studio of prefkit.label.serve."""
    if os.environ.get("PREFKIT_SKIP_LABEL_STUDIO") == "1":
        pytest.skip("PREFKIT_SKIP_LABEL_STUDIO=1")
    assert LS_EXECUTABLE.exists(), "no .venv-label-studio: run scripts/setup.sh (or make setup)"
    import httpx

    from prefkit.label.serve import launch, stop, wait_ready

    studio = launch(str(tmp_path_factory.mktemp("label-studio")), executable=str(LS_EXECUTABLE))
    try:
        wait_ready(studio)
        with httpx.Client(base_url=studio.url, headers={"Authorization": f"Token {studio.token}",
                                                        "Connection": "close"}, timeout=30) as client:
            ids = {}
            for name in ANNOTATORS:
                made = client.post("/api/users", json={"email": f"{name}@prefkit.test", "username": name,
                                                       "password": "prefkit-password"})
                made.raise_for_status()
                ids[name] = made.json()["id"]
        yield {"url": studio.url, "key": studio.token, "annotators": ids, "studio": studio}
    finally:
        stop(studio)


@dataclass
class Labeler:
    """One backend as a test uses it: its env is set; ``annotate(name, dataset, decide)`` makes annotator ``name``
    answer every record with ``decide(record)`` (a label, "discard" or None), records as pull reads them."""

    name: str
    key: str
    workspace: list[str]  # CLI arguments
    annotate: Callable[[str, str, Callable[[dict[str, Any]], str | None]], int]
    kwargs: dict[str, Any]  # library arguments (workspace)
    dataset: str  # a dataset name no other test uses (tests/label/ shares the Argilla server)


def _studio_annotate(server: dict[str, Any]) -> Callable[..., int]:
    import httpx

    from prefkit.label import studio_tasks
    from prefkit.label.layout import LABELS

    def annotate(annotator: str, dataset: str, decide: Callable[[dict[str, Any]], str | None]) -> int:
        headers = {"Authorization": f"Token {server['key']}", "Connection": "close"}
        given = 0
        with httpx.Client(base_url=server["url"], headers=headers, timeout=60) as client:
            project = next(p for p in client.get("/api/projects", params={"title": dataset}).json()["results"]
                           if p["title"] == dataset)
            tasks = client.get(f"/api/projects/{project['id']}/export",
                               params={"exportType": "JSON", "download_all_tasks": "true"}).json()
            for task in tasks:
                label = decide(studio_tasks.record(task))
                if label is None:
                    continue
                body: dict[str, Any] = {"completed_by": server["annotators"][annotator], "result": []}
                if label == "discard":
                    body["was_cancelled"] = True
                else:
                    assert label in LABELS
                    body["result"] = [{"from_name": "preference", "to_name": "response_a", "type": "choices",
                                       "value": {"choices": [label]}}]
                client.post(f"/api/tasks/{task['id']}/annotations", json=body).raise_for_status()
                given += 1
        return given

    return annotate


@pytest.fixture(params=[pytest.param("argilla", marks=[pytest.mark.argilla, pytest.mark.xdist_group("argilla")]),
                        pytest.param("label-studio", marks=[pytest.mark.label_studio,
                                                            pytest.mark.xdist_group("label_studio")])])
def labeler(request, monkeypatch) -> Labeler:
    """Each test that uses it runs once on Argilla and once on Label Studio, through the environment a user sets."""
    for name in ("ARGILLA_API_URL", "ARGILLA_API_KEY", "LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY", "PREFKIT_LABEL_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    if request.param == "argilla":
        from helpers.annotators import annotate

        server = request.getfixturevalue("argilla")
        monkeypatch.setenv("ARGILLA_API_URL", server["url"])
        monkeypatch.setenv("ARGILLA_API_KEY", server["key"])
        return Labeler("argilla", server["key"], ["--workspace", "team"],
                       lambda who, dataset, decide: annotate(server, who, dataset, decide), {"workspace": "team"},
                       f"both-{uuid.uuid4().hex[:10]}")
    server = request.getfixturevalue("label_studio")
    monkeypatch.setenv("LABEL_STUDIO_URL", server["url"])
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", server["key"])
    return Labeler("label-studio", server["key"], [], _studio_annotate(server), {}, f"both-{uuid.uuid4().hex[:10]}")
