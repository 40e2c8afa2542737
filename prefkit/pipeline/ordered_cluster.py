"""``-o DIR/ --executor ray``: the ordered side's key sets decided on the Ray cluster, so the driver holds none.

    map (workers)     blocks ─► outcomes spilled, with their light outcomes beside them (shards.SpillMap, apart)
    keys (cluster)    per written row: pos, name, digest, prompt key, KTO answer key and label
    3 shuffles        groupby key % P, in each part sorted by key and pos, the first row of each key decides:
                        1. contradicted: a labelled row whose answer's first label (over all labelled rows) differs
                        2. duplicate:    a row not contradicted whose digest an earlier such row has
                        3. prompt seen:  a row that survives 1-3 (near-duplicates: the cluster's, near_cluster)
                                         whose prompt key an earlier survivor has
    driver            the flagged rows sorted by pos, streamed beside the blocks' light outcomes, read one block at
                      a time in input order: the Sink rejects and counts from these Marks (prefkit.pipeline.flow)

``pos`` is a written row's block number << ROW_BITS | its place among the block's written rows (near_cluster's id);
``name`` its source number << INDEX_BITS | record index. The rules are the Sink's, applied in input order, so the
parts, rejects and report are the bytes the in-process Sink gives. The driver holds a spill path and a count per
block and one batch of flagged rows: its memory does not grow with the number of pairs.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .executors import worker_errors
from .flow import CONTRADICTED, DUPLICATE, INDEX_BITS, PROMPT_SEEN, ROW_BITS, Mark, map_on_workers
from .near_cluster import PART_ROWS
from .outcomes import Written
from .shards import Spilled, light_path

if TYPE_CHECKING:
    from ..hygiene.neardup import Duplicate
    from ..readers import ReadOptions
    from ..writers import Writer
    from .executors import RayExecutor
    from .flow import Input, Sink

SPILLS_A_BLOCK = 64  # spills whose keys make one block (a spill holds about 1,000 to 2,048 written rows)
Plan = list[tuple[str, str, list[tuple[int, str]]]]  # per input: path, format, [(rows read, spill)] per block


def convert_on_cluster(inputs: list[Input], writer: Writer, options: ReadOptions, sink: Sink, executor: RayExecutor,
                       progress: Callable[[int], None] | None, near: float | None,
                       phase: Callable[[str | None], None] | None = None) -> None:
    """flow.convert_sources for -o DIR/ when every input maps on Ray: map every input (spilled), decide on the
    cluster, then the ordered pass."""
    assert sink.parts is not None
    near = near if sink.decided is None else None  # the cluster judged near-duplicates already: no need to sign
    plan: Plan = []
    read = 0
    for path, name in inputs:
        spilled = []
        for count, result in map_on_workers(path, name, writer, options, executor, near, sink.parts, apart=True):
            spilled.append((count, result.path))  # type: ignore[union-attr]  # apart: a Spilled
            read += count
            if progress is not None:
                progress(read)
        plan.append((path, name, spilled))
    if phase is not None:
        phase("deciding duplicates on the cluster")
    sink.ordered = decide(plan, executor, sink.dedup, sink.decided)
    if phase is not None:
        phase(None)
    for path, name, spilled in plan:
        source = sink.start(path, name)
        for count, spill in spilled:
            source.input_records += count
            with open(light_path(spill), "rb") as f:
                sink.take_block(Spilled(spill, pickle.load(f)))
        sink.end()


class Marks:
    """The cluster's flagged rows in pos order, handed out block by block (blocks are taken in order)."""

    def __init__(self, batches: Iterator[dict[str, np.ndarray]]) -> None:
        self.batches = batches
        self.batch: dict[str, list[Any]] = {"pos": []}
        self.at = 0

    def block(self, number: int, written: int) -> list[Mark | None]:
        """A Mark (or None: nothing flagged) for each of block ``number``'s ``written`` rows."""
        marks: list[Mark | None] = [None] * written
        first, end = number << ROW_BITS, (number + 1) << ROW_BITS
        while True:
            if self.at == len(self.batch["pos"]):
                batch = next(self.batches, None)
                if batch is None:
                    return marks
                self.batch, self.at = {k: v.tolist() for k, v in batch.items()}, 0
                continue
            pos = self.batch["pos"][self.at]
            if pos >= end:
                return marks
            flags = self.batch["flags"][self.at]
            contradicted = (self.batch["first_label"][self.at], self.batch["first_name"][self.at])
            marks[pos - first] = Mark(flags, contradicted if flags & CONTRADICTED else None)
            self.at += 1


def decide(plan: Plan, executor: RayExecutor, dedup: bool, near: dict[int, Duplicate] | None) -> Marks:
    """The Marks of every written row of ``plan``'s blocks, decided on the cluster (``near``: the rows the cluster
    judged near-duplicates, by pos; they take no part in prompt duplicates)."""
    import ray.data

    spills = [(source, spill) for source, (_, _, spilled) in enumerate(plan) for _, spill in spilled]
    if not spills:
        return Marks(iter(()))
    items = [{"spill": spill, "block": number, "source": source} for number, (source, spill) in enumerate(spills)]
    # Every Ray Data block here is made large (batch_size=None: a whole block a call): a task's output under 100 KB
    # is returned inline to its owner, this process, which would then hold the rows.
    with worker_errors():
        keys = (ray.data.from_items(items, override_num_blocks=-(-len(items) // SPILLS_A_BLOCK))
                .map_batches(_keys, batch_size=None, batch_format="numpy").materialize())
        rows = keys.count()
        if not rows:
            return Marks(iter(()))
        parts = max(2 * executor.workers, rows // PART_ROWS + 1)  # as near_cluster: about PART_ROWS rows a part

        def stage(data: Any, fn: Callable[..., dict[str, np.ndarray]], **kwargs: Any) -> Any:
            return (data.map_batches(fn, fn_kwargs={"parts": parts, "part": True, **kwargs}, batch_size=None,
                                     batch_format="numpy")
                    .groupby("part", num_partitions=min(parts, 200))
                    .map_groups(fn, fn_kwargs={"parts": parts, "part": False, **kwargs}, batch_format="numpy"))

        decided = stage(keys, _contradicted) if keys.sum("labelled") else keys.map_batches(_uncontradicted, batch_size=None,
                                                                                      batch_format="numpy")
        near_pos, near_via = _near(near)
        decided = stage(stage(decided, _duplicate), _prompt_seen, dedup=dedup, near_pos=near_pos, near_via=near_via)
        flagged = decided.map_batches(_flagged, batch_size=None, batch_format="numpy").materialize()
        if not flagged.count():
            return Marks(iter(()))
        batches = flagged.sort("pos").iter_batches(batch_size=8192, batch_format="numpy")
        return Marks(_guarded(batches))


def _guarded(batches: Iterator[dict[str, np.ndarray]]) -> Iterator[dict[str, np.ndarray]]:
    """The flagged rows' batches, read while the sink runs: a failure then is a ServiceError too."""
    with worker_errors():
        yield from batches


def _near(near: dict[int, Duplicate] | None) -> tuple[np.ndarray, np.ndarray]:
    """The cluster's near-duplicate decisions as sorted positions and the name of the row each came via."""
    pos = np.array(sorted(near or {}), np.int64)
    return pos, np.array([near[p].via for p in pos.tolist()] if near else [], np.int64)


def _keys(batch: dict[str, Any]) -> dict[str, np.ndarray]:
    """A block's light outcomes (read from beside its spill) -> one row of keys per written row."""
    pos, name, digest, prompt, answer, label = [], [], [], [], [], []
    for spill, number, source in zip(batch["spill"], batch["block"], batch["source"]):
        with open(light_path(str(spill)), "rb") as f:
            written = [o for o in pickle.load(f) if isinstance(o, Written)]
        for place, row in enumerate(written):
            pos.append(int(number) << ROW_BITS | place)
            name.append(int(source) << INDEX_BITS | row.index)
            digest.append(row.digest)
            prompt.append(row.prompt_key)
            answer.append(row.labelled[0] if row.labelled is not None else bytes(8))
            label.append(-1 if row.labelled is None else int(row.labelled[1]))  # -1: not a KTO example

    def u64(parts: list[bytes]) -> np.ndarray:
        return np.frombuffer(b"".join(parts), "<u8").copy()

    labels = np.array(label, np.int8)
    return {"pos": np.array(pos, np.int64), "name": np.array(name, np.int64), "digest": u64(digest),
            "prompt": u64(prompt), "answer": u64(answer), "labelled": labels >= 0, "label": labels == 1}


def _firsts(rows: dict[str, np.ndarray], key: str, eligible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Among the ``eligible`` rows of a part, ordered by ``key`` and pos: whether each row has an earlier one of its
    key (``later``), and each row's key's first row (its index; for rows not eligible, their own)."""
    n = len(eligible)
    chosen = np.flatnonzero(eligible)
    order = chosen[np.lexsort((rows["pos"][chosen], rows[key][chosen]))]
    keys = rows[key][order]
    starts = np.concatenate(([True], keys[1:] != keys[:-1])) if len(order) else np.zeros(0, bool)
    later = np.zeros(n, bool)
    later[order[~starts]] = True
    head = np.arange(n)
    head[order] = order[np.flatnonzero(starts)[np.cumsum(starts) - 1]] if len(order) else order
    return later, head


def _spread(rows: dict[str, np.ndarray], key: str, eligible: np.ndarray, parts: int) -> dict[str, np.ndarray]:
    """The rows with a ``part`` column: by ``key`` for the eligible (a key's rows meet), else by pos (spread)."""
    spread = np.where(eligible, rows[key] % np.uint64(parts), rows["pos"].astype(np.uint64) % np.uint64(parts))
    return {**rows, "part": spread.astype(np.int64)}


def _contradicted(rows: dict[str, np.ndarray], parts: int, part: bool) -> dict[str, np.ndarray]:
    """Stage 1 (``part``: the part column; else one part): the labelled rows whose answer's first label differs."""
    eligible = rows["labelled"]
    if part:
        return _spread(rows, "answer", eligible, parts)
    _, head = _firsts(rows, "answer", eligible)
    contradicted = eligible & (rows["label"] != rows["label"][head])
    return {**{k: v for k, v in rows.items() if k != "part"}, "contradicted": contradicted,
            "first_label": rows["label"][head], "first_name": rows["name"][head]}


def _uncontradicted(rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Stage 1 where no row is a KTO example."""
    n = len(rows["pos"])
    return {**rows, "contradicted": np.zeros(n, bool), "first_label": np.zeros(n, bool),
            "first_name": np.zeros(n, np.int64)}


def _duplicate(rows: dict[str, np.ndarray], parts: int, part: bool) -> dict[str, np.ndarray]:
    """Stage 2: the rows not contradicted whose digest an earlier one of them has."""
    eligible = ~rows["contradicted"]
    if part:
        return _spread(rows, "digest", eligible, parts)
    later, _ = _firsts(rows, "digest", eligible)
    return {**{k: v for k, v in rows.items() if k != "part"}, "duplicate": later}


def _prompt_seen(rows: dict[str, np.ndarray], parts: int, part: bool, dedup: bool, near_pos: np.ndarray,
                 near_via: np.ndarray) -> dict[str, np.ndarray]:
    """Stage 3: the rows that survive 1-3 whose prompt key an earlier survivor has. A near-duplicate survives when
    it came via itself (the other KTO example of its own pair), as in the Sink."""
    near = np.zeros(len(rows["pos"]), bool)
    if len(near_pos):
        at = np.minimum(np.searchsorted(near_pos, rows["pos"]), len(near_pos) - 1)
        near = (near_pos[at] == rows["pos"]) & (near_via[at] != rows["name"])
    eligible = ~rows["contradicted"] & ~(rows["duplicate"] & dedup) & ~near
    if part:
        return _spread(rows, "prompt", eligible, parts)
    later, _ = _firsts(rows, "prompt", eligible)
    return {**{k: v for k, v in rows.items() if k != "part"}, "prompt_seen": later}


def _flagged(rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The rows with a flag: pos, flags, and the first label and name (for contradicted rows)."""
    flags = (rows["contradicted"] * CONTRADICTED + rows["duplicate"] * DUPLICATE
             + rows["prompt_seen"] * PROMPT_SEEN).astype(np.int8)
    keep = flags != 0
    return {"pos": rows["pos"][keep], "flags": flags[keep], "first_label": rows["first_label"][keep],
            "first_name": rows["first_name"][keep]}
