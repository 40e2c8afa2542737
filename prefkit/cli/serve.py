"""``prefkit serve``."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import err_console


def command(
    config: Path = typer.Argument(..., help="An inference YAML (infer.yaml / infer_base.yaml from prefkit train)."),
    port: int | None = typer.Option(None, "--port", help="Port on 127.0.0.1 (default: a free one)."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Let LLaMA-Factory run the model "
                                           "folder's own Python code (auto_map). Only for a folder you trust."),
) -> None:
    """Serve a model through LLaMA-Factory's OpenAI-compatible API on 127.0.0.1 until Ctrl-C (or SIGTERM).

    With API_KEY in the environment the API requires it (as a Bearer token); prefkit's own probe sends it.
    """
    from ..serving.serve import serve_until_stopped

    say = lambda line: err_console.print(line, markup=False, highlight=False, soft_wrap=True)  # noqa: E731
    try:
        serve_until_stopped(str(config), port, trust_remote_code, say=say,
                            ready=lambda server: print(server.base_url, server.model, flush=True))
    except KeyboardInterrupt:  # while the model loaded: said and stopped already
        raise typer.Exit(130) from None
