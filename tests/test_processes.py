"""prefkit.io.processes and the watchdog: whatever prefkit starts dies with it, even on kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from conftest import ROOT
from prefkit.io import processes, watchdog

# A stand-in for prefkit: a spawned group (with a grandchild), an adopted process with a child of its own, and a
# process known only by a marker on its command line; it prints their pids, then waits to be killed.
PARENT = """
import subprocess, sys, time
from prefkit.io import processes
group = processes.spawn(["bash", "-c", "sleep 300 & sleep 300; wait"])
adopted = subprocess.Popen(["bash", "-c", "sleep 301 & wait"], start_new_session=True)
marked = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(302)", "{marker}"], start_new_session=True)
time.sleep(0.3)
processes.adopt([adopted.pid], marker="{marker}")
time.sleep(1.5)  # the watchdog notes the adopted process's descendants once a second
print(processes._watch.pid, group.pid, adopted.pid, marked.pid, flush=True)
time.sleep(300)
"""


def _running(pid: int) -> bool:
    stat = watchdog.proc_stat(pid)
    return stat is not None and stat[2] != "Z"


def test_kill_9_of_the_parent_leaves_nothing_it_started(tmp_path):
    marker = f"prefkit-test-{os.getpid()}"
    parent = subprocess.Popen([sys.executable, "-c", PARENT.replace("{marker}", marker)], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    watch, group, adopted, marked = map(int, parent.stdout.readline().split())
    started = [group, adopted, marked, *watchdog.descendants([group, adopted])]
    try:
        assert _running(watch) and all(_running(p) for p in started) and len(started) >= 5
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while any(_running(p) for p in started + [watch]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in started + [watch] if _running(p)]
    finally:
        for pid in started:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


# Not marked itself: after a moment it starts a marked child, as a dying raylet may still be forking a worker.
# With EARLY set, it starts a marked child at once too (a Ray process that outlived ray.shutdown).
LATE_STARTER = """
import os, subprocess, sys, time
marked = [sys.executable, "-c", "import time; time.sleep(300)", os.environ["MARKER"]]
early = subprocess.Popen(marked) if os.environ.get("EARLY") else None
print(early.pid if early else 0, flush=True)
time.sleep(0.5)
child = subprocess.Popen(marked)
print(child.pid, flush=True)
time.sleep(300)
"""


def test_a_marked_process_started_after_the_first_sweep_is_killed_too():
    marker = f"prefkit-late-{os.getpid()}"
    starter = subprocess.Popen([sys.executable, "-c", LATE_STARTER], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "MARKER": marker})
    try:
        starter.stdout.readline()
        watchdog.sweep({marker})  # the first pass finds nothing; the child appears 0.5 s later
        child = int(starter.stdout.readline())
        time.sleep(0.2)
        assert not _running(child)
    finally:
        starter.kill()
        starter.wait()


def test_kill_tree_keeps_killing_when_a_marked_process_outlived_the_shutdown():
    marker = f"prefkit-left-{os.getpid()}"
    starter = subprocess.Popen([sys.executable, "-c", LATE_STARTER], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "MARKER": marker, "EARLY": "1"})
    try:
        early = int(starter.stdout.readline())
        processes.kill_tree([], marker)  # kills the early one at once, then sweeps: the late one appears 0.5 s later
        late = int(starter.stdout.readline())
        time.sleep(0.2)
        assert not _running(early) and not _running(late)
    finally:
        starter.kill()
        starter.wait()
