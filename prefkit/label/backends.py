"""Which labeling backend a command talks to, and its connection (see prefkit.label.labeler).

Each backend is a :class:`Backend` spec, listed in prefkit.kinds' LABELERS table (or added by a package through the
``prefkit.labelers`` entry points): its name, the environment variable of its server's URL and the class of its
connection, imported only when it connects.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any

from .. import kinds


@dataclass(frozen=True)
class Backend:
    """A labeling backend: ``name`` (``--backend``), ``url_env`` (the variable its server's URL is set in) and
    ``connection`` (``"module:class"``, the module relative to prefkit.label), built with (api_url, api_key)."""

    name: str
    url_env: str
    connection: str

    def connect(self, api_url: str | None, api_key: str | None) -> Any:
        module, _, name = self.connection.partition(":")
        return getattr(importlib.import_module(module, __package__), name)(api_url, api_key)


ARGILLA = Backend("argilla", "ARGILLA_API_URL", ".connection:Connection")
LABEL_STUDIO = Backend("label-studio", "LABEL_STUDIO_URL", ".studio:StudioConnection")


def backend_for(backend: str | None, api_url: str | None) -> str:
    """``--backend``, else ``PREFKIT_LABEL_BACKEND``, else (no ``--api-url``) the one backend whose URL variable is
    set (LABEL_STUDIO_URL / ARGILLA_API_URL), else the first: Argilla.

    >>> backend_for(None, None) in kinds.names("labelers")
    True
    """
    if backend:
        return kinds.find("labelers", backend).name  # a UsageError that lists the choices
    if os.environ.get("PREFKIT_LABEL_BACKEND"):
        return backend_for(os.environ["PREFKIT_LABEL_BACKEND"], api_url)
    listed = kinds.kinds("labelers")
    if not api_url:
        set_up = [kind.name for kind in listed if (env := getattr(kind.load(), "url_env", "")) and os.environ.get(env)]
        if len(set_up) == 1:
            return set_up[0]
    return listed[0].name


def connect(backend: str | None, api_url: str | None, api_key: str | None) -> Any:
    """The connection of the chosen backend (nothing is sent yet)."""
    return kinds.find("labelers", backend_for(backend, api_url)).load().connect(api_url, api_key)
