"""--executor ray across a real 3-node Ray cluster on one machine (tests/helpers/ray_cluster.py): convert and
validate write the same bytes as the local executor, the work runs on several nodes, and a node lost mid-run
changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from conftest import write_jsonl

pytestmark = [pytest.mark.ray, pytest.mark.xdist_group("ray")]
ray = pytest.importorskip("ray", reason="Ray is not installed (make setup installs prefkit[scale])")

from helpers.ray_cluster import blocks_per_node, pairwise_rows, ray_cluster, raylet_pids  # noqa: E402

PREFKIT = os.path.join(os.path.dirname(sys.executable), "prefkit")
TIMEOUT = 300  # generous: the machine may be loaded


@pytest.fixture(scope="module")
def cluster():
    if ray.is_initialized():  # another module's local Ray in this process
        ray.shutdown()
    with ray_cluster(3) as c:
        yield c


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> str:
    """4,000 pairwise rows, answers padded so the file (about 6 MB) is 3 or more of prefkit's 2 MB line ranges."""
    return write_jsonl(tmp_path_factory.mktemp("mn") / "pairs.jsonl", list(pairwise_rows(4000, pad=700)))


def prefkit(*args: str, executor: list[str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([PREFKIT, *args, "-q", *executor], capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode in (0, 1), result.stderr[-3000:]
    return result


def convert(src: str, out: Path, *extra: str, executor: list[str], parts: bool = False) -> dict[str, Any]:
    """One convert's rows, rejects and report; ``parts``: to folders of parts (-o DIR/), joined in name order."""
    out.mkdir()
    rows, rejects = (f"{out / 'o'}/", f"{out / 'r'}/") if parts else (str(out / "o.jsonl"), str(out / "r.jsonl"))
    prefkit("convert", src, "--from", "pairwise", "-o", rows, "--rejects", rejects,
            "--report-json", str(out / "report.json"), *extra, executor=executor)
    report = json.loads((out / "report.json").read_text())
    for key in ("output", "rejects_file", "dataset_info_entry"):
        report.pop(key)
    return {"rows": _read(rows), "rejects": _read(rejects), "report": report}


def _read(path: str) -> bytes:
    """A file's bytes, or a folder's parts' bytes in name order (at least 3 of them: each line range is one)."""
    if not path.endswith("/"):
        return Path(path).read_bytes()
    parts = sorted(Path(path).iterdir())
    assert len(parts) >= 3, parts
    return b"".join(p.read_bytes() for p in parts)


def on(cluster: Any) -> list[str]:
    return ["--executor", "ray", "--ray-address", cluster.address]


LOCAL = ["--executor", "local"]


@pytest.mark.parametrize("extra", [(), ("--dedup",)], ids=["plain", "dedup"])
def test_convert_across_the_cluster_writes_the_same_bytes(cluster, pairs, tmp_path, extra):
    local = convert(pairs, tmp_path / "local", *extra, executor=LOCAL)
    remote = convert(pairs, tmp_path / "ray", *extra, executor=on(cluster))
    assert local == remote
    assert local["rows"] and local["rejects"]  # both files hold something
    if extra:
        assert local["report"]["exact_duplicates"] > 0


def test_parts_written_on_the_nodes_hold_the_bytes_of_one_local_file(cluster, pairs, tmp_path):
    local = convert(pairs, tmp_path / "local", "--dedup", executor=LOCAL)
    assert convert(pairs, tmp_path / "ray", "--dedup", executor=on(cluster), parts=True) == local


def test_a_local_ray_beside_the_cluster_is_a_new_one(cluster, pairs, tmp_path):
    """--executor ray with no --ray-address starts its own Ray even while a cluster runs on the machine (Ray's
    ray.init() would join that cluster, refusing prefkit's num_cpus)."""
    local = convert(pairs, tmp_path / "local", executor=LOCAL)
    assert convert(pairs, tmp_path / "own", executor=["--executor", "ray", "--workers", "1"]) == local


def test_validate_across_the_cluster_gives_the_same_report(cluster, pairs, tmp_path):
    converted = tmp_path / "pairs.json"
    prefkit("convert", pairs, "--from", "pairwise", "-o", str(converted), executor=LOCAL)
    reports = {}
    for name, executor in (("local", LOCAL), ("ray", on(cluster))):
        prefkit("validate", str(converted), "--report-json", str(tmp_path / f"{name}.json"), executor=executor)
        reports[name] = (tmp_path / f"{name}.json").read_bytes()  # no timing fields in validate's report
    assert reports["local"] == reports["ray"]
    assert json.loads(reports["ray"])


def _map_workers_of(raylet: int) -> list[psutil.Process]:
    try:
        return [p for p in psutil.Process(raylet).children() if "MapWorker" in " ".join(p.cmdline())]
    except psutil.Error:
        return []


def test_the_work_runs_on_more_than_one_node(cluster, pairs, tmp_path):
    """The map's actors (1 CPU each, nodes of 1 CPU) are placed on several nodes, and the batches run on this
    cluster's nodes. Which actor takes which batch is Ray's choice: under load one actor may take them all (seen in
    CI), so the spread is checked where Ray has no choice, on the actors' placement."""
    raylets = raylet_pids(cluster)
    placed: set[str] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            placed.update(node for node, raylet in raylets.items() if _map_workers_of(raylet))
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    since = time.time() * 1e6
    watcher.start()
    try:
        convert(pairs, tmp_path / "ray", executor=on(cluster))
    finally:
        done.set()
        watcher.join(10)
    ran = blocks_per_node(cluster.address, since)
    assert sum(ran.values()) >= 3, ran  # every line range is one batch
    assert set(ran) <= set(raylets)
    assert len(placed) >= 2, f"the map's actors were all on one node: {placed}"


@pytest.mark.parametrize("parts", [False, True], ids=["file", "parts"])
def test_a_node_lost_mid_run_changes_nothing(cluster, tmp_path, parts):
    src = write_jsonl(tmp_path / "big.jsonl", list(pairwise_rows(30_000, pad=700)))  # ~45 MB: ~23 line ranges
    local = convert(src, tmp_path / "local", executor=LOCAL)
    victim = cluster.add_node(num_cpus=1, object_store_memory=80 * 1024**2)  # a 4th node, lost mid-run
    cluster.wait_for_nodes()
    raylet = victim.all_processes["raylet"][0].process.pid
    removed = threading.Event()

    def remove_once_it_works() -> None:
        deadline = time.time() + TIMEOUT
        while not _map_workers_of(raylet) and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # its actor has started on a batch
        cluster.remove_node(victim)
        removed.set()

    killer = threading.Thread(target=remove_once_it_works, daemon=True)
    killer.start()
    remote = convert(src, tmp_path / "ray", executor=on(cluster), parts=parts)
    assert removed.is_set(), "the run ended before the node was removed"
    killer.join(TIMEOUT)
    assert local == remote
