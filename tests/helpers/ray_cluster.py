"""A real multi-node Ray cluster on one machine (ray.cluster_utils.Cluster: each node its own raylet, object store
and CPUs), and what ran where on it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psutil

STORE = 80 * 1024**2  # each node's object store: small, so several nodes fit on a small machine


@contextmanager
def ray_cluster(nodes: int) -> Iterator[Any]:
    """A head and ``nodes - 1`` more nodes, 1 CPU each; shut down at the end, and no process of it left."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": STORE,
                                                           "include_dashboard": False})
    session = cluster.head_node.get_session_dir_path()
    try:
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=1, object_store_memory=STORE)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        cluster.shutdown()
        psutil.wait_procs(_of_session(session), timeout=15)
        left = _of_session(session)
        assert not left, f"processes of the Ray cluster left after shutdown: {[p.pid for p in left]}"


def _of_session(session: str) -> list[psutil.Process]:
    """Live processes with ``session`` on their command line (every Ray process of a cluster has it)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and session in " ".join(proc.info["cmdline"] or ()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def raylet_pids(cluster: Any) -> dict[str, int]:
    """node id -> its raylet's pid."""
    return {n.node_id: n.all_processes["raylet"][0].process.pid for n in cluster.list_all_nodes()}


def blocks_per_node(address: str, since_us: float) -> Counter[str]:
    """How many map batches (Ray Data's ``submit`` on a map actor) each node ran since ``since_us`` (epoch µs):
    ray.timeline()'s task events name the worker, the GCS worker table its node. (Ray's state API would say it
    directly, but needs the dashboard, which minimal Ray does not have.)"""
    import ray
    from ray._private import state
    from ray.core.generated import gcs_pb2

    ray.init(address=address, log_to_driver=False, logging_level="ERROR")
    try:
        table = [gcs_pb2.WorkerTableData.FromString(w) for w in state.state._connect_and_get_accessor().get_worker_table()]
        node_of = {w.worker_address.worker_id.hex(): w.worker_address.node_id.hex() for w in table}
        return Counter(node_of[e["tid"].removeprefix("worker:")] for e in ray.timeline()
                       if e.get("name") == "submit" and e.get("ph") == "X" and e["ts"] >= since_us)
    finally:
        ray.shutdown()


def pairwise_rows(n: int, pad: int = 0) -> Iterator[dict[str, Any]]:
    """Pairwise rows: distinct prompts, one in 7 an exact duplicate, one in 50 invalid (a reject); ``pad``
    characters of filler per answer make a larger file."""
    filler = "x" * pad
    for i in range(n):
        k = i - 1 if i % 7 == 6 else i
        row = {"prompt": f"question {k}?", "response_a": f"good answer {k} {filler}",
               "response_b": f"bad answer {k} {filler}", "winner": "model_a" if k % 3 else "model_b"}
        if i % 50 == 49:
            row.pop("response_b")
        yield row

