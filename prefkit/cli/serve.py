"""``prefkit serve``."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from .common import err_console


def command(
    config: Path = typer.Argument(..., help="An inference YAML (infer.yaml / infer_base.yaml from prefkit train)."),
    port: int | None = typer.Option(None, "--port", help="Port on 127.0.0.1 (default: a free one)."),
) -> None:
    """Serve a model through LLaMA-Factory's OpenAI-compatible API on 127.0.0.1 until Ctrl-C."""
    from ..handoff.serve import start, stop

    err_console.print(f"starting llamafactory-cli api {config} ...", highlight=False)
    server = start(str(config), port)
    try:
        err_console.print(f"serving: base_url={server.base_url} model={server.model} (log: {server.log_file}); "
                          "Ctrl-C stops it", highlight=False)
        print(server.base_url, server.model, flush=True)
        while server.process.poll() is None:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        stop(server)
    err_console.print("stopped", highlight=False)
