"""``--near-dedup --executor ray``: near-duplicates judged on the Ray cluster, so this process holds only decisions.

    pass 1 (cluster): blocks ─► the convert map, signing each written row ─► one row per band key:
                      (key, id, name, low bytes) ─► groupby key % P (P parts of about 500,000 band keys) ─► in
                      each part, sorted by key and id, the rows of each key whose estimated Jaccard with the
                      key's first row reaches the threshold: (id, candidate, name, jaccard)
    driver:           per row, its first verified candidate; groups resolved in id order ─► {id: Duplicate}
    pass 2:           the usual convert (prefkit.pipeline.flow), whose sink rejects the rows decided

``id`` is the row's block number << ROW_BITS | its place among the block's written rows (both passes cut the
inputs into the same blocks); ``name`` is its source number << INDEX_BITS | record index, what a reject names.
This is the rule of :class:`prefkit.hygiene.NearDuplicates` (a row's candidates: the first row of each of its band
keys; its parent: the first candidate that verifies; its group: its parent's), so both give the same rejects.
"""

from __future__ import annotations

import pickle
from typing import TYPE_CHECKING, Any

import numpy as np

from ..hygiene.neardup import LOW, Duplicate, bands, estimate
from .executors import windows, worker_errors

PART_ROWS = 500_000  # band keys a part holds (152 bytes each: key, id, name, low bytes)

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..readers import ReadOptions
    from ..writers import Writer
    from .executors import RayExecutor
    from .flow import Input


class _Signer:
    """Ray Data's callable class: a block of rows -> one row per band key of each signed written row."""

    factory: Any  # prefkit.pipeline.flow.ConvertMap, with its threshold
    bands: int

    def __init__(self) -> None:
        self.fn = self.factory()

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        from .executors import rows_of
        from .flow import INDEX_BITS, ROW_BITS
        from .outcomes import Written

        ids, names, sigs = [], [], []
        for data, number, source in zip(batch["block"], batch["no"], batch["source"]):
            written = [o for o in self.fn(rows_of(pickle.loads(data))) if isinstance(o, Written)]
            for place, row in enumerate(written):
                if row.signature is not None:
                    ids.append(int(number) << ROW_BITS | place)
                    names.append(int(source) << INDEX_BITS | row.index)
                    sigs.append(row.signature)
        rows = np.frombuffer(b"".join(sigs), np.uint8).reshape(len(sigs), 8 * self.bands + LOW)
        keys = rows[:, : 8 * self.bands].copy().view("<u8")
        return {"key": keys.ravel(), "id": np.repeat(np.array(ids, np.int64), self.bands),
                "name": np.repeat(np.array(names, np.int64), self.bands),
                "low": np.repeat(rows[:, 8 * self.bands:], self.bands, axis=0)}


def verified(part: dict[str, np.ndarray], threshold: float) -> dict[str, np.ndarray]:
    """The band-key rows of one part (every row of a key is in the same part) -> each row that verifies against
    its key's first row (the smallest id): a candidate edge (id, candidate, candidate's name, jaccard)."""
    order = np.lexsort((part["id"], part["key"]))
    key, ids, names = part["key"][order], part["id"][order], part["name"][order]
    first = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))  # where each key's rows start
    head = np.repeat(first, np.diff(np.concatenate((first, [len(key)]))))  # each row's key's first row
    later = np.flatnonzero(ids != ids[head])  # not the first row (nor, rarely, another band of it)
    low = part["low"][order]
    same = np.count_nonzero(low[later] == low[head[later]], axis=1)
    similarity = np.array([estimate(s) for s in same.tolist()], np.float64)  # the very floats NearDuplicates gives
    keep = similarity >= threshold
    return {"id": ids[later][keep], "candidate": ids[head[later]][keep], "name": names[head[later]][keep],
            "jaccard": similarity[keep]}


def _with_part(batch: dict[str, np.ndarray], parts: int) -> dict[str, np.ndarray]:
    return {**batch, "part": batch["key"] % np.uint64(parts)}


def near_decisions(inputs: list[Input], writer: Writer, options: ReadOptions, executor: RayExecutor,
                   threshold: float, phase: Callable[[str | None], None] | None = None) -> dict[int, Duplicate]:
    """The near-duplicate rows of the inputs (path and format each), judged on the cluster: {id: Duplicate (kept and
    via as names)}."""
    say = phase or (lambda label: None)
    with worker_errors():
        say("signing for near-duplicates on the cluster")
        keys = _signed(inputs, writer, options, executor, threshold)
        rows = 0 if keys is None else keys.count()
        if rows:  # none written (all rejected): nothing to judge, and Ray cannot shuffle blocks all empty
            say("judging near-duplicates on the cluster")
        parent = _first_candidates(keys, rows, executor.workers, threshold) if rows else {}
    say(None)
    decided: dict[int, Duplicate] = {}
    for row_id in sorted(parent):  # a parent comes before its row: its group is known
        candidate, name, similarity = parent[row_id]
        kept = decided[candidate].kept if candidate in decided else name
        decided[row_id] = Duplicate(kept, name, similarity)
    return decided


def _first_candidates(keys: Any, rows: int, workers: int, threshold: float) -> dict[int, tuple[int, int, float]]:
    """Each signed row's first verified candidate: {id: (candidate, its name, jaccard)}, from the band keys."""
    # parts of about PART_ROWS band keys, at least two per worker: one vectorised call each
    parts = max(2 * workers, rows // PART_ROWS + 1)
    edges = (keys.map_batches(_with_part, fn_kwargs={"parts": parts}, batch_format="numpy")
             .groupby("part", num_partitions=min(parts, 200))
             .map_groups(verified, fn_kwargs={"threshold": threshold}, batch_format="numpy"))
    parent: dict[int, tuple[int, int, float]] = {}
    for batch in edges.iter_batches(batch_format="numpy"):
        for row_id, candidate, name, similarity in zip(*(batch[k].tolist() for k in ("id", "candidate", "name", "jaccard"))):
            if row_id not in parent or candidate < parent[row_id][0]:
                parent[row_id] = (candidate, name, similarity)
    return parent


def _signed(inputs: list[Input], writer: Writer, options: ReadOptions, executor: RayExecutor,
            threshold: float) -> Any:
    """Pass 1: every input's blocks, numbered as pass 2 will take them, signed on the workers; kept on the cluster."""
    import ray.data

    from .flow import ConvertMap, source_rows

    datasets, number = [], 0
    for source, (path, name) in enumerate(inputs):
        rows, _ = source_rows(path, name, options)
        factory = ConvertMap.reading(name, writer, options, threshold)
        signer = type("PrefkitSigner", (_Signer,), {"factory": factory, "bands": bands(threshold)[0]})
        for window in windows(executor.parts(path, rows)):
            items = [{"block": pickle.dumps(b, protocol=5), "no": number + i, "source": source} for i, b in enumerate(window)]
            number += len(window)
            dataset = ray.data.from_items(items, override_num_blocks=len(items))
            datasets.append(dataset.map_batches(signer, batch_size=1, num_cpus=1, batch_format="numpy",
                                                compute=ray.data.ActorPoolStrategy(size=min(executor.workers, len(window))))
                            .materialize())
    return None if not datasets else datasets[0] if len(datasets) == 1 else datasets[0].union(*datasets[1:])
