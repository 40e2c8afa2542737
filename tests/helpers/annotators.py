"""Annotators who answer through the REST API as Argilla's UI does (the server: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PENDING = {"and": [{"type": "terms", "scope": {"entity": "response", "property": "status"}, "values": ["pending"]}]}


def dataset_id(argilla: dict[str, Any], name: str) -> str:
    server = argilla["server"]
    found = server.request("GET", f"/api/v1/me/datasets?name={name}")
    return next(d["id"] for d in found["items"] if d["name"] == name)


def annotate(argilla: dict[str, Any], annotator: str, dataset: str,
             decide: Callable[[dict[str, Any]], str | None]) -> int:
    """``annotator`` walks its queue of pending records as the UI does and submits ``decide(record)``
    (a label, "discard", or None to skip). Returns the number of answers given."""
    server = argilla["server"]
    key, did = argilla["annotators"][annotator], dataset_id(argilla, dataset)
    given, offset = 0, 0
    while True:
        page = server.request("POST", f"/api/v1/me/datasets/{did}/records/search?limit=50&offset={offset}",
                              {"filters": PENDING}, api_key=key)
        if not page["items"]:
            return given
        skipped = 0
        for item in page["items"]:
            record = item["record"]
            label = decide(record)
            if label is None:
                skipped += 1
                continue
            body = ({"status": "discarded"} if label == "discard" else
                    {"values": {"preference": {"value": label}}, "status": "submitted"})
            server.request("POST", f"/api/v1/records/{record['id']}/responses", body, api_key=key)
            given += 1
        offset += skipped  # answered records leave the queue; skipped ones stay ahead of the offset
