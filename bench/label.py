"""Benchmark `prefkit label push` and `pull` against a real argilla-server, beside the bare SDK.

    .venv/bin/python bench/label.py [--sizes 1000,10000]

For each size, on a fresh server (tests/argilla_server/, the same as the tests use) with the same
pairs (bench/make_big.py: the LLaMA-Factory demo pairs, cycled with variants), each step a fresh
process as a user runs it:
  - sdk log:      the same records built as rg.Record objects and sent by `dataset.records.log(records)`
                  in one call (the process's wall time, and the log call alone);
  - prefkit push: `prefkit label push FILE` into a new dataset (read, convert, send);
  - re-push:      the same push again (nothing to send: the cost of idempotence);
  - prefkit pull: `prefkit label pull` after two annotators' answers were stored for every record;
  - sdk read:     `list(dataset.records(with_responses=True))`, the bare SDK reading the same records.
Results: a table on stdout and bench/out/label.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
VENV_BIN = os.path.dirname(sys.executable)
sys.path.insert(0, os.path.join(ROOT, "tests", "argilla_server"))
from server import ArgillaServer  # noqa: E402

# The bare SDK: the records prefkit would send, as rg.Record objects, logged in one call.
SDK_LOG = """
import json, sys, time
import argilla as rg
from prefkit.label import layout
url, key, bodies_file, name = sys.argv[1:5]
client = rg.Argilla(api_url=url, api_key=key)
ds = rg.Dataset(name=name, workspace="bench", settings=layout.settings(), client=client).create()
bodies = json.load(open(bodies_file))
records = [rg.Record(id=b["external_id"], fields=b["fields"], metadata=b["metadata"],
                     suggestions=[rg.Suggestion("preference", s["value"], agent=s["agent"]) for s in b.get("suggestions", [])])
           for b in bodies]
start = time.perf_counter()
ds.records.log(records)
print(json.dumps({"log_seconds": round(time.perf_counter() - start, 2)}))
"""

SDK_READ = """
import json, sys, time
import argilla as rg
url, key, name = sys.argv[1:4]
ds = rg.Argilla(api_url=url, api_key=key).datasets(name, workspace="bench")
start = time.perf_counter()
n = sum(1 for _ in ds.records(with_responses=True))
print(json.dumps({"records": n, "read_seconds": round(time.perf_counter() - start, 2)}))
"""


def run(argv: list[str], env: dict[str, str] | None = None) -> dict:
    """Wall seconds, peak RSS (MB) and the last JSON line printed, of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stdout, stderr = proc.stdout.read().decode(), proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed: {stderr[-2000:]}")
    out = {"seconds": round(wall, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if lines:
        out.update(json.loads(lines[-1]))
    return out


def bodies(pairs_file: str) -> list[dict]:
    """The record bodies prefkit sends for these pairs (the SDK baseline sends the same content)."""
    from prefkit.io.sources import iter_rows
    from prefkit.label.tasks import task
    from prefkit.pipeline.convert import convert
    from prefkit.readers import ReadOptions, get_reader

    with tempfile.TemporaryDirectory() as tmp:
        convert(pairs_file, os.path.join(tmp, "todo.jsonl"), to="unlabeled")
        items = get_reader("pairwise")(iter_rows(os.path.join(tmp, "todo.jsonl")), ReadOptions(target="unlabeled"))
        unique = {}  # the same pair twice in the input is one record (the server refuses repeated ids in a batch)
        for item in items:
            body = task(item, 0, "q").body
            unique.setdefault(body["external_id"], body)
        return list(unique.values())


def answer_all(server: ArgillaServer, name: str, annotators: dict[str, str]) -> None:
    """Store two annotators' submitted answers on every record (bulk upsert, as the owner)."""
    did = next(d["id"] for d in server.request("GET", "/api/v1/me/datasets")["items"] if d["name"] == name)
    ids = {n: server.request("GET", "/api/v1/me", api_key=key)["id"] for n, key in annotators.items()}
    offset = 0
    while True:
        page = server.request("GET", f"/api/v1/datasets/{did}/records?offset={offset}&limit=500")["items"]
        if not page:
            return
        items = [{"id": r["id"], "responses": [
            {"user_id": uid, "status": "submitted", "values": {"preference": {"value": "a" if (i + j) % 3 else "b"}}}
            for j, uid in enumerate(ids.values())]} for i, r in enumerate(page, offset)]
        server.request("PUT", f"/api/v1/datasets/{did}/records/bulk", {"items": items})
        offset += len(page)


def bench_size(n: int, results: list[dict]) -> None:
    pairs_file = os.path.join(OUT, f"label_pairs_{n}.json")
    if not os.path.exists(pairs_file):
        subprocess.run([sys.executable, os.path.join(HERE, "make_big.py"), pairs_file, str(n)], check=True)
    body_file = os.path.join(OUT, f"label_bodies_{n}.json")
    records = bodies(pairs_file)
    with open(body_file, "w") as f:
        json.dump(records, f)
    print(f"{n:,} pairs: {len(records):,} distinct records", file=sys.stderr)
    prefkit = os.path.join(VENV_BIN, "prefkit")
    with ArgillaServer(tempfile.mkdtemp(prefix="prefkit-bench-argilla-")) as server:
        server.create_workspace("bench")
        annotators = {a: server.create_user(a, "annotator", "bench") for a in ("ann1", "ann2")}
        env = {"ARGILLA_API_URL": server.api_url, "ARGILLA_API_KEY": server.api_key}
        steps = [
            ("sdk log", [sys.executable, "-c", SDK_LOG, server.api_url, server.api_key, body_file, "sdk"]),
            ("prefkit push", [prefkit, "label", "push", pairs_file, "--dataset", "pk", "--workspace", "bench", "-q"]),
            ("re-push", [prefkit, "label", "push", pairs_file, "--dataset", "pk", "--workspace", "bench", "-q"]),
        ]
        for what, argv in steps:
            results.append({"records": n, "what": what, **run(argv, env)})
            print(f"{n:,} {what}: {results[-1]}", file=sys.stderr)
        answer_all(server, "pk", annotators)
        out_file = os.path.join(OUT, f"label_pulled_{n}.json")
        for what, argv in (
            ("prefkit pull", [prefkit, "label", "pull", "--dataset", "pk", "--workspace", "bench", "-o", out_file,
                              "--min-annotations", "2", "-q"]),
            ("sdk read", [sys.executable, "-c", SDK_READ, server.api_url, server.api_key, "pk"]),
        ):
            results.append({"records": n, "what": what, **run(argv, env)})
            print(f"{n:,} {what}: {results[-1]}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000")
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    results: list[dict] = []
    for n in (int(s) for s in args.sizes.split(",")):
        bench_size(n, results)
    print(f"{'records':>8} {'what':14} {'s':>8} {'rec/s':>7} {'peak RSS MB':>12}  detail")
    for r in results:
        detail = {k: v for k, v in r.items() if k not in ("records", "what", "seconds", "peak_rss_mb")}
        print(f"{r['records']:>8,} {r['what']:14} {r['seconds']:>8} {round(r['records'] / r['seconds']):>7,} "
              f"{r['peak_rss_mb']:>12}  {detail or ''}")
    with open(os.path.join(OUT, "label.json"), "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
