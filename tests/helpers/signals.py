"""Signals in tests that stop a child process the way a user would."""

import signal


def as_in_a_terminal() -> None:
    """``preexec_fn``: the child starts with SIGINT and SIGHUP at their defaults, as a command typed in a terminal
    does, even when the test run is itself a background job (SIGINT ignored) or runs under nohup (SIGHUP ignored):
    an ignored disposition is inherited, and Python then installs no KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
