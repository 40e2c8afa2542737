"""Benchmark `prefkit convert --decontaminate` and `--near-dedup`: pairs/s and peak RSS against a plain convert.

    .venv/bin/python bench/hygiene.py [--pairs 20000] [--repeat 3] [--sets mt-bench,arena-hard,ifeval]
                                      [--near-pairs 100000] [--only decontaminate|near-dedup]

Builds (once, in bench/out/) a JSONL file of --pairs sharegpt pairs from the third-party demo data (bench/make_big.py),
with one pair in 100 given a benchmark prompt as its user turn, then runs as fresh processes (start-up included),
alternately, --repeat times each:
  - the floor: prefkit convert FILE -o OUT.jsonl --from sharegpt
  - prefkit convert FILE -o OUT.jsonl --from sharegpt --decontaminate SETS
and prints the best wall and CPU (user + sys) seconds of each, pairs/s, peak RSS and the time added (goal: at most
+50%), as a table and as JSON (bench/out/hygiene.json). Best-of, and CPU time, because a shared machine is noisy.

Near-duplicates (bench/out/neardup.json): --near-pairs distinct real pairs (bench/pairs.py), one in 100 replaced by
a near-copy of the pair 50 before it (a typo, or spacing and case), converted plainly and with --near-dedup, locally
and with --executor ray --workers 1 and 2 (a fresh local Ray each time, start-up included), --repeat times each.
Peak RSS is the driver's (the prefkit process) and, on Ray, the largest sum over the Ray processes sampled during the
run. Beside them, in this process: the floor (rensa's own signing of the same texts' 5-gram strings, blocks of
2,048), prefkit's signing (prefkit.hygiene.signatures) and the index (NearDuplicates: pairs/s, bytes a pair).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
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
    """Wall and CPU seconds and peak RSS (MB) of one child process; the peak sum of Ray's processes' RSS, if any."""
    ray_peak = [0.0]
    done = threading.Event()
    sampler = threading.Thread(target=_sample_ray, args=(ray_peak, done), daemon=True)
    sampler.start()
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[0]} failed: {proc.stderr.read().decode()[-2000:]}")
    return {"seconds": wall, "cpu_seconds": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024,
            "ray_peak_rss_mb": ray_peak[0]}


def _sample_ray(peak: list[float], done: threading.Event) -> None:
    """Every 0.2 s, the sum of the RSS of the processes whose command line names Ray (workers, raylet, GCS)."""
    import psutil

    while not done.wait(0.2):
        total = 0
        for p in psutil.process_iter(["cmdline", "memory_info"]):
            cmd = " ".join(p.info["cmdline"] or [])
            if p.info["memory_info"] and ("ray::" in cmd or "/ray/" in cmd or "raylet" in cmd or "gcs_server" in cmd):
                total += p.info["memory_info"].rss
        peak[0] = max(peak[0], total / 2**20)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sets", default="mt-bench,arena-hard,ifeval")
    parser.add_argument("--near-pairs", type=int, default=100_000)
    parser.add_argument("--only", choices=("decontaminate", "near-dedup"))
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    if args.only != "near-dedup":
        decontamination(args)
    if args.only != "decontaminate":
        near_dedup(args)


def decontamination(args: argparse.Namespace) -> None:
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


NEAR_EVERY = 100  # one pair in 100 is a near-copy of the pair NEAR_BACK before it
NEAR_BACK = 50


def build_near(path: str, pairs: int) -> None:
    from pairs import records

    rng = random.Random(0)
    with open(path, "w", encoding="utf-8") as out:
        made = records(pairs)
        for i, record in enumerate(made):
            if i % NEAR_EVERY == NEAR_EVERY - 1:
                record = near_copy(made[i - NEAR_BACK], rng)
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def near_copy(record: dict, rng: random.Random) -> dict:
    """A typo in the chosen answer, or the prompt's spacing and case changed."""
    chosen = dict(record["chosen"])
    turns = [dict(t) for t in record["conversations"]]
    if rng.random() < 0.5:
        at = rng.randrange(len(chosen["value"]))
        chosen["value"] = chosen["value"][:at] + "x" + chosen["value"][at + 1:]
    else:
        turns[-1]["value"] = "  " + turns[-1]["value"].upper().replace(" ", "  ")
    return {**record, "conversations": turns, "chosen": chosen}


def in_process(src: str) -> dict[str, float]:
    """The floor (rensa signing the 5-gram strings), prefkit's signing and the index, on the file's texts."""
    from pairs import text
    from rensa import RMinHash

    from prefkit.hygiene.neardup import NUM_PERM, SEED, SHINGLE, NearDuplicates, signatures, words

    with open(src, encoding="utf-8") as f:
        texts = [text(json.loads(line)) for line in f]
    chunks = [texts[i:i + 2048] for i in range(0, len(texts), 2048)]
    grams = lambda t: list(map(" ".join, zip(*(words(t)[k:] for k in range(SHINGLE)))))  # noqa: E731
    floor, signing, start = 0.0, 0.0, 0.0
    sigs = []
    for chunk in chunks:
        shingles = [grams(t) for t in chunk]
        start = time.perf_counter()
        RMinHash.digest_matrix_from_token_sets(shingles, NUM_PERM, SEED)
        floor += time.perf_counter() - start
        start = time.perf_counter()
        sigs.append(signatures(chunk))
        signing += time.perf_counter() - start
    index = NearDuplicates()
    start = time.perf_counter()
    found = 0
    for i, block in enumerate(sigs):
        found += sum(d is not None for d in index.add_block(range(i * 2048, i * 2048 + len(block)), block))
    indexing = time.perf_counter() - start
    n = len(texts)
    return {"floor_rensa_pairs_per_s": round(n / floor), "prefkit_signing_pairs_per_s": round(n / signing),
            "index_pairs_per_s": round(n / indexing), "index_bytes_per_pair": round(index.memory_bytes() / n),
            "near_duplicates_in_process": found}


def near_dedup(args: argparse.Namespace) -> None:
    n = args.near_pairs
    src = os.path.join(OUT, f"neardup{n // 1000}k.jsonl")
    if not os.path.exists(src):
        build_near(src, n)
    prefkit = os.path.join(VENV_BIN, "prefkit")
    report = os.path.join(OUT, "neardup.report.json")
    base = [prefkit, "convert", src, "-o", os.path.join(OUT, "neardup.out.jsonl"), "--from", "sharegpt", "-q",
            "--report-json", report]
    cases = {}
    for executor in ("local", "ray 1", "ray 2"):
        extra = [] if executor == "local" else ["--executor", "ray", "--workers", executor.split()[1]]
        cases[f"{executor}: plain convert"] = base + extra
        cases[f"{executor}: --near-dedup"] = base + extra + ["--near-dedup"]
    runs: dict[str, list[dict[str, float]]] = {what: [] for what in cases}
    rejected = {}
    for _ in range(args.repeat):
        for what, argv in cases.items():
            runs[what].append(run(argv))
            with open(report) as f:
                rejected[what] = json.load(f)["rejected_by_reason"]
    results = [{"what": what, "pairs": n, "seconds": round(min(r["seconds"] for r in rs), 2),
                "cpu_seconds": round(min(r["cpu_seconds"] for r in rs), 2),
                "pairs_per_s": round(n / min(r["seconds"] for r in rs)),
                "driver_peak_rss_mb": round(max(r["peak_rss_mb"] for r in rs), 1),
                "ray_peak_rss_mb": round(max(r["ray_peak_rss_mb"] for r in rs), 1),
                "near_duplicates": rejected[what].get("near_duplicate", 0)} for what, rs in runs.items()]
    measured = in_process(src)
    print(f"{'what':28} {'pairs':>8} {'wall s':>7} {'CPU s':>6} {'pairs/s':>8} {'driver MB':>10} {'Ray MB':>8} "
          f"{'near dups':>9}")
    for r in results:
        print(f"{r['what']:28} {r['pairs']:>8,} {r['seconds']:>7} {r['cpu_seconds']:>6} {r['pairs_per_s']:>8,} "
              f"{r['driver_peak_rss_mb']:>10} {r['ray_peak_rss_mb']:>8} {r['near_duplicates']:>9,}")
    added = {}
    for executor in ("local", "ray 1", "ray 2"):
        plain, near = (next(r for r in results if r["what"] == f"{executor}: {w}") for w in ("plain convert", "--near-dedup"))
        added[executor] = {"wall": round(near["seconds"] / plain["seconds"] - 1, 3),
                           "driver_rss_mb": round(near["driver_peak_rss_mb"] - plain["driver_peak_rss_mb"], 1)}
        print(f"added by --near-dedup ({executor}): wall {added[executor]['wall']:+.0%} (goal: at most +50%), driver "
              f"peak RSS {added[executor]['driver_rss_mb']:+.1f} MB")
    print(", ".join(f"{k} {v:,}" for k, v in measured.items()))
    with open(os.path.join(OUT, "neardup.json"), "w") as f:
        json.dump({"results": results, "added": added, "in_process": measured}, f, indent=2)


if __name__ == "__main__":
    main()
