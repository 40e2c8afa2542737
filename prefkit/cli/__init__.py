"""The ``prefkit`` command: thin typer commands over the library, one module per command.

Errors become ``Error: <one line>`` on stderr with the error's exit code here, in one place
(``_OneLineErrors.invoke``): a PrefkitError its own code, an OSError (permissions, disk) 2, a bug 1; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import sys

import typer
from typer.core import TyperGroup

from .. import errors
from ..errors import PrefkitError
from . import common, convert, evaluate, generate, judge, label, register, serve, train, validate
from .common import err_console, spread_multi_values


class _OneLineErrors(TyperGroup):
    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, spread_multi_values(args))

    def invoke(self, ctx: typer.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except PrefkitError as error:
            if ctx.meta.get("prefkit.debug"):
                raise
            err_console.print(f"Error: {error}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(error.exit_code) from None
        except OSError as error:  # a file the system refuses: permissions, a full disk, a path that is a folder
            if ctx.meta.get("prefkit.debug"):
                raise
            where = f"{error.filename}: " if error.filename else ""
            err_console.print(f"Error: {where}{error.strerror or error}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            from ..io.run import kept

            said = f"the results so far are kept ({', '.join(kept)}); run the same command again to go on" if kept \
                else "no output was written"
            err_console.print(f"Interrupted: {said}.", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except Exception as error:  # a bug: say so in one line, with the way to see more
            if ctx.meta.get("prefkit.debug"):
                raise
            err_console.print(f"Error: internal error: {type(error).__name__}: {error} (run with --debug for "
                              "the traceback and please report it)", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        finally:
            errors.DEBUG = False  # --debug is for this command only (an app run in-process, as tests do, goes on)


app = typer.Typer(cls=_OneLineErrors, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Create, validate and hand off preference datasets for LLaMA-Factory.")


@app.callback()
def _root(ctx: typer.Context,
          debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors.")) -> None:
    ctx.meta["prefkit.debug"] = debug
    errors.DEBUG = debug  # an unexpected exception in one record stops the run with its traceback


app.command("convert", no_args_is_help=True)(convert.command)
app.command("register")(register.command)
app.command("validate", no_args_is_help=True)(validate.command)
app.command("train", no_args_is_help=True)(train.command)
app.command("serve", no_args_is_help=True)(serve.command)
app.command("eval", no_args_is_help=True)(evaluate.command)
app.command("generate", no_args_is_help=True)(generate.command)
app.command("judge", no_args_is_help=True)(judge.command)
app.add_typer(label.app, name="label")


def main() -> None:
    common.OWN_PROCESS = True  # the commands may shape this process (validate keeps torch out of it)
    sys.exit(app())
