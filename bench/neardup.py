"""Benchmark `prefkit convert --near-dedup` against a plain convert on one input, in one run, and where the
near-dedup time goes.

    .venv/bin/python bench/neardup.py [--pairs 30000] [--repeat 3]

Builds (once, in bench/out/) bench/hygiene.py's near-dedup input (real recombined pairs, one in 100 a near-copy),
runs plain convert and convert --near-dedup as fresh processes, alternately, --repeat times each, and prints the
best wall seconds of each and the time added (goal: at most +50%). Then, in this process on the same records, the
seconds of each stage: near_text (the texts of each record), normalised_block, shingle hashing, rensa signing,
reading the digest matrix out (to_rows), signatures() as a whole (the stages again, with band keys
and rows) and the index (NearDuplicates.add_block).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from itertools import chain

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert import OUT, VENV_BIN  # noqa: E402
from hygiene import build_near, run  # noqa: E402

BLOCK = 2048


def stages(src: str) -> dict[str, float]:
    from rensa import RMinHash

    from prefkit.hygiene import neardup as nd
    from prefkit.io.sources import iter_rows
    from prefkit.pipeline import flow
    from prefkit.readers import ReadOptions, get_reader
    from prefkit.writers import get_writer

    writer = get_writer("sharegpt")
    items = flow.map_records(iter_rows(src, groups=True), get_reader("sharegpt"), writer, ReadOptions(format="sharegpt"))
    records = [r for r in items if not isinstance(r, (flow.Note, flow.Reject))]
    took: dict[str, float] = {}

    def timed(name: str, f, *args):  # noqa: ANN001, ANN202
        start = time.perf_counter()
        out = f(*args)
        took[name] = took.get(name, 0.0) + time.perf_counter() - start
        return out

    texts = timed("near_text", lambda: [flow.near_text(r) for r in records])
    index = nd.NearDuplicates()
    for first in range(0, len(texts), BLOCK):
        block = texts[first:first + BLOCK]
        buf, starts = timed("normalised_block", nd.normalised_block, block)
        flat, counts = timed("shingle hashes", nd._block_shingles, buf, starts)
        offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.uint64)
        matrix = timed("rensa signing", RMinHash.digest_matrix_from_flat_token_hashes, flat, offsets, nd.NUM_PERM, nd.SEED)
        timed("to_rows", lambda: np.fromiter(chain.from_iterable(matrix.to_rows()), np.uint32))  # noqa: B023
        start = time.perf_counter()
        sigs = nd.signatures(block)
        took["signatures() in all"] = took.get("signatures() in all", 0.0) + time.perf_counter() - start
        timed("index (add_block)", index.add_block, range(first, first + len(block)), sigs)
    return {k: round(v, 3) for k, v in took.items()} | {"pairs": len(texts), "near_duplicates": index.duplicates}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    src = os.path.join(OUT, f"neardup{args.pairs // 1000}k.jsonl")
    if not os.path.exists(src):
        build_near(src, args.pairs)
    base = [os.path.join(VENV_BIN, "prefkit"), "convert", src, "-o", os.path.join(OUT, "neardup.out.jsonl"),
            "--from", "sharegpt", "-q"]
    cases = {"plain convert": base, "convert --near-dedup": base + ["--near-dedup"]}
    best = {what: float("inf") for what in cases}
    for _ in range(args.repeat):  # alternately: a change in the machine's load hits both alike
        for what, argv in cases.items():
            best[what] = min(best[what], run(argv)["seconds"])
    added = best["convert --near-dedup"] / best["plain convert"] - 1
    for what, seconds in best.items():
        print(f"{what:24} {seconds:6.2f} s  {args.pairs / seconds:8,.0f} pairs/s")
    print(f"added by --near-dedup: {added:+.0%} (goal: at most +50%)")
    breakdown = stages(src)
    for stage, seconds in breakdown.items():
        print(f"  {stage:28} {seconds}")
    with open(os.path.join(OUT, "neardup_stages.json"), "w") as f:
        json.dump({"best_seconds": best, "added": round(added, 3), "stages": breakdown}, f, indent=2)


if __name__ == "__main__":
    main()
