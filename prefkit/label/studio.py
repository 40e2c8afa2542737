"""Label Studio as a labeling backend (prefkit.label.labeler): a thin client over its REST API (httpx, no SDK).

A dataset is a project of that title (Label Studio has no workspaces: ``--workspace`` is not used), created with
prefkit's labeling config (:mod:`.studio_tasks`) and ``maximum_annotations`` = ``--min-submitted``. Tasks are imported
in batches; re-push reads the project's export for the ids it holds (``meta.prefkit_id``) and imports only the rest.
Every request sends ``Connection: close`` (Label Studio's server stalls on kept-alive connections) and the API token
as ``Authorization: Token ...`` (``label-studio start --enable-legacy-api-token``; ``prefkit label serve`` does that).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import chain, islice
from typing import Any

import orjson

from ..errors import PrefkitError, ServiceError, UsageError
from ..io.urls import display_url, scrub
from ..pipeline.flow import Sink, read_records
from ..readers import ReadOptions
from ..records import Reject, RowProblem, UnlabeledPair
from . import media, studio_tasks
from .labeler import Answered
from .status import Status
from .tasks import origin

WORKSPACE = "label-studio"  # what reports show as the workspace (Label Studio has none)


class StudioConnection:
    """A Label Studio server (URL and API token); nothing is sent before the first request."""

    backend = "label-studio"

    def __init__(self, api_url: str | None = None, api_key: str | None = None, timeout: int = 120) -> None:
        self.api_url = (api_url or os.environ.get("LABEL_STUDIO_URL") or "").rstrip("/")
        self._key = api_key or os.environ.get("LABEL_STUDIO_API_KEY") or ""
        if not self.api_url:
            raise UsageError("no Label Studio server: pass --api-url or set LABEL_STUDIO_URL (prefkit label serve "
                             "starts one)")
        if not self._key:
            raise UsageError("no Label Studio API token: pass --api-key or set LABEL_STUDIO_API_KEY")
        self.shown_url = display_url(self.api_url)
        self.timeout = timeout
        self._client: Any = None

    # --- HTTP ------------------------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        import httpx

        if self._client is None:
            self._client = httpx.Client(base_url=self.api_url, timeout=self.timeout,
                                        headers={"Authorization": f"Token {self._key}", "Connection": "close"})
        return self._client

    def redact(self, text: str) -> str:
        return scrub(text, self.api_url, secrets=(self._key,))

    @contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        """What httpx raises and HTTP errors as one-line ServiceErrors naming the server, never the token."""
        import httpx

        where = f"Label Studio at {self.shown_url}"
        try:
            yield
        except PrefkitError:
            raise
        except (httpx.ConnectError, httpx.ConnectTimeout):
            raise ServiceError(f"cannot reach {where} while {doing}: is the server running and the URL right?") from None
        except httpx.TimeoutException:
            raise ServiceError(f"{where} did not answer in time while {doing}") from None
        except httpx.HTTPStatusError as error:
            code = error.response.status_code
            if code == 401:
                raise ServiceError(f"{where} rejected the API token (401 Unauthorized): check --api-key or "
                                   "LABEL_STUDIO_API_KEY (a legacy token: label-studio start --enable-legacy-api-token)"
                                   ) from None
            detail = " ".join(error.response.text.split())[:300]
            raise ServiceError(self.redact(f"{where} failed while {doing}: HTTP {code}: {detail}")) from None
        except (httpx.HTTPError, ValueError) as error:
            detail = " ".join(str(error).split())[:300]
            raise ServiceError(self.redact(f"{where} failed while {doing}: {type(error).__name__}: {detail}")) from None

    def request(self, method: str, path: str, doing: str, **kwargs: Any) -> Any:
        with self.errors(doing):
            response = self.client.request(method, path, **kwargs)
            response.raise_for_status()
            return orjson.loads(response.content) if response.content else None

    # --- projects and tasks --------------------------------------------------------------------------------
    def project(self, name: str) -> dict[str, Any] | None:
        found = self.request("GET", "/api/projects", f"looking up project {name!r}",
                             params={"title": name, "page_size": 1000})
        items = found.get("results", []) if isinstance(found, dict) else found
        return next((p for p in items if p.get("title") == name), None)

    def existing(self, name: str) -> tuple[dict[str, Any], bool]:
        """(the project, whether it has images), or a ServiceError."""
        found = self.project(name)
        if found is None:
            raise ServiceError(f"no dataset {name!r} (project) on Label Studio at {self.shown_url}")
        return found, studio_tasks.check_config(found.get("label_config", ""), self.where(name))

    def where(self, name: str) -> str:
        return f"dataset {name!r} on Label Studio at {self.shown_url}"

    def export(self, project_id: Any) -> list[dict[str, Any]]:
        """Every task of the project with its annotations."""
        return self.request("GET", f"/api/projects/{project_id}/export", "exporting tasks",
                            params={"exportType": "JSON", "download_all_tasks": "true"})

    def usernames(self) -> dict[str, str]:
        users = self.request("GET", "/api/users", "listing users")
        return {str(u["id"]): u.get("username") or u.get("email") or str(u["id"]) for u in users or []}

    # --- the labeler interface (prefkit.label.labeler) ---------------------------------------------------
    def push_pairs(self, inputs: list[str], dataset: str, connection: Any, workspace: str | None, min_submitted: int,
                   guidelines: str | None, fmt: str, mapping: dict[str, str] | None, seed: int, batch_size: int,
                   sink: Sink, progress: Callable[[int, int], None] | None, image_fields: int | None = None) -> Any:
        from .push import PushReport, counted

        report = PushReport(dataset=dataset, workspace=WORKSPACE, min_submitted=min_submitted)
        options = ReadOptions(target="unlabeled", mapping=mapping or {})

        def covered() -> Iterator[UnlabeledPair]:
            for pair in read_records(inputs, fmt, sink.writer, options, sink):
                sink.cover(pair)
                yield pair

        pairs, head = covered(), []
        project = self.project(dataset)
        if project is None:  # a new project: its first pairs decide whether it shows images
            head = list(islice(pairs, batch_size))
            images = bool(image_fields) if image_fields is not None else any(p.images for p in head)
            project = self.request("POST", "/api/projects", f"creating project {dataset!r}", json={
                "title": dataset, "label_config": studio_tasks.label_config(images), "maximum_annotations": min_submitted,
                "expert_instruction": guidelines or "", "show_instruction": bool(guidelines)})
            report.dataset_created, report.image_fields = True, media.MAX_IMAGE_FIELDS if images else 0
            present: set[str] = set()
        else:
            images = studio_tasks.check_config(project.get("label_config", ""), self.where(dataset))
            report.min_submitted = project.get("maximum_annotations") or min_submitted
            present = {t["meta"]["prefkit_id"] for t in self.export(project["id"]) if (t.get("meta") or {}).get("prefkit_id")}

        def fail(reject: Reject) -> None:
            sink.rejects.write(reject.to_json())
            sink.reasons[reject.reason] += 1
            report.failed += 1
            report.first_failure = report.first_failure or f"{reject.source} record {reject.index}: {reject.message}"

        batch: list[tuple[str, dict[str, Any], UnlabeledPair]] = []
        sent: set[str] = set()
        for pair in chain(head, pairs):
            report.pairs += 1
            try:
                media.check_room(len(pair.images), media.MAX_IMAGE_FIELDS if images else 0, dataset)
                rid, body = studio_tasks.task(pair, seed, media.load_images(pair))
            except RowProblem as problem:
                fail(Reject(*origin(pair), problem.reason, problem.message, pair.model_dump(mode="json")))
                continue
            if rid in present or rid in sent:
                report.already_present += rid in present
                report.duplicates += rid in sent
                continue
            sent.add(rid)
            batch.append((rid, body, pair))
            if len(batch) >= batch_size:
                self._import(project["id"], batch, report, fail)
                batch = []
                if progress:
                    progress(report.created + report.already_present + report.duplicates + report.failed, report.pairs)
        if batch:
            self._import(project["id"], batch, report, fail)
        if progress:
            progress(report.pairs, report.pairs)
        return counted(report, sink)

    def _import(self, project_id: Any, batch: list[tuple[str, dict[str, Any], UnlabeledPair]], report: Any,
                fail: Callable[[Reject], None]) -> None:
        """Import a batch; when the server refuses it, one task at a time to find the culprits."""
        try:
            self.request("POST", f"/api/projects/{project_id}/import", "importing tasks", json=[b for _, b, _ in batch])
            report.created += len(batch)
            return
        except ServiceError as error:
            if len(batch) == 1:
                fail(Reject(*origin(batch[0][2]), "refused_by_label_studio", str(error), batch[0][1]))
                return
        for one in batch:
            self._import(project_id, [one], report, fail)

    def progress(self, dataset: str, workspace: str | None) -> Status:
        project, _ = self.existing(dataset)
        need = project.get("maximum_annotations") or 1
        names = self.usernames()
        out = Status(dataset=dataset, workspace=WORKSPACE, min_submitted=need)
        annotators: dict[str, Counter] = {}
        for exported in self.export(project["id"]):
            record = studio_tasks.record(exported)
            out.total += 1
            submitted = 0
            for response in record["responses"]:
                name = names.get(response["user_id"], response["user_id"])
                annotators.setdefault(name, Counter())[response["status"]] += 1
                submitted += response["status"] == "submitted"
            out.completed += submitted >= need
        out.pending = out.total - out.completed
        out.annotators = {name: dict(counts) for name, counts in sorted(annotators.items())}
        return out

    def answered(self, dataset: str, workspace: str | None) -> Answered:
        project, _ = self.existing(dataset)
        return Answered(workspace=WORKSPACE, where=self.where(dataset), source=f"label-studio:{dataset}",
                        fmt="label-studio", question_id=studio_tasks.PREFERENCE, names=self.usernames(),
                        records=(studio_tasks.record(t) for t in self.export(project["id"])))
