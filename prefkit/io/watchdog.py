"""The watchdog: a tiny process that outlives prefkit by a moment to stop what prefkit started.

prefkit (prefkit.io.processes) starts it with a pipe on its stdin and writes one line per process it starts:
``G <pgid>`` for a process group of its own (a server, a trainer), ``P <pid> <start time>`` for a single process
(Ray's), ``M <text>`` for processes known by a text in their command line (a local Ray's session folder: its
workers outlive their parent, so ancestry alone cannot find them), and ``-G``/``-P``/``-M`` once prefkit stopped
them itself. When the pipe closes (prefkit ended, whatever way: exit, a signal, kill -9) everything still
registered, and every descendant it was last seen with, is killed. Start times guard against a reused pid. It
imports nothing from prefkit, so it starts in milliseconds.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time

SCAN_SECONDS = 1.0  # how often the descendants of registered processes are noted
QUIET_SECONDS = 2.0  # marked processes are swept until none was seen for this long (one may be starting)
SWEEP_LIMIT_SECONDS = 30.0


def proc_stat(pid: int) -> tuple[int, int, str] | None:
    """(parent pid, start time, state) of a process, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[19]), fields[0].decode()


def children_map() -> dict[int, list[int]]:
    """parent pid -> its children's pids, for every live process."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = proc_stat(int(entry))
            if stat and stat[2] != "Z":
                tree.setdefault(stat[0], []).append(int(entry))
    return tree


def descendants(roots: list[int], tree: dict[int, list[int]] | None = None) -> list[int]:
    tree = children_map() if tree is None else tree
    found, todo = [], list(roots)
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def note_descendants(registered: set[int], pids: dict[int, int]) -> None:
    """Add the live descendants of the registered processes (still the ones registered) to ``pids``."""
    live = [p for p in registered if (proc_stat(p) or (0, -1, ""))[1] == pids.get(p)]
    if not live:
        return
    for pid in descendants(live):
        stat = proc_stat(pid)
        if stat:
            pids.setdefault(pid, stat[1])


def main() -> None:
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)  # only the closed pipe ends the watch
    groups: set[int] = set()
    pids: dict[int, int] = {}  # pid -> start time (registered and their seen descendants)
    registered: set[int] = set()
    markers: set[str] = set()
    buffer = b""
    stdin = sys.stdin.fileno()
    while True:
        ready, _, _ = select.select([stdin], [], [], SCAN_SECONDS)
        if ready:
            data = os.read(stdin, 4096)
            if not data:
                break
            buffer += data
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                kind, *numbers = line.decode().split()
                if kind == "G":
                    groups.add(int(numbers[0]))
                elif kind == "-G":
                    groups.discard(int(numbers[0]))
                elif kind == "P":
                    pids[int(numbers[0])] = int(numbers[1])
                    registered.add(int(numbers[0]))
                elif kind == "-P":
                    registered.discard(int(numbers[0]))
                    pids.pop(int(numbers[0]), None)
                elif kind == "M":
                    markers.add(" ".join(numbers))
                elif kind == "-M":
                    markers.discard(" ".join(numbers))
        note_descendants(registered, pids)  # now: once their parent dies they can no longer be found
    note_descendants(registered, pids)
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
    for pid, started in pids.items():
        stat = proc_stat(pid)
        if stat and stat[1] == started:
            kill(pid)
    sweep(markers)


def sweep(markers: set[str]) -> None:
    """Kill the marked processes until none is seen for QUIET_SECONDS: a process that its dying parent was starting
    as prefkit died (a Ray worker being forked) appears after a single pass."""
    start = quiet_since = time.monotonic()
    while markers and time.monotonic() - start < SWEEP_LIMIT_SECONDS:
        found = marked(markers)
        for pid in found:
            kill(pid)
        now = time.monotonic()
        if found:
            quiet_since = now
        elif now - quiet_since >= QUIET_SECONDS:
            return
        time.sleep(0.1)


def kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def marked(markers: set[str]) -> list[int]:
    """The processes whose command line, or one of whose open files, holds one of ``markers`` (Ray's agents rename
    their command line, but keep their logs open in the session folder)."""
    if not markers:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                seen = [f.read().replace(b"\0", b" ").decode(errors="replace")]
            fds = f"/proc/{entry}/fd"
            seen += [os.readlink(os.path.join(fds, fd)) for fd in os.listdir(fds)]
        except OSError:  # gone, or not ours to look into
            continue
        if any(m in text for m in markers for text in seen):
            found.append(int(entry))
    return found


if __name__ == "__main__":
    main()
