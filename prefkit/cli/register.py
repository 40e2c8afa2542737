"""``prefkit register``."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import DataError, UsageError
from ..kinds import BUILTIN
from .common import QUIET, err_console

V0_LAYOUTS = ", ".join(next(k for k in BUILTIN["targets"] if k.name == "lf").layouts)  # dataset_info.json's


def command(
    name: str | None = typer.Argument(None, help="Dataset name to register (no blanks)."),
    file: Path | None = typer.Option(None, "--file", help="The dataset file, inside --dataset-dir."),
    dataset_dir: Path = typer.Option(..., "--dataset-dir", help="LLaMA-Factory dataset dir holding dataset_info.json."),
    layout: str | None = typer.Option(None, "--layout", "--format", help=f"{V0_LAYOUTS} (default: detected)."),
    force: bool = typer.Option(False, "--force", help="Replace a different entry of the same name."),
    lint: bool = typer.Option(False, "--check", help="Check the whole dataset_info.json instead; exit 1 on problems."),
    quiet: bool = QUIET,
) -> None:
    """Register a dataset file in dataset_info.json, or check the whole registry with --check."""
    if lint:
        from ..registry.lint import check

        problems = check(str(dataset_dir))
        for problem in problems:
            err_console.print(problem, markup=False, highlight=False, soft_wrap=True)
        if problems:
            raise DataError(f"{len(problems)} problem(s) in {dataset_dir}/dataset_info.json")
        if not quiet:
            err_console.print(f"{dataset_dir}/dataset_info.json: ok", highlight=False)
        return
    if not name or file is None:
        raise UsageError("give NAME and --file (or --check)")
    from ..registry.add import registration

    entry, status = registration(name, str(file), str(dataset_dir), force=force, layout=layout)
    if not quiet:
        said = {"added": f"registered {name!r}", "replaced": f"replaced {name!r}",
                "unchanged": f"unchanged {name!r} (already registered)"}[status]
        err_console.print(f"{said}: {entry}", markup=False, highlight=False, soft_wrap=True)
