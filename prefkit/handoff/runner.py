"""Run ``llamafactory-cli train`` as a child process, with a progress bar fed by its trainer_log.jsonl."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable

from ..serving.serve import llamafactory_cli

STOP_GRACE = 30.0  # seconds for the trainer to stop on SIGINT before SIGKILL


def _progress(log_path: str, seen: int, on_step: Callable[[int, int, float | None], None]) -> int:
    """Report new lines of trainer_log.jsonl; returns how many lines were read so far."""
    try:
        with open(log_path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return seen
    for line in lines[seen:]:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            return seen  # a line still being written: read it next time
        on_step(int(entry.get("current_steps", 0)), int(entry.get("total_steps", 0)), entry.get("loss"))
        seen += 1
    return seen


def run_train(config_path: str, output_dir: str, log_file: str,
              on_step: Callable[[int, int, float | None], None] | None = None,
              env: dict[str, str] | None = None) -> int:
    """Run the training; LLaMA-Factory's own output goes to ``log_file``. Returns the exit code.

    The run has a process group of its own (torchrun and dataloader workers included) that dies with prefkit, even
    on kill -9 (prefkit.io.processes). Ctrl-C stops the group (SIGINT, then SIGKILL after 30 s) and returns 130;
    SIGTERM or SIGHUP to prefkit stop it the same way and then end prefkit by that signal.
    """
    from ..io.processes import Signalled, spawn, stop_group, stop_on_signals

    command = [llamafactory_cli(), "train", config_path]
    trainer_log = os.path.join(output_dir, "trainer_log.jsonl")
    if os.path.exists(trainer_log):
        os.unlink(trainer_log)  # a previous run's log would read as this run's progress
    seen = 0
    os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)
    with open(log_file, "w", encoding="utf-8") as log:
        child = spawn(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                      stdin=subprocess.DEVNULL)
        try:
            with stop_on_signals():
                try:
                    while child.poll() is None:
                        time.sleep(0.5)
                        if on_step:
                            seen = _progress(trainer_log, seen, on_step)
                except (KeyboardInterrupt, Signalled):
                    stop_group(child, signal.SIGINT, STOP_GRACE)
                    raise
        except KeyboardInterrupt:
            return 130
    if on_step:
        _progress(trainer_log, seen, on_step)
    return child.returncode
