"""Benchmark `prefkit convert`: throughput and peak RSS on large files, beside the JSON floor.

    .venv/bin/python bench/convert.py [--pairs 120000] [--big-gb 1.0] [--skip-big]

Builds (once, in bench/out/) a JSON array of --pairs sharegpt pairs and a JSON array of about
--big-gb GB from the third-party demo data (bench/make_big.py), then runs, each as a fresh process
as a user would (start-up included):
  - prefkit convert FILE -o OUT.json --from sharegpt  (streams records through readers and writer)
  - prefkit convert FILE -o OUT.parquet --from sharegpt  (the same, written as Parquet row groups)
  - the floor: orjson.loads of the whole file + orjson.dumps of it (the fastest JSON library here)
and prints records/s, wall time and peak RSS of each as a table and as JSON (bench/out/convert.json).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")
VENV_BIN = os.path.dirname(sys.executable)

FLOOR = """
import sys, orjson
with open(sys.argv[1], "rb") as f:
    data = orjson.loads(f.read())
with open(sys.argv[2], "wb") as f:
    f.write(orjson.dumps(data))
print(len(data))
"""


def run(argv: list[str]) -> dict[str, float]:
    """Wall seconds and peak RSS (MB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stderr = proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[0]} failed: {stderr[-2000:]}")
    return {"seconds": round(wall, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def ensure(path: str, pairs: int) -> None:
    if not os.path.exists(path):
        print(f"building {path} ({pairs:,} pairs)...", file=sys.stderr)
        subprocess.run([sys.executable, os.path.join(HERE, "make_big.py"), path, str(pairs)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=120_000)
    parser.add_argument("--big-gb", type=float, default=1.0)
    parser.add_argument("--skip-big", action="store_true")
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    prefkit = os.path.join(VENV_BIN, "prefkit")
    cases = [(f"pairs{args.pairs // 1000}k.json", args.pairs)]
    if not args.skip_big:
        cases.append((f"big{args.big_gb:g}gb.json", int(args.big_gb * 1e9 / 3930)))  # ~3.9 KB a record
    results = []
    for name, pairs in cases:
        src = os.path.join(OUT, name)
        ensure(src, pairs)
        size_mb = os.path.getsize(src) / 1e6
        conv = run([prefkit, "convert", src, "-o", os.path.join(OUT, "converted.json"), "--from", "sharegpt", "-q"])
        parquet = run([prefkit, "convert", src, "-o", os.path.join(OUT, "converted.parquet"), "--from", "sharegpt",
                       "-q"])
        floor = run([sys.executable, "-c", FLOOR, src, os.path.join(OUT, "floor.json")])
        for what, r in (("prefkit convert", conv), ("-> parquet", parquet), ("orjson floor", floor)):
            r.update(file=name, size_mb=round(size_mb), records=pairs, what=what,
                     records_per_s=round(pairs / r["seconds"]))
            results.append(r)
        print(f"{name}: prefkit {conv['seconds']} s vs floor {floor['seconds']} s "
              f"= {conv['seconds'] / floor['seconds']:.1f}x; RSS {conv['peak_rss_mb']} MB vs {floor['peak_rss_mb']} MB; "
              f"parquet {parquet['seconds']} s, RSS {parquet['peak_rss_mb']} MB",
              file=sys.stderr)
    print(f"{'file':18} {'MB':>6} {'records':>9} {'what':16} {'s':>7} {'rec/s':>8} {'peak RSS MB':>12}")
    for r in results:
        print(f"{r['file']:18} {r['size_mb']:>6} {r['records']:>9,} {r['what']:16} {r['seconds']:>7} "
              f"{r['records_per_s']:>8,} {r['peak_rss_mb']:>12}")
    with open(os.path.join(OUT, "convert.json"), "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
