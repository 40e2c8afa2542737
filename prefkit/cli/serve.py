"""``prefkit serve``."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from ..errors import PrefkitError
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
    from ..handoff.serve import launch, read_config, stop, wait_ready
    from ..processes import Signalled, stop_on_signals

    if not trust_remote_code and config.is_file() and read_config(str(config)).get("trust_remote_code") is True:
        err_console.print(f"note: {config} sets trust_remote_code: true; prefkit serve runs without it unless given "
                          "--trust-remote-code", highlight=False, soft_wrap=True)
    with stop_on_signals():  # SIGTERM / SIGHUP: Signalled here, the server is stopped, then prefkit ends by the signal
        server = launch(str(config), port, trust_remote_code=trust_remote_code)
        pid, stage = server.process.pid, "while the model was loading"
        try:
            err_console.print(f"starting llamafactory-cli api {config} (pid {pid}; log: {server.log_file}) ...",
                              highlight=False, soft_wrap=True)
            wait_ready(server)
            stage = "while serving"
            key = "; requires the API_KEY of the environment" if server.api_key else ""
            err_console.print(f"serving: base_url={server.base_url} model={server.model}{key}; Ctrl-C stops it",
                              highlight=False, soft_wrap=True)
            print(server.base_url, server.model, flush=True)
            while server.process.poll() is None:
                time.sleep(1)
            raise PrefkitError(f"llamafactory-cli api (pid {pid}) exited with {server.process.returncode} while "
                               f"serving; log: {server.log_file}")
        except KeyboardInterrupt:
            stop(server)
            if stage == "while serving":  # the way to end it: not an error
                err_console.print(f"prefkit serve: stopped the API server (pid {pid})", highlight=False, soft_wrap=True)
                return
            err_console.print(f"prefkit serve: interrupted {stage}; stopped the API server (pid {pid})",
                              highlight=False, soft_wrap=True)
            raise typer.Exit(130) from None
        except Signalled as signalled:
            stop(server)
            err_console.print(f"prefkit serve: {signalled.name} {stage}; stopped the API server (pid {pid})",
                              highlight=False, soft_wrap=True)
            raise
        finally:
            stop(server)
