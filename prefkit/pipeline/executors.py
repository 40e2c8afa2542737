"""Where the per-record side of a pipeline runs: in this process (``--executor local``, the default) or on
a Ray cluster (``--executor ray``, with ``pip install 'prefkit[scale]'``).

Both executors take the rows of a file in blocks, in input order, run the same map function on each block
(built once per worker by a picklable factory, so a tokenizer or a template loads once per worker) and give
back, for each block in input order, its number of rows and its results. On Ray a JSONL file travels as
line ranges that each worker reads and parses itself; other files as blocks of rows parsed here. The
ordered side (pipeline.Sink, validate's report) is the same code for both, so both write the same bytes
and report the same figures.

A map function with two stages (``Staged``: validate's checks, then the token counting, which releases the GIL)
runs in this process with its second stage on a thread beside the first, block by block, in input order.

>>> rows = iter(range(5))
>>> list(LocalExecutor().map_blocks(blocks(rows, 2), _Double()))
[(2, [0, 2]), (2, [4, 6]), (1, [8])]
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from itertools import chain, islice
from typing import Any, Protocol, runtime_checkable

from ..errors import ServiceError, UsageError, first_line
from ..io import processes
from ..io.sources import LineRange, file_kind, jsonl_ranges
from ..io.urls import display_url, scrub

BLOCK_ROWS = 2048  # rows per block sent to a worker
RANGE_BYTES = 1 << 21  # bytes of JSONL lines per block that a worker reads itself
WINDOW_BLOCKS = 64  # blocks per Ray dataset: bounds the driver's memory on inputs of any size
FIRST_BLOCK = 256  # rows of the local executor's first block, then doubling up to BLOCK_ROWS
AHEAD = 4  # blocks a Staged map's first stage may run ahead of its second (memory: their rows)
CPUS = os.cpu_count() or 1


class MapFactory(Protocol):
    """Builds the map function in the process that runs it (picklable: it travels to Ray workers)."""

    def __call__(self) -> Callable[[list[Any]], list[Any]]: ...


@runtime_checkable
class Staged(Protocol):
    """A map function in two stages, ``count(check(rows))``, whose second releases the GIL (the Rust tokenizer's
    encode_batch runs on every core): the local executor runs them side by side."""

    def __call__(self, rows: list[Any]) -> list[Any]: ...
    def check(self, rows: list[Any]) -> list[Any]: ...
    def count(self, checked: list[Any]) -> list[Any]: ...


def blocks(items: Iterable[Any], size: int | None = None) -> Iterator[list[Any]]:
    """Consecutive lists of at most ``size`` (default BLOCK_ROWS) items."""
    size = size or BLOCK_ROWS
    it = iter(items)
    while block := list(islice(it, size)):
        yield block


Block = list[Any] | LineRange  # rows, or lines of a JSONL file for the worker to read


def windows(parts: Iterable[Block]) -> Iterator[list[Block]]:
    """The blocks of one input in the lists that become one Ray dataset each. Line ranges are a few numbers each:
    one dataset holds them all, so the workers start once. Rows are sent in windows of WINDOW_BLOCKS blocks, which
    bounds this process's memory on inputs of any size."""
    it = iter(parts)
    first = next(it, None)
    if first is None:
        return iter(())
    return iter([[first, *it]]) if isinstance(first, LineRange) else blocks(chain([first], it), WINDOW_BLOCKS)


def rows_of(block: Block) -> list[Any]:
    return block.rows() if isinstance(block, LineRange) else block


class Executor(Protocol):
    """What a pipeline needs of an executor: the blocks of an input, one map over them, and its end. Each class is
    built from the CLI's options, ``(workers, address)``, and refuses those it does not take."""

    name: str  # --executor
    local: bool  # the map runs in this process: a reader that groups rows across a file can run through it

    def parts(self, path: str, rows: Iterable[Any]) -> Iterator[Block]: ...  # one input's blocks, in order
    def map_blocks(self, parts: Iterable[Block], factory: MapFactory) -> Iterator[tuple[int, list[Any]]]: ...
    def close(self) -> None: ...


class LocalExecutor:
    name = "local"
    local = True

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        if workers is not None or address:
            raise UsageError("--workers and --ray-address go with --executor ray")

    @staticmethod
    def parts(path: str, rows: Iterable[Any]) -> Iterator[Block]:
        """Blocks of rows (a JSONL file is read here too) that double from FIRST_BLOCK up to BLOCK_ROWS: a Staged
        map's second stage gets its first block early."""
        it, size = iter(rows), FIRST_BLOCK
        while block := list(islice(it, size)):
            yield block
            size = min(size * 2, BLOCK_ROWS)

    def map_blocks(self, parts: Iterable[Block], factory: MapFactory) -> Iterator[tuple[int, list[Any]]]:
        fn = factory()
        if isinstance(fn, Staged):
            yield from _staged(map(rows_of, parts), fn)
            return
        for block in parts:
            rows = rows_of(block)
            yield len(rows), fn(rows)

    def close(self) -> None:
        pass


def _staged(parts: Iterable[list[Any]], fn: Staged) -> Iterator[tuple[int, list[Any]]]:
    """``fn`` block by block, its count stage on one thread while this one runs the check stage of the next blocks
    (at most AHEAD ahead); each finished block is handed on in input order."""
    pending: deque[tuple[int, Future[list[Any]]]] = deque()
    with ThreadPoolExecutor(1, thread_name_prefix="prefkit-count") as counting:
        for rows in parts:
            pending.append((len(rows), counting.submit(fn.count, fn.check(rows))))
            while pending and (pending[0][1].done() or len(pending) > AHEAD):
                read, counted = pending.popleft()
                yield read, counted.result()
        while pending:
            read, counted = pending.popleft()
            yield read, counted.result()


@contextmanager
def worker_errors() -> Iterator[None]:
    """A failure on the Ray cluster (a task, an actor, a lost object) as prefkit's one-line ServiceError."""
    import ray.exceptions

    try:
        yield
    except ray.exceptions.RayError as err:
        raise ServiceError(f"--executor ray: a worker failed: {first_line(err)}") from None


class _RayWorker:
    """Ray Data's callable class: one per actor; builds the map function once, then maps pickled blocks.
    Each run subclasses it with its factory as a class attribute (the class travels with the task)."""

    factory: MapFactory

    def __init__(self) -> None:
        self.fn = self.factory()

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        _fault_injection()
        results = []
        for data in batch["block"]:
            rows = rows_of(pickle.loads(data))
            results.append(pickle.dumps((len(rows), self.fn(rows)), protocol=5))
        return {"result": results}


def _fault_injection() -> None:
    """PREFKIT_KILL_ONE_WORKER=FILE kills the first worker that sees no FILE (creating it) in the middle of
    a block: how the tests prove that a worker dying mid-run still gives identical results."""
    marker = os.environ.get("PREFKIT_KILL_ONE_WORKER")
    if marker and not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write(str(os.getpid()))
        os._exit(1)


class RayExecutor:
    """Runs map functions on Ray Data actors. Connects to ``address`` or starts a local Ray bound to
    127.0.0.1 (shut down by :meth:`close`); ``workers`` defaults to the cluster's CPUs."""

    name = "ray"
    local = False

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise UsageError("--executor ray needs Ray: pip install 'prefkit[scale]'") from None
        self.ray = ray
        self.started = False
        if workers is not None and workers < 1:
            raise UsageError(f"--workers {workers}: give at least 1")
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR,
                                   "configure_logging": True}
        self.ray_processes: list[int] = []  # a local Ray's, stopped by close() or, on kill -9, by the watchdog
        self.session = ""  # a local Ray's session folder: every process of it has it on its command line
        self.before: set[int] = set()  # this process's descendants before a local Ray started
        if address and not ray.is_initialized():
            _probe(address)
        self.stderr: StderrFilter | None = StderrFilter()
        if not ray.is_initialized():
            try:
                with processes.keep_signal_handlers():  # SIGTERM ends a Ray run as it ends a local one: by the signal
                    self._start(ray, workers, address, options)
            except BaseException as err:  # Ctrl-C while Ray starts, too: stop what it started
                self.close()
                processes.resend(err)  # SIGTERM while Ray starts: prefkit ends by it, as a local run does
                if not isinstance(err, (ConnectionError, RuntimeError, ValueError)):
                    raise
                where = f"the Ray cluster at {display_url(address)}" if address else "a local Ray"
                why = scrub((str(err).splitlines() or [""])[0], address)[:200]  # Ray's text may hold the address
                raise ServiceError(f"--executor ray: cannot reach {where} ({why})") from None
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        if workers and workers > cpus:
            print(f"prefkit: --workers {workers}: the Ray cluster has {cpus} CPUs; using {cpus} workers", file=sys.stderr)
        self.workers = min(workers or cpus, cpus)
        _quiet()
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        context.enable_operator_progress_bars = False

    def _start(self, ray: Any, workers: int | None, address: str | None, options: dict[str, Any]) -> None:
        if address:  # the cluster's workers get this process's PYTHONPATH and caches
            ray.init(address=address, runtime_env=_runtime_env(), **options)
            return
        os.environ.update(_runtime_env()["env_vars"])  # a local Ray's workers inherit this environment
        self.before = processes.descendant_pids()
        self.started = True
        # "local": a new Ray of its own, never one that `ray start` (or RAY_ADDRESS) left on this machine
        ray.init(address="local", num_cpus=min(workers or CPUS, CPUS), _node_ip_address="127.0.0.1", **options)
        self.ray_processes = processes.new_descendants(self.before)
        self.session = ray._private.worker.global_worker.node.get_session_dir_path()
        processes.adopt(self.ray_processes, self.session)

    @staticmethod
    def parts(path: str, rows: Iterable[Any]) -> Iterator[Block]:
        """The blocks of one input: line ranges of a JSONL file (parsed by the workers), else rows."""
        return jsonl_ranges(path, RANGE_BYTES) if file_kind(path) == "jsonl" else blocks(rows)

    def map_blocks(self, parts: Iterable[Block], factory: MapFactory) -> Iterator[tuple[int, list[Any]]]:
        import ray.data

        for window in windows(parts):
            # One Ray block per prefkit block, built here: no read task competes with the actors for CPUs.
            dataset = ray.data.from_items([{"block": pickle.dumps(b, protocol=5)} for b in window],
                                          override_num_blocks=len(window))
            worker = type("PrefkitWorker", (_RayWorker,), {"factory": factory})
            mapped = dataset.map_batches(worker, batch_size=1,
                                         compute=ray.data.ActorPoolStrategy(size=min(self.workers, len(window))),
                                         num_cpus=1, batch_format="numpy")
            with worker_errors():
                rows = iter(mapped.iter_rows())
                for _ in window:  # as many results as blocks: no need to wait for the pool to wind down
                    yield pickle.loads(next(rows)["result"])

    def close(self) -> None:
        """Shut a local Ray down; whatever of its process tree outlives that (agents, workers) is killed."""
        try:
            if self.started:
                self.started = False
                try:
                    self.ray.shutdown()
                finally:  # also what a Ray interrupted while starting had started
                    processes.kill_tree(set(self.ray_processes) | set(processes.new_descendants(self.before)),
                                        self.session)
        finally:
            if self.stderr:
                self.stderr.close()
                self.stderr = None


# The HTTP/2 client preface and an empty SETTINGS frame: a gRPC server (Ray's GCS and its client server are)
# answers with a SETTINGS frame (type 4 in the 4th byte of the frame header); anything else is not Ray.
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
PROBE_SECONDS = 5.0


def _probe(address: str) -> None:
    """Fail in seconds, not after Ray's minutes of retries, when nothing listens at HOST:PORT or what listens does
    not speak gRPC (so is not a Ray cluster). The address is shown without its credentials (display_url)."""
    shown = display_url(address)
    host, sep, port = address.removeprefix("ray://").rsplit("@", 1)[-1].rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto" and other forms: Ray resolves them
    try:
        conn = socket.create_connection((host, int(port)), timeout=PROBE_SECONDS)
    except OSError as err:
        why = scrub(str(err.strerror or err), address)
        raise ServiceError(f"--executor ray: cannot reach the Ray cluster at {shown} ({why})") from None
    with conn:
        try:
            conn.sendall(_H2_PREFACE)
            reply = conn.recv(9)
        except OSError:  # silent past the time limit, or it hung up: not a gRPC server
            reply = b""
    if len(reply) < 4 or reply[3] != 4:
        raise ServiceError(f"--executor ray: {shown} answers, but not as a Ray cluster does (no gRPC); give the "
                           "address `ray start --head` printed")


# The header of a line of Ray's C++ log: "[2026-12-04 11:33:46,782 E 16319 16319] core_worker.cc:2465: ..."
_RAY_LOG_LINE = re.compile(rb"^\[\d{4}-\d\d-\d\d [\d:,.]+ [IWE] \d+ \d+\] ")


class StderrFilter:
    """While Ray runs in this process, its C++ core writes log lines (even at error level for a normal Ray Data
    run) straight to file descriptor 2: lines of that shape are dropped, everything else is passed on."""

    def __init__(self) -> None:
        self.saved = os.dup(2)
        read, write = os.pipe()
        os.dup2(write, 2)
        os.close(write)
        self.thread = threading.Thread(target=self._pump, args=(read,), daemon=True)
        self.thread.start()

    def _pump(self, read: int) -> None:
        pending = b""
        with os.fdopen(read, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                passed = b"".join(line + b"\n" for line in lines if not _RAY_LOG_LINE.match(line))
                if passed:
                    os.write(self.saved, passed)
                if pending and not _RAY_LOG_LINE.match(pending):  # a prompt or a progress bar: no newline coming
                    os.write(self.saved, pending)
                    pending = b""
        if pending:
            os.write(self.saved, pending)

    def close(self) -> None:
        sys.stderr.flush()
        os.dup2(self.saved, 2)  # the pipe's last writer is gone: the pump reads to its end and stops
        self.thread.join(timeout=5)
        os.close(self.saved)


def _quiet() -> None:
    """Ray and Ray Data log to the terminal at INFO: keep the user's terminal to prefkit's own output (a
    failure reaches the user as one line, from the exception prefkit catches)."""
    import ray.data  # noqa: F401  (configures its loggers on import: set the levels after)

    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.CRITICAL)




def _runtime_env() -> dict[str, Any]:
    """Workers import prefkit from where this process does (a checkout that is not installed, too)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # above prefkit/
    path = os.environ.get("PYTHONPATH", "")
    env = {"PYTHONPATH": root + (os.pathsep + path if path else ""), "TOKENIZERS_PARALLELISM": "false"}
    for key in ("HF_HUB_OFFLINE", "HF_HOME", "PREFKIT_KILL_ONE_WORKER"):
        if key in os.environ:
            env[key] = os.environ[key]
    return {"env_vars": env}


def get_executor(name: str, workers: int | None = None, address: str | None = None) -> Executor:
    """The executor ``name`` of prefkit.kinds' EXECUTORS table (or an entry point's), built from the options."""
    from .. import kinds

    if name not in kinds.names("executors"):
        raise UsageError(f"unknown --executor {name!r}; choose {' or '.join(kinds.names('executors'))}")
    executor: Executor = kinds.find("executors", name).load()(workers, address)
    return executor


class _Double:
    """A factory for the doctest above."""

    def __call__(self) -> Callable[[list[int]], list[int]]:
        return lambda block: [2 * x for x in block]
