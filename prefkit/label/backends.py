"""Which labeling backend a command talks to, and its connection (see prefkit.label.labeler)."""

from __future__ import annotations

import os
from typing import Any

from ..errors import UsageError

BACKENDS = ("argilla", "label-studio")


def backend_for(backend: str | None, api_url: str | None) -> str:
    """``--backend``, else the one whose URL is given or set (LABEL_STUDIO_URL / ARGILLA_API_URL), else Argilla.

    >>> backend_for(None, None) in BACKENDS
    True
    """
    if backend:
        if backend not in BACKENDS:
            raise UsageError(f"unknown --backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        return backend
    if os.environ.get("PREFKIT_LABEL_BACKEND"):
        return backend_for(os.environ["PREFKIT_LABEL_BACKEND"], api_url)
    if not api_url and os.environ.get("LABEL_STUDIO_URL") and not os.environ.get("ARGILLA_API_URL"):
        return "label-studio"
    return "argilla"


def connect(backend: str | None, api_url: str | None, api_key: str | None) -> Any:
    """The connection of the chosen backend (nothing is sent yet)."""
    if backend_for(backend, api_url) == "label-studio":
        from .studio import StudioConnection

        return StudioConnection(api_url, api_key)
    from .connection import Connection

    return Connection(api_url, api_key)
