"""prefkit's errors. Each message is one line that says what is wrong, where, and how to fix it.

The CLI turns a PrefkitError into ``Error: <message>`` on stderr and exits with ``exit_code``.
"""


class PrefkitError(Exception):
    """A problem the user can fix. Exit code 2: usage, missing file, bad configuration."""

    exit_code = 2


class UsageError(PrefkitError):
    """Options that do not fit together, an unknown format name, a bad --map."""


class SourceTypeError(UsageError, TypeError):
    """The Python API was given a source, a row or a value of a type it does not take (a TypeError, too)."""


class SourceValueError(UsageError, ValueError):
    """The Python API was given a source of the right type that holds nothing to work on (a ValueError, too)."""


class InputError(PrefkitError):
    """An input that cannot be read at all (missing, unreadable, empty, not the declared format)."""


class RegistryError(PrefkitError):
    """dataset_info.json cannot be read or the requested change conflicts with it."""


class DataError(PrefkitError):
    """The data was read but has errors (exit 1)."""

    exit_code = 1


class ServiceError(PrefkitError):
    """A server prefkit talks to (Argilla) cannot be reached, refuses the credentials, or lacks what was asked."""


# Set by ``prefkit --debug``: an unexpected exception inside one record stops the run with its traceback
# instead of becoming that record's reject.
DEBUG = False


def unexpected(err: Exception, field: str = "") -> tuple[str, str]:
    """(reason code, message) for an exception raised while processing one record (re-raised under --debug)."""
    if DEBUG:
        raise err
    where = f"field {field!r}: " if field else ""
    if isinstance(err, RecursionError):
        return "too_deep", f"{where}a value nested too deep to process"
    if isinstance(err, OverflowError) or (isinstance(err, ValueError) and "digits" in str(err)):
        return "number_out_of_range", f"{where}a number out of range ({str(err)[:80]})"
    return "unexpected_value", f"{where}{type(err).__name__}: {str(err)[:160]}"


# Exit codes of the commands that send requests (generate, judge, eval): 0 every request answered; 1 none was
# (total failure); 3 some failed (counted in the summary and the report; run the command again to resume).
PARTIAL = 3


def requests_exit_code(succeeded: int, failed: int) -> int:
    """The exit code of a run that sent requests: 0 all answered, 1 none answered, PARTIAL some failed."""
    if not failed:
        return 0
    return 1 if not succeeded else PARTIAL


def first_line(err: BaseException) -> str:
    """The line of an exception's text worth showing: its last ``...Error...`` line (a worker's remote traceback
    ends with the real error), else its first line; at most 300 characters."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line and not line.startswith(("File ", "Traceback"))]
    return (errors[-1] if errors else lines[0] if lines else type(err).__name__)[:300]
