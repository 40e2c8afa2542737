"""Benchmark `prefkit convert --decontaminate`: pairs/s and peak RSS against a plain convert of the same file.

    .venv/bin/python bench/hygiene.py [--pairs 20000] [--repeat 3] [--sets mt-bench,arena-hard,ifeval]

Builds (once, in bench/out/) a JSONL file of --pairs sharegpt pairs from the third-party demo data (bench/make_big.py),
with one pair in 100 given a benchmark prompt as its user turn, then runs as fresh processes (start-up included),
alternately, --repeat times each:
  - the floor: prefkit convert FILE -o OUT.jsonl --from sharegpt
  - prefkit convert FILE -o OUT.jsonl --from sharegpt --decontaminate SETS
and prints the best wall and CPU (user + sys) seconds of each, pairs/s, peak RSS and the time added (goal: at most
+50%), as a table and as JSON (bench/out/hygiene.json). Best-of, and CPU time, because a shared machine is noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert import OUT, VENV_BIN  # noqa: E402

from prefkit.hygiene import load_items  # noqa: E402

PLANT_EVERY = 100  # one pair in 100 holds a benchmark prompt


def build(path: str, pairs: int, sets: list[str]) -> None:
    """make_big's pairs, with a benchmark prompt planted in every PLANT_EVERY-th one."""
    subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "make_big.py"),
                    path + ".tmp", str(pairs)], check=True)
    items = [item for name in sets for item in load_items(name)]
    with open(path + ".tmp", encoding="utf-8") as src, open(path, "w", encoding="utf-8") as out:
        for i, line in enumerate(src):
            record = json.loads(line)
            if i % PLANT_EVERY == 0:
                record["conversations"] = [{"from": "human", "value": items[i // PLANT_EVERY % len(items)].text}]
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    os.unlink(path + ".tmp")


def run(argv: list[str]) -> dict[str, float]:
    """Wall and CPU seconds and peak RSS (MB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[0]} failed: {proc.stderr.read().decode()[-2000:]}")
    return {"seconds": wall, "cpu_seconds": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sets", default="mt-bench,arena-hard,ifeval")
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    src = os.path.join(OUT, f"hygiene{args.pairs // 1000}k.jsonl")
    if not os.path.exists(src):
        build(src, args.pairs, args.sets.split(","))
    prefkit = os.path.join(VENV_BIN, "prefkit")
    base = [prefkit, "convert", src, "-o", os.path.join(OUT, "hygiene.out.jsonl"), "--from", "sharegpt", "-q",
            "--report-json", os.path.join(OUT, "hygiene.report.json")]
    cases = {"plain convert": base, f"--decontaminate {args.sets}": base + ["--decontaminate", args.sets]}
    runs: dict[str, list[dict[str, float]]] = {what: [] for what in cases}
    contaminated = {}
    for _ in range(args.repeat):  # alternately, so that a change in the machine's load hits both alike
        for what, argv in cases.items():
            runs[what].append(run(argv))
            with open(os.path.join(OUT, "hygiene.report.json")) as f:
                contaminated[what] = json.load(f)["rejected_by_reason"].get("contaminated", 0)
    results = [{"what": what, "pairs": args.pairs, "seconds": round(min(r["seconds"] for r in rs), 2),
                "cpu_seconds": round(min(r["cpu_seconds"] for r in rs), 2),
                "pairs_per_s": round(args.pairs / min(r["seconds"] for r in rs)),
                "peak_rss_mb": round(max(r["peak_rss_mb"] for r in rs), 1), "contaminated": contaminated[what]}
               for what, rs in runs.items()]
    plain, screened = results
    wall, cpu = screened["seconds"] / plain["seconds"] - 1, screened["cpu_seconds"] / plain["cpu_seconds"] - 1
    print(f"{'what':56} {'pairs':>7} {'wall s':>7} {'CPU s':>6} {'pairs/s':>8} {'peak RSS MB':>12} {'contaminated':>13}")
    for r in results:
        print(f"{r['what']:56} {r['pairs']:>7,} {r['seconds']:>7} {r['cpu_seconds']:>6} {r['pairs_per_s']:>8,} "
              f"{r['peak_rss_mb']:>12} {r['contaminated']:>13,}")
    print(f"added by --decontaminate: wall {wall:+.0%}, CPU {cpu:+.0%} (goal: at most +50%); peak RSS "
          f"{screened['peak_rss_mb'] - plain['peak_rss_mb']:+.1f} MB")
    with open(os.path.join(OUT, "hygiene.json"), "w") as f:
        json.dump({"results": results, "wall_added": round(wall, 3), "cpu_added": round(cpu, 3)}, f, indent=2)


if __name__ == "__main__":
    main()
