"""The Argilla connection, and its failures as one-line errors that never show the API key or a password in the URL."""

from __future__ import annotations

import os
import warnings
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import orjson

from ..errors import PrefkitError, RegistryError, ServiceError, UsageError
from ..io.urls import display_url, scrub
from ..registry.info import check_name

if TYPE_CHECKING:
    import argilla as rg


def _sdk() -> Any:
    try:
        import argilla
    except ImportError as error:
        raise UsageError(f"prefkit label needs the Argilla SDK ({error}): pip install 'prefkit[label]'") from None
    return argilla


def check_dataset_name(name: str) -> str:
    """An Argilla dataset name follows the rules of a registry name (it also names files, such as push's
    <dataset>.push-rejects.jsonl): a UsageError before anything is sent or written."""
    try:
        check_name(name)
    except RegistryError as err:
        raise UsageError(f"--dataset: {err}") from None
    return name


class Connection:
    """An authenticated client plus what error messages need (the URL as shown; the key and the URL's credentials
    only to redact them)."""

    def __init__(self, api_url: str | None = None, api_key: str | None = None, timeout: int = 120) -> None:
        self.api_url = (api_url or os.environ.get("ARGILLA_API_URL") or "").rstrip("/")
        self._key = api_key or os.environ.get("ARGILLA_API_KEY") or ""
        if not self.api_url:
            raise UsageError("no Argilla server: pass --api-url or set ARGILLA_API_URL")
        if not self._key:
            raise UsageError("no Argilla API key: pass --api-key or set ARGILLA_API_KEY")
        _sdk()
        self.shown_url = display_url(self.api_url)  # the only form of the URL any message holds
        self.timeout = timeout
        self._client: rg.Argilla | None = None

    @property
    def client(self) -> rg.Argilla:
        """The SDK's client, connected on first use: a command checks its files before it talks to the server."""
        if self._client is None:
            with self.errors("connecting"):
                self._client = _sdk().Argilla(api_url=self.api_url, api_key=self._key, timeout=self.timeout, retries=1)
        return self._client

    def redact(self, text: str) -> str:
        """``text`` (a server's or the SDK's words) without the API key or the URL's credentials."""
        return scrub(text, self.api_url, secrets=(self._key,))

    @contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        """Turn what the SDK and httpx raise into a ServiceError naming the server and what was being done
        (and keep the SDK's warnings, such as "dataset not found" before one is created, off the terminal)."""
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=UserWarning, module="argilla")
                yield
        except PrefkitError:
            raise
        except Exception as error:  # the SDK raises many classes; each is named in the message
            raise ServiceError(self.redact(self.describe(error, doing))) from None

    def describe(self, error: Exception, doing: str) -> str:
        import httpx

        rg = _sdk()
        where = f"Argilla at {self.shown_url}"
        if isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout)):
            return f"cannot reach {where} while {doing}: is the server running and the URL right?"
        if isinstance(error, httpx.TimeoutException):
            return f"{where} did not answer in time while {doing}"
        if isinstance(error, rg._exceptions.ArgillaCredentialsError) or getattr(error, "status_code", 0) == 401:
            return f"{where} rejected the API key (401 Unauthorized): check --api-key or ARGILLA_API_KEY"
        if getattr(error, "status_code", 0) == 403:
            return f"{where} refused {doing} (403 Forbidden): this API key's user lacks the role for it"
        detail = " ".join(str(error).split())
        return f"{where} failed while {doing}: {type(error).__name__}: {detail[:300]}"

    def dataset(self, name: str, workspace: str | None) -> rg.Dataset:
        """An existing dataset (with its settings loaded), or a ServiceError saying what is missing."""
        ws = self.workspace(workspace)
        with self.errors(f"looking up dataset {name!r}"):
            found = self.client.datasets(name, workspace=ws.name)
        if found is None:
            raise ServiceError(f"no dataset {name!r} in workspace {ws.name!r} on Argilla at {self.shown_url}")
        return found

    def workspace(self, name: str | None) -> Any:
        with self.errors("looking up workspaces"):
            if name:
                found = self.client.workspaces(name)
                if found is None:
                    known = ", ".join(sorted(w.name for w in self.client.workspaces)) or "none"
                    raise ServiceError(f"no workspace {name!r} on Argilla at {self.shown_url} (there: {known})")
                return found
            spaces = list(self.client.workspaces)
        if len(spaces) != 1:
            names = ", ".join(sorted(w.name for w in spaces)) or "none"
            raise UsageError(f"pass --workspace: this user has {len(spaces)} workspaces ({names})")
        return spaces[0]

    def usernames(self) -> dict[str, str]:
        """user id -> username (ids where the user may not list users)."""
        with self.errors("listing users"):
            try:
                return {str(u.id): u.username for u in self.client.users}
            except Exception:  # an annotator key cannot list users; ids still identify annotators
                return {}

    # Records go through the SDK's authenticated HTTP client as plain JSON: the SDK's record objects
    # cost more than the server's own work on large pushes and pulls.
    def records(self, dataset_id: Any, include: tuple[str, ...] = (), page: int = 1000,
                page_bytes: int | None = None) -> Iterator[dict[str, Any]]:
        """Every record of the dataset as the REST API returns it, in order. The server needs about a second
        per 1,000 records, so the next pages are fetched while this one is processed (at most 3 in flight).
        ``page_bytes``: records with images carry their data URIs; the first page is then of 20 records, and the
        next ones as many as fit in about ``page_bytes`` (at most ``page``)."""
        def fetch(offset: int, limit: int) -> tuple[dict[str, Any], int]:
            try:
                response = self.client.http_client.get(f"/api/v1/datasets/{dataset_id}/records",
                                                       params={"offset": offset, "limit": limit, "include": list(include)})
                response.raise_for_status()
                return orjson.loads(response.content), len(response.content)
            except Exception as error:
                raise ServiceError(self.redact(self.describe(error, "reading records"))) from None

        first, size = fetch(0, min(page, 20) if page_bytes else page)
        yield from first["items"]
        start = len(first["items"])
        if page_bytes and start:
            page = max(1, min(page, page_bytes * start // size))
        with ThreadPoolExecutor(2) as pool:
            pending: deque[Future] = deque()
            for offset in range(start, first.get("total", 0), page):
                pending.append(pool.submit(fetch, offset, page))
                if len(pending) == 3:
                    yield from pending.popleft().result()[0]["items"]
            while pending:
                yield from pending.popleft().result()[0]["items"]

    def bulk_upsert(self, dataset_id: Any, items: list[dict[str, Any]]) -> tuple[int, str | None]:
        """(records created, None), or (0, the server's reason) when it refused the batch as invalid."""
        with self.errors("sending records"):
            response = self.client.http_client.put(f"/api/v1/datasets/{dataset_id}/records/bulk",
                                                   json={"items": items})
            if response.status_code == 422:
                return 0, self.redact(" ".join(response.text.split()))[:300]
            response.raise_for_status()
            return len(items) - len(response.json().get("updated_item_ids", [])), None
