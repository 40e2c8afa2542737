"""Sharded outputs: ``convert -o DIR/`` writes the dataset as part files, ``DIR/part-000000.jsonl`` ..., and the
rejects as parts of their own folder, each part written where its block of input was mapped (a Ray worker, or
this process for ``--executor local``): the driver never holds or writes a row.

    map (worker)    block -> outcomes, spilled whole into DIR's staging folder; the driver gets them light
    Sink (driver)   in input order, decides each row from its keys (duplicates, contradictions, near-duplicates);
                    on Ray from the cluster's decisions (prefkit.pipeline.ordered_cluster), holding no key sets
    write (worker)  the spill and its block's decisions -> part-N.jsonl, the rejects' part-N.jsonl, data: images

Part N holds the written rows of the N-th block, in input order, so the parts in name order are the rows a single
``-o FILE.jsonl`` would hold. LLaMA-Factory loads a folder named as ``file_name`` whole (every file in it, all of
one type). On a cluster of several machines DIR must be a folder that every node sees (a shared file system).
Where the blocks end depends on the executor (2 MiB of JSONL lines on Ray, BLOCK_ROWS rows here), so two executors
may cut the same rows into different parts.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from ..errors import ServiceError
from ..io import files as io
from ..records import Reject
from .executors import Executor, MapFactory
from .outcomes import Outcome, Written

PART = "part-{:06d}.jsonl"
SPILL = ".spill"  # inside the output's staging folder: the mapped blocks waiting for their decisions


def is_sharded(output: str) -> bool:
    """``-o DIR/``: a name that ends with a slash asks for a folder of parts."""
    return output.endswith(("/", os.sep))


def is_part(name: str) -> bool:
    return name.startswith("part-") and name.endswith(".jsonl")


def part_names(names: list[str]) -> list[str]:
    """The names in an existing output folder that a sharded convert did not write."""
    return [n for n in names if not is_part(n)]


def digest(data: bytes) -> bytes:
    """A row's identity for exact duplicates, the same in every process (Python's hash is not)."""
    return hashlib.blake2b(data, digest_size=8).digest()


def light(outcomes: list[Outcome]) -> list[Outcome]:
    """What the driver needs of a block: its rows' keys without their data, rejects without their records."""
    kept: list[Outcome] = []
    for outcome in outcomes:
        if isinstance(outcome, Written):
            files = tuple(f._replace(data=None) for f in outcome.files)
            kept.append(replace(outcome, data=b"", digest=digest(outcome.data), files=files,
                                pending=tuple(f.name for f in outcome.files if f.data is not None)))
        elif isinstance(outcome, Reject):
            kept.append(replace(outcome, record=None))
        else:
            kept.append(outcome)
    return kept


@dataclass
class Spilled:
    """A block mapped on a worker: its outcomes are in ``path``; the driver gets them light."""

    path: str
    outcomes: list[Outcome]


def light_path(spill: str) -> str:
    """Where a block's light outcomes lie beside its spill (``SpillMap(..., apart=True)``)."""
    return spill.removesuffix(".pkl") + ".light.pkl"


class SpillMap:
    """A map factory (see prefkit.pipeline.executors) that spills each block's outcomes into ``folder`` and gives
    back a :class:`Spilled`. ``apart``: the light outcomes are spilled too (:func:`light_path`), not sent back, for
    the cluster to decide from and the driver to read one block at a time (prefkit.pipeline.ordered_cluster)."""

    def __init__(self, inner: MapFactory, folder: str, output: str, apart: bool = False) -> None:
        self.inner, self.folder, self.output, self.apart = inner, folder, output, apart

    def __call__(self) -> Callable[[list[Any]], Spilled]:
        if not os.path.isdir(self.folder):
            raise ServiceError(f"-o {self.output}/: a folder of parts must be one that every node sees; its staging "
                               f"folder {self.folder} is missing on {os.uname().nodename}")
        fn = self.inner()

        def spill(rows: list[Any]) -> Spilled:
            outcomes = fn(rows)
            path = os.path.join(self.folder, f"{uuid.uuid4().hex}.pkl")  # a retried block writes a new one
            with open(path, "wb") as f:
                pickle.dump(outcomes, f, protocol=5)
            if not self.apart:
                return Spilled(path, light(outcomes))
            _replace(light_path(path), pickle.dumps(light(outcomes), protocol=5))
            return Spilled(path, [])

        return spill


@dataclass
class Task:
    """One part to write: block ``number``'s outcomes (or the spill that holds them) and the driver's decisions,
    by place in the block: the rejects the sink made of written rows (their records still to fill in)."""

    number: int
    outcomes: list[Outcome] | str
    drops: dict[int, list[Reject]]
    rows: str  # the folders of the parts: rows, rejects, data: images (None: no image to write)
    rejects: str
    images: str | None


def write_part(task: Task) -> tuple[int, int]:
    """Write one block's part files (each complete before it is renamed into place); (rows, rejects) written."""
    outcomes = task.outcomes
    if isinstance(outcomes, str):
        with open(outcomes, "rb") as f:
            outcomes = pickle.load(f)
    rows, rejects = bytearray(), bytearray()
    written = rejected = 0
    for at, outcome in enumerate(outcomes):
        if isinstance(outcome, Reject):
            rejects += io.dumps(outcome.to_json()) + b"\n"
            rejected += 1
        elif isinstance(outcome, Written) and at in task.drops:
            record = orjson.loads(outcome.data)
            for item in task.drops[at]:
                rejects += io.dumps(replace(item, record=record).to_json()) + b"\n"
                rejected += 1
        elif isinstance(outcome, Written):
            rows += outcome.data + b"\n"
            written += 1
            _write_images(outcome, task.images)
    name = PART.format(task.number)
    for folder, data in ((task.rows, rows), (task.rejects, rejects)):
        if data:
            _replace(os.path.join(folder, name), bytes(data))
    return written, rejected


def _write_images(row: Written, folder: str | None) -> None:
    """The data: images whose bytes travelled with a row (a worker's), each file written once (the same name is
    the same bytes)."""
    for image in row.files:
        if image.data is not None and folder is not None and not os.path.exists(os.path.join(folder, image.name)):
            _replace(os.path.join(folder, image.name), image.data)


def _replace(path: str, data: bytes) -> None:
    tmp = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class PartWriter:
    """The write side as a map factory: each block of tasks becomes its part files."""

    def __call__(self) -> Callable[[list[Task]], list[tuple[int, int]]]:
        return lambda tasks: [write_part(task) for task in tasks]


@dataclass
class Parts:
    """The driver's side of a sharded output: the folders, what the sink decided for the block being taken, and the
    blocks mapped on workers, written by :meth:`finish` once every block was decided."""

    output: str  # -o DIR, as the user named it
    rows: str  # staging folders: the output's and the rejects'
    rejects: str
    images: Callable[[], str | None]  # the images' staging folder, once a written row carries a data: image
    rejects_staged: Any = None  # the rejects' StagedFolder (the run drops it when nothing was rejected)
    count: int = 0  # rows the sink kept
    drops: dict[int, list[Reject]] = field(default_factory=dict)
    waiting: list[Task] = field(default_factory=list)
    rows_written: int = 0
    rejects_written: int = 0

    @property
    def spill(self) -> str:
        return os.path.join(self.rows, SPILL)

    def open(self) -> Parts:
        os.makedirs(self.spill, exist_ok=True)
        return self

    def drop(self, at: int, item: Reject) -> None:
        """A written row of the block being taken that the sink rejected (``at``: its place in the block)."""
        self.drops.setdefault(at, []).append(item)

    def done(self, number: int, outcomes: list[Outcome] | Spilled) -> None:
        """Block ``number`` is decided: write its parts now (mapped here) or at :meth:`finish` (on a worker)."""
        task = Task(number, outcomes.path if isinstance(outcomes, Spilled) else outcomes, self.drops,
                    self.rows, self.rejects, self.images())
        self.drops = {}
        if isinstance(outcomes, Spilled):
            self.waiting.append(task)
        else:
            self._count([write_part(task)])

    def finish(self, executor: Executor, rejects: int) -> None:
        """Write the parts of the blocks mapped on workers, on the workers; then drop the spills and prove that the
        parts hold every row the sink kept and every one of its ``rejects``."""
        if self.waiting:
            tasks: Iterable[list[Task]] = ([task] for task in self.waiting)
            for _, counts in executor.map_blocks(tasks, PartWriter()):
                self._count(counts)
        self.waiting = []
        for name in os.listdir(self.spill):
            os.unlink(os.path.join(self.spill, name))
        os.rmdir(self.spill)
        if (self.rows_written, self.rejects_written) != (self.count, rejects):
            raise RuntimeError(f"internal error: -o {self.output}/: the parts hold {self.rows_written} rows and "
                               f"{self.rejects_written} rejects, the sink decided {self.count} and {rejects}")

    def _count(self, counts: list[tuple[int, int]]) -> None:
        for rows, rejects in counts:
            self.rows_written += rows
            self.rejects_written += rejects
