"""The local executor: growing blocks, and a Staged map's count stage on a thread beside its check stage."""

from __future__ import annotations

import threading
import time

from prefkit.pipeline.executors import AHEAD, BLOCK_ROWS, FIRST_BLOCK, LocalExecutor


class _Stages:
    """check doubles each row; count adds one after a pause, noting its thread and what check had done by then."""

    def __init__(self) -> None:
        self.checked = 0
        self.log: list[tuple[str, int]] = []  # (thread, blocks checked when count began)

    def __call__(self) -> _Stages:
        return self

    def check(self, rows: list[int]) -> list[int]:
        self.checked += 1
        return [r * 2 for r in rows]

    def count(self, checked: list[int]) -> list[int]:
        self.log.append((threading.current_thread().name, self.checked))
        time.sleep(0.05)
        return [r + 1 for r in checked]


def test_blocks_double_from_the_first_up_to_the_block_size():
    sizes = [len(b) for b in LocalExecutor.parts("", range(FIRST_BLOCK * 20))]
    assert sizes[:4] == [FIRST_BLOCK, FIRST_BLOCK * 2, FIRST_BLOCK * 4, FIRST_BLOCK * 8]
    assert max(sizes) == BLOCK_ROWS and sum(sizes) == FIRST_BLOCK * 20


def test_a_staged_map_counts_on_a_thread_while_the_next_blocks_are_checked():
    stages = _Stages()
    parts = [list(range(i * 10, i * 10 + 10)) for i in range(8)]
    results = list(LocalExecutor().map_blocks(parts, stages))
    assert results == [(10, [r * 2 + 1 for r in part]) for part in parts]  # every block, in input order
    assert all(name.startswith("prefkit-count") for name, _ in stages.log)
    ahead = [checked - number for number, (_, checked) in enumerate(stages.log)]
    assert max(ahead) > 1 and max(ahead) <= AHEAD + 1  # checks ran ahead of the counting, at most AHEAD blocks


def test_a_plain_map_runs_in_this_thread():
    seen: list[str] = []

    def factory():
        return lambda rows: seen.append(threading.current_thread().name) or rows

    assert list(LocalExecutor().map_blocks([[1], [2]], factory)) == [(1, [1]), (1, [2])]
    assert seen == [threading.current_thread().name] * 2
