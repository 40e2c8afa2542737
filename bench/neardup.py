"""Benchmark `prefkit convert --near-dedup` against a plain convert on one input, in one run, and where the
near-dedup time goes.

    .venv/bin/python bench/neardup.py [--pairs 30000] [--repeat 3] [--baseline PATH/TO/OLD/neardup.py]

Builds (once, in bench/out/) bench/hygiene.py's near-dedup input (real recombined pairs, one in 100 a near-copy),
runs plain convert and convert --near-dedup as fresh processes, alternately, --repeat times each, and prints the
best wall seconds of each and the time added (goal: at most +50%). --baseline runs a third case with another
neardup.py in place of prefkit's (e.g. the one before a change: the before/after in one run).

Then, in this process on the same records, in blocks of 2,048, the seconds of each stage: near_text (the texts of
each record as flow gives them), record_texts (the parts), the part cache (looking the parts up, hashing the new
ones, gathering each pair's 5-grams), rensa signing, reading the digest matrix out (to_rows), signatures() as a
whole on the parts and on the joined texts, and the index (NearDuplicates.add_block).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from array import array
from itertools import chain

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert import OUT, VENV_BIN  # noqa: E402
from hygiene import build_near, run  # noqa: E402

BLOCK = 2048
# convert with another neardup.py standing for prefkit's (argv[1]: its path)
BASELINE = ("import sys, importlib.util as u; s = u.spec_from_file_location('prefkit.hygiene.neardup', sys.argv.pop(1)); "
            "m = u.module_from_spec(s); sys.modules[s.name] = m; s.loader.exec_module(m); "
            "from prefkit.cli import main; sys.argv[0] = 'prefkit'; main()")


def stages(src: str) -> dict[str, float]:
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

    timed("near_text (flow)", lambda: [flow.near_text(r) for r in records])
    parts = timed("record_texts (parts)", lambda: [nd.record_texts(r) for r in records])
    joined = ["\n".join(p) for p in parts]
    nd._PARTS.clear()
    for first in range(0, len(parts), BLOCK):
        tokens, offsets = timed("part cache (hash new, gather)", nd._PARTS.rows, parts[first:first + BLOCK])
        matrix = timed("rensa signing", _sign, tokens, offsets, nd)
        timed("to_rows", lambda: np.frombuffer(array("I", chain.from_iterable(matrix.to_rows())), np.uint32))  # noqa: B023
    index = nd.NearDuplicates()
    nd._PARTS.clear()
    for first in range(0, len(parts), BLOCK):
        sigs = timed("signatures() on parts", nd.signatures, parts[first:first + BLOCK])
        timed("index (add_block)", index.add_block, range(first, first + len(sigs)), sigs)
    nd._PARTS.clear()
    for first in range(0, len(parts), BLOCK):
        timed("signatures() on joined texts", nd.signatures, joined[first:first + BLOCK])
    return {k: round(v, 3) for k, v in took.items()} | {"pairs": len(parts), "near_duplicates": index.duplicates}


def _sign(tokens: np.ndarray, offsets: np.ndarray, nd):  # noqa: ANN001, ANN202
    from rensa import RMinHash

    return RMinHash.digest_matrix_from_flat_token_hashes(tokens, offsets.astype(np.uint64), nd.NUM_PERM, nd.SEED)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", help="another neardup.py to time in prefkit's place (e.g. the one before a change)")
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    src = os.path.join(OUT, f"neardup{args.pairs // 1000}k.jsonl")
    if not os.path.exists(src):
        build_near(src, args.pairs)
    argv = ["convert", src, "-o", os.path.join(OUT, "neardup.out.jsonl"), "--from", "sharegpt", "-q"]
    prefkit, python = os.path.join(VENV_BIN, "prefkit"), os.path.join(VENV_BIN, "python")
    cases = {"plain convert": [prefkit, *argv], "convert --near-dedup": [prefkit, *argv, "--near-dedup"]}
    if args.baseline:
        cases["  baseline neardup.py"] = [python, "-c", BASELINE, os.path.abspath(args.baseline), *argv, "--near-dedup"]
    best = {what: float("inf") for what in cases}
    for _ in range(args.repeat):  # alternately: a change in the machine's load hits all alike
        for what, command in cases.items():
            best[what] = min(best[what], run(command)["seconds"])
    added = {what: seconds / best["plain convert"] - 1 for what, seconds in best.items() if what != "plain convert"}
    for what, seconds in best.items():
        share = f"  added {added[what]:+.0%}" if what in added else ""
        print(f"{what:28} {seconds:6.2f} s  {args.pairs / seconds:8,.0f} pairs/s{share}")
    print(f"added by --near-dedup: {added['convert --near-dedup']:+.0%} (goal: at most +50%)")
    breakdown = stages(src)
    for stage, seconds in breakdown.items():
        print(f"  {stage:32} {seconds}")
    with open(os.path.join(OUT, "neardup_stages.json"), "w") as f:
        json.dump({"best_seconds": best, "added": {k: round(v, 3) for k, v in added.items()}, "stages": breakdown}, f,
                  indent=2)


if __name__ == "__main__":
    main()
