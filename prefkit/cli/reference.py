"""The CLI reference page of the docs, written from the typer app itself so that it cannot drift.

``python -m prefkit.cli.reference docs/reference/cli.md`` (``make docs`` runs it); tests/test_docs.py fails when
the committed page differs from what this writes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import typer

HEADER = """# CLI reference

Every command and option of `prefkit`, written from the command-line app itself (`make docs` regenerates this
page; a test fails when it is out of date). `prefkit COMMAND --help` prints the same in a terminal.
"""


# typer 0.29 vendors click (typer._click), so commands and parameters are read by their attributes here.
def commands(group: Any, prefix: str = "prefkit") -> Iterator[tuple[str, Any]]:
    """Each command of the app with its full name, subcommands of a group after the group, in app order."""
    for name, command in group.commands.items():
        if command.hidden:
            continue
        full = f"{prefix} {name}"
        yield full, command
        if hasattr(command, "commands"):
            yield from commands(command, full)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _param_row(param: Any, ctx: Any) -> str:
    """One table row from the parameter's own help record: its names with their value and its help with the
    default, as ``--help`` prints them."""
    record = param.get_help_record(ctx)
    names, help_text = record if record else ((param.metavar or param.name).upper(), "")
    return f"| `{_cell(names)}` | {_cell(help_text or getattr(param, 'help', None) or '')} |"


def command_page(full: str, command: Any) -> str:
    """The section of one command: usage, its help, its arguments and its options."""
    ctx = command.context_class(command, info_name=full)
    lines = [f"## `{full}`", "", f"```\n{command.get_usage(ctx).removeprefix('Usage: ')}\n```", ""]
    if command.help:
        lines += [command.help.strip(), ""]
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    options = [p for p in command.params if p.param_type_name == "option" and not p.hidden]
    if arguments:
        lines += ["| Argument | Help |", "|---|---|", *(_param_row(p, ctx) for p in arguments)]
        lines.append("")
    if options:
        lines += ["| Option | Help |", "|---|---|", *(_param_row(p, ctx) for p in options)]
        lines.append("")
    return "\n".join(lines)


def reference(app: typer.Typer) -> str:
    root = typer.main.get_command(app)
    return "\n".join([HEADER, *(command_page(full, command) for full, command in commands(root))])


def main() -> None:
    from ..io.files import write_bytes
    from . import app

    text = reference(app)
    if len(sys.argv) > 1:
        write_bytes(sys.argv[1], text.encode("utf-8"))
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
