"""Every process prefkit starts, and how it is stopped on every way out.

- :func:`spawn` starts a child in a process group of its own that dies with prefkit: the kernel kills it when
  prefkit dies (``PR_SET_PDEATHSIG``), and the watchdog (prefkit/io/watchdog.py) kills its whole group, so even
  ``kill -9`` of prefkit leaves nothing running. :func:`stop_group` stops such a group (a signal, then SIGKILL).
- :func:`adopt` hands processes prefkit did not start itself (a local Ray's) to the watchdog, with their
  descendants; :func:`new_descendants` finds them.
- :func:`stop_on_signals`: inside the block SIGTERM and SIGHUP raise :class:`Signalled` where the main thread is,
  so the ``finally`` blocks on the way out stop the children and remove temporary files; after it prefkit ends
  by that signal, whichever executor ran the work: :func:`keep_signal_handlers` undoes the handlers a library
  installs (``ray.init``'s).
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import PrefkitError
from . import watchdog
from .files import alive

SIGNALS = tuple(s for s in (signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None)
_PR_SET_PDEATHSIG = 1
_lock = threading.Lock()
_watch: subprocess.Popen | None = None


class Signalled(BaseException):  # noqa: N818  (like KeyboardInterrupt: a way out, not an error)
    """SIGTERM or SIGHUP arrived inside :func:`stop_on_signals`."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(self.name)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Inside the block, SIGTERM and SIGHUP raise :class:`Signalled` (a repeat is ignored while the way out runs).
    After it the earlier handlers come back and the signal goes to them: the default one then ends the process by
    that signal; prefkit.io.files's first removes its temporary files; one that returns leaves exit status 128 + the
    signal. A signal that was ignored (nohup) stays ignored. Nested blocks leave it to the outermost."""
    if threading.current_thread() is not threading.main_thread() or getattr(_signal_depth, "n", 0):
        yield
        return
    from . import files as io

    io.install_handlers()  # prefkit.io.files's handlers come first, and are chained to after the block
    caught: list[int] = []

    def handler(signum: int, frame: object) -> None:
        if not caught:
            caught.append(signum)
            raise Signalled(signum)

    previous = {}
    for sig in SIGNALS:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            previous[sig] = signal.signal(sig, handler)
    _signal_depth.n = 1
    try:
        yield
    finally:
        _signal_depth.n = 0
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
        if caught:
            signal.raise_signal(caught[0])
            raise SystemExit(128 + caught[0])


_signal_depth = threading.local()


@contextmanager
def keep_signal_handlers() -> Iterator[None]:
    """Around a library call that installs handlers of its own for SIGTERM / SIGHUP (``ray.init``'s calls
    ``sys.exit(signum)``, which would end prefkit with status 15 instead of by the signal): the handlers as they
    were before come back after it, so :func:`stop_on_signals` (or the default) still decides how prefkit ends.
    A signal that such a handler turned into SystemExit inside the block is marked on it for :func:`resend`."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {sig: signal.getsignal(sig) for sig in SIGNALS}
    try:
        yield
    except SystemExit as err:
        if err.code in before and signal.getsignal(err.code) is not before[err.code]:  # type: ignore[index]
            err.prefkit_signal = err.code  # type: ignore[attr-defined]
        raise
    finally:
        for sig, handler in before.items():
            if signal.getsignal(sig) is not handler:
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def resend(err: BaseException) -> None:
    """Once the way out has cleaned up: a signal that a library's handler turned into ``err`` (see
    :func:`keep_signal_handlers`) is raised again, for prefkit's own handlers (or the default) to end the run."""
    signum = getattr(err, "prefkit_signal", None)
    if signum is not None:
        signal.raise_signal(signum)


def _die_with_parent() -> None:
    """In the child, before exec: the kernel sends SIGKILL when prefkit's thread that started it ends."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the watchdog alone covers it
        pass


def _watchdog() -> subprocess.Popen | None:
    """The watchdog of this process, started on first use (None where it cannot run)."""
    global _watch
    with _lock:
        if _watch is None or _watch.poll() is not None:
            if not os.path.isdir("/proc"):
                return None
            _watch = subprocess.Popen([sys.executable, "-I", watchdog.__file__], stdin=subprocess.PIPE,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            atexit.register(_end_watch, _watch)
        return _watch


def _end_watch(watch: subprocess.Popen) -> None:
    """At a normal exit: the closed pipe tells the watchdog to stop what is still registered, and to end."""
    if watch.stdin is not None:
        watch.stdin.close()
    try:
        watch.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _tell(line: str) -> None:
    watch = _watch if line.startswith("-") else _watchdog()  # an unregistration never starts a watchdog
    if watch is None or watch.stdin is None or watch.poll() is not None:
        return
    try:
        watch.stdin.write(line.encode() + b"\n")
        watch.stdin.flush()
    except OSError:
        pass


def wait_answering(process: subprocess.Popen, answers: Callable[[], bool], what: str, where: str, log_file: str,
                   timeout: float, why_late: str = "") -> None:
    """Poll ``answers()`` every 0.5 s until it is true; a PrefkitError naming ``what`` (the program), ``where`` (its
    URL) and its log when the process exits first or ``timeout`` s pass (``why_late``: a likely cause, in brackets)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PrefkitError(f"{what} exited with {process.returncode} before answering on {where}; log: {log_file}")
        if answers():
            return
        time.sleep(0.5)
    late = f" ({why_late})" if why_late else ""
    raise PrefkitError(f"{what} did not answer on {where} within {timeout:.0f} s{late}; log: {log_file}")


def spawn(command: list[str], **popen: Any) -> subprocess.Popen:
    """Start ``command`` in a process group of its own that dies with prefkit (see the module's doc). Call it
    from the main thread: the kernel's rule fires when the thread that started the child ends."""
    watch = _watchdog()  # started first, so it never inherits the child
    child = subprocess.Popen(command, start_new_session=True, preexec_fn=_die_with_parent, **popen)
    if watch is not None:
        _tell(f"G {child.pid}")
    return child


def adopt(pids: Iterable[int], marker: str = "") -> None:
    """Hand processes prefkit did not start itself (and their future descendants, and any process whose command
    line holds ``marker``) to the watchdog."""
    for pid in pids:
        stat = watchdog.proc_stat(pid)
        if stat:
            _tell(f"P {pid} {stat[1]}")
    if marker:
        _tell(f"M {marker}")


def new_descendants(before: set[int]) -> list[int]:
    """This process's descendants that are not in ``before`` (a set from :func:`descendant_pids`)."""
    return [p for p in descendant_pids() if p not in before]


def descendant_pids() -> set[int]:
    return set(watchdog.descendants([os.getpid()])) - ({_watch.pid} if _watch else set())


def kill_tree(pids: Iterable[int], marker: str = "") -> None:
    """SIGKILL these processes, their descendants and the processes whose command line holds ``marker`` (the ones
    still running; when there were some, until no more appear: watchdog.sweep), and tell the watchdog they are
    done."""
    pids = list(pids)
    markers = {marker} if marker else set()
    left = watchdog.marked(markers)
    for pid in pids + watchdog.descendants(pids) + left:
        watchdog.kill(pid)
    if left:  # marked processes outlived the shutdown: what one was starting may appear only after this pass
        watchdog.sweep(markers)
    for pid in pids:
        _tell(f"-P {pid}")
    if marker:
        _tell(f"-M {marker}")


def _group_alive(pgid: int) -> bool:
    return alive(pgid, os.killpg)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_group(leader: subprocess.Popen, first: int, grace: float) -> None:
    """Stop a child from :func:`spawn` and everything it started: ``first`` (SIGTERM, SIGINT) to the group, then
    SIGKILL to what is left after ``grace`` seconds (at once on Ctrl-C meanwhile). Safe to call again."""
    pgid = leader.pid
    try:
        _signal_group(pgid, first)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            leader.poll()  # reap the leader: a zombie still counts as a member of the group
            if not _group_alive(pgid):
                break
            time.sleep(0.05)
    finally:
        if _group_alive(pgid):
            _signal_group(pgid, signal.SIGKILL)
            leader.wait()
            deadline = time.monotonic() + 2.0  # the others are not our children: give the kernel a moment
            while _group_alive(pgid) and time.monotonic() < deadline:
                time.sleep(0.05)
        leader.wait()
        _tell(f"-G {pgid}")


def serve_child(start: Callable[[], Any], wait_ready: Callable[[Any], None], stop: Callable[[Any], None], *,
                program: str, who: str, what: str, loading: str, serving: Callable[[Any], list[str]],
                say: Callable[[str], None], ready: Callable[[Any], None] | None = None) -> None:
    """Serve a child server until it is stopped: ``start()`` gives a handle with ``.process`` and ``.log_file``;
    once ``wait_ready`` returns, the ``serving`` lines are said and ``ready`` gets the handle. Ctrl-C then is a clean
    end; Ctrl-C ``loading`` (while it starts) stops it and raises KeyboardInterrupt; SIGTERM / SIGHUP raise Signalled
    after it is stopped; the child dying on its own is a PrefkitError naming its log. ``who`` ("prefkit serve") and
    ``what`` ("the API server") word the last line."""
    with stop_on_signals():
        server = start()
        pid, stage = server.process.pid, loading
        try:
            say(f"starting {program} (pid {pid}; log: {server.log_file}) ...")
            wait_ready(server)
            stage = "while serving"
            for line in serving(server):
                say(line)
            if ready is not None:
                ready(server)
            while server.process.poll() is None:
                time.sleep(1)
            raise PrefkitError(f"{program} (pid {pid}) exited with {server.process.returncode} while serving; "
                               f"log: {server.log_file}")
        except KeyboardInterrupt:
            stop(server)
            if stage == "while serving":  # the way to end it: not an error
                say(f"{who}: stopped {what} (pid {pid})")
                return
            say(f"{who}: interrupted {stage}; stopped {what} (pid {pid})")
            raise
        except Signalled as signalled:
            stop(server)
            say(f"{who}: {signalled.name} {stage}; stopped {what} (pid {pid})")
            raise
        finally:
            stop(server)
