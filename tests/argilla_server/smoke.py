"""End-to-end check of the local argilla-server (server.py) with the argilla SDK. Exits non-zero on failure.

.venv/bin/python tests/argilla_server/smoke.py [--server-python /tmp/venv-as/bin/python] [--bench 1000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import argilla as rg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server import ArgillaServer, default_server_python  # noqa: E402

N = 50
PENDING = {"and": [{"type": "terms", "scope": {"entity": "response", "property": "status"}, "values": ["pending"]}]}


def settings() -> rg.Settings:
    return rg.Settings(
        fields=[rg.ChatField(name="conversation"), rg.TextField(name="response_a"), rg.TextField(name="response_b")],
        questions=[rg.LabelQuestion(name="preference", labels=["a", "b", "tie", "both_bad"])],
        metadata=[rg.TermsMetadataProperty(name="order"), rg.IntegerMetadataProperty(name="len_a")],
        distribution=rg.TaskDistribution(min_submitted=2),
    )


def make_records(n: int, prefix: str = "r") -> list[rg.Record]:
    return [
        rg.Record(
            id=f"{prefix}{i}",
            fields={
                "conversation": [{"role": "user", "content": f"Question number {i}: tell me about Needle{i}"}],
                "response_a": f"Answer A for record {i}",
                "response_b": f"Answer B for record {i}" + (" with Ünïcode ümlaut" if i == 3 else ""),
            },
            metadata={"order": "ab" if i % 2 else "ba", "len_a": i},
            suggestions=[rg.Suggestion("preference", "a", score=i / n, agent="judge")],
        )
        for i in range(n)
    ]


def check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)
    print(f"  ok  {message}")


def search(client: rg.Argilla, dataset_id: str, body: dict, *, me: bool = False, limit: int = 50, offset: int = 0) -> dict:
    path = f"/api/v1/{'me/' if me else ''}datasets/{dataset_id}/records/search"
    response = client.http_client.post(path, json=body, params={"limit": limit, "offset": offset})
    if response.is_error:
        raise AssertionError(f"POST {path} {body} -> {response.status_code}: {response.text}")
    return response.json()


def get(client: rg.Argilla, path: str) -> dict:
    response = client.http_client.get(path)
    response.raise_for_status()
    return response.json()


def group_alive(pgids: list[int]) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid=,pgid=,args="], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line.split() and int(line.split()[1]) in pgids]


def run(server_python: str, bench: int) -> None:
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="argilla-smoke-") as home:
        server = ArgillaServer(Path(home), server_python)
        t0 = time.perf_counter()
        server.start()
        timings["server start"] = time.perf_counter() - t0
        pgids = server.pids
        try:
            exercise(server, bench, timings)
        except BaseException:
            for log in ("server.log", "worker.log"):
                tail = (Path(home) / log).read_text(errors="replace").splitlines()[-30:]
                print(f"--- tail of {log} ---", *tail, sep="\n", file=sys.stderr)
            raise
        finally:
            server.stop()
        time.sleep(0.2)
        left = group_alive(pgids)
        check(not left, f"no started process left after stop() {left or ''}")
        server.stop()  # idempotent
    print("\ntimings:")
    for name, seconds in timings.items():
        print(f"  {name:<40} {seconds:7.2f} s")


def exercise(server: ArgillaServer, bench: int, timings: dict[str, float]) -> None:
    client = rg.Argilla(api_url=server.api_url, api_key=server.api_key)
    check(client.me.username == "owner" and client.me.role == "owner", "owner api key works")

    server.create_workspace("ws")
    keys = {name: server.create_user(name, workspace="ws") for name in ("ann1", "ann2")}
    annotators = {name: rg.Argilla(api_url=server.api_url, api_key=key) for name, key in keys.items()}
    ids = {name: str(c.me.id) for name, c in annotators.items()}
    check(all(c.me.role == "annotator" for c in annotators.values()), "two annotators created")
    members = {u["username"] for u in server.request("GET", f"/api/v1/workspaces/{server.create_workspace('ws')}/users")["items"]}
    check({"ann1", "ann2"} <= members, "annotators are members of workspace ws")

    dataset = rg.Dataset(name="prefs", workspace="ws", settings=settings(), client=client).create()
    dataset_id = str(dataset.id)

    dataset.records.log(make_records(N))
    dataset.records.log(make_records(N))  # same ids: upsert
    fetched = list(client.datasets("prefs", workspace="ws").records(with_responses=True))
    check(len(fetched) == N, f"{N} records after logging them twice (got {len(fetched)})")

    # each annotator walks its queue as the UI does: search "my pending records", answer, repeat
    answered = {"ann1": N, "ann2": 30}
    for name, ann in annotators.items():
        first = search(ann, dataset_id, {"filters": PENDING}, me=True, limit=1)
        check(first["total"] == N, f"{name}: {N} pending records before answering (total={first['total']})")
        done = 0
        while done < answered[name]:
            page = search(ann, dataset_id, {"filters": PENDING}, me=True, limit=20)
            check(page["total"] == N - done, f"{name}: pending total {N - done} after {done} answers")
            for item in page["items"][: answered[name] - done]:
                record = item["record"]
                value = "a" if int(record["external_id"][1:]) % 2 == 0 or name == "ann1" else "b"
                body = {"values": {"preference": {"value": value}}, "status": "submitted"}
                ann.http_client.post(f"/api/v1/records/{record['id']}/responses", json=body).raise_for_status()
                done += 1
        left = search(ann, dataset_id, {"filters": PENDING}, me=True, limit=1)["total"]
        check(left == N - answered[name], f"{name}: {N - answered[name]} pending left")
        submitted = {"and": [{"type": "terms", "scope": {"entity": "response", "property": "status"}, "values": ["submitted"]}]}
        mine = search(ann, dataset_id, {"filters": submitted}, me=True, limit=1)["total"]
        check(mine == answered[name], f"{name}: {answered[name]} submitted by me")

    completed = {"and": [{"type": "terms", "scope": {"entity": "record", "property": "status"}, "values": ["completed"]}]}
    check(search(client, dataset_id, {"filters": completed}, limit=1)["total"] == 30, "30 records completed (min_submitted=2)")
    nobody = search(client, dataset_id, {"filters": PENDING}, limit=1)["total"]
    check(nobody == 0, "no record is pending for everyone (no user scope: nobody answered)")

    progress = get(client, f"/api/v1/datasets/{dataset_id}/progress")
    check(
        (progress["total"], progress["completed"], progress["pending"]) == (N, 30, 20),
        f"dataset progress {progress['total']}/{progress['completed']}/{progress['pending']}",
    )
    check({u["username"] for u in progress["users"]} == {"ann1", "ann2"}, "progress lists both annotators")
    metrics = get(annotators["ann2"], f"/api/v1/me/datasets/{dataset_id}/metrics")["responses"]
    check(metrics == {"total": N, "submitted": 30, "discarded": 0, "draft": 0, "pending": 20}, f"ann2 metrics {metrics}")

    # filters, text query, sort
    def total(body: dict) -> int:
        return search(client, dataset_id, body, limit=1)["total"]

    md_terms = {"type": "terms", "scope": {"entity": "metadata", "metadata_property": "order"}, "values": ["ab"]}
    md_range = {"type": "range", "scope": {"entity": "metadata", "metadata_property": "len_a"}, "ge": 10, "le": 19}
    check(total({"filters": {"and": [md_terms]}}) == 25, "metadata terms filter order=ab -> 25")
    check(total({"filters": {"and": [md_range]}}) == 10, "metadata range filter 10<=len_a<=19 -> 10")
    check(total({"filters": {"and": [md_terms, md_range]}}) == 5, "and of both -> 5")
    answer_b = {"type": "terms", "scope": {"entity": "response", "question": "preference"}, "values": ["b"]}
    check(total({"filters": {"and": [answer_b]}}) == 15, "response value filter preference=b -> 15")
    sugg = {"type": "range", "scope": {"entity": "suggestion", "question": "preference", "property": "score"}, "ge": 0.5}
    check(total({"filters": {"and": [sugg]}}) == 25, "suggestion score filter >= 0.5 -> 25")
    check(total({"query": {"text": {"q": "needle7"}}}) == 1, "text query 'needle7' (case-insensitive) -> 1")
    check(total({"query": {"text": {"q": "ümlaut ünïcode"}}}) == 1, "text query with non-ASCII terms -> 1")
    check(total({"query": {"text": {"q": "needle", "field": "response_a"}}}) == 0, "text query on another field -> 0")
    # substring semantics (ES matches whole tokens): needle4 also matches Needle40..Needle49
    check(total({"query": {"text": {"q": "tell needle4", "field": "conversation"}}}) == 11, "chat field query -> 11")
    by_len = search(
        client, dataset_id, {"sort": [{"scope": {"entity": "metadata", "metadata_property": "len_a"}, "order": "desc"}]}, limit=3
    )
    check([i["record"]["external_id"] for i in by_len["items"]] == ["r49", "r48", "r47"], "sort by metadata len_a desc")
    page2 = search(client, dataset_id, {}, limit=10, offset=10)
    check([i["record"]["external_id"] for i in page2["items"]] == [f"r{i}" for i in range(10, 20)], "default order + offset")

    sdk_hits = list(dataset.records(query=rg.Query(query="needle12", filter=rg.Filter(("metadata.order", "==", "ba")))))
    check([r.id for r in sdk_hits] == ["r12"], "SDK search (query + filter) -> r12")

    properties = {p["name"]: p["id"] for p in get(client, f"/api/v1/me/datasets/{dataset_id}/metadata-properties")["items"]}
    order_metrics = get(client, f"/api/v1/metadata-properties/{properties['order']}/metrics")
    check(
        order_metrics["total"] == N and {v["term"]: v["count"] for v in order_metrics["values"]} == {"ab": 25, "ba": 25},
        f"terms metadata metrics {order_metrics}",
    )
    len_metrics = get(client, f"/api/v1/metadata-properties/{properties['len_a']}/metrics")
    check((len_metrics["min"], len_metrics["max"]) == (0, N - 1), f"integer metadata metrics {len_metrics}")

    # read back through the SDK
    records = {r.id: r for r in client.datasets("prefs", workspace="ws").records(with_responses=True)}
    r1, r2, r40 = records["r1"], records["r2"], records["r40"]
    by_user = {str(resp.user_id): resp.value for resp in r1.responses["preference"]}
    check(by_user == {ids["ann1"]: "a", ids["ann2"]: "b"}, f"r1 responses by user {by_user}")
    check({resp.value for resp in r2.responses["preference"]} == {"a"}, "r2 responses both 'a'")
    check([str(resp.user_id) for resp in r40.responses["preference"]] == [ids["ann1"]], "r40 answered by ann1 only")
    statuses = sorted(r.status for r in records.values())
    check(statuses.count("completed") == 30 and statuses.count("pending") == 20, "record.status from the SDK")

    if bench:
        big = rg.Dataset(name="bench", workspace="ws", settings=settings(), client=client).create()
        items = make_records(bench, prefix="b")
        t0 = time.perf_counter()
        big.records.log(items)
        timings[f"log {bench} records (SDK)"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        back = list(big.records(with_responses=True))
        timings[f"read {bench} records back (SDK)"] = time.perf_counter() - t0
        check(len(back) == bench, f"{bench} records read back")
        t0 = time.perf_counter()
        hits = list(big.records(query=rg.Query(filter=rg.Filter(("metadata.order", "==", "ab")))))
        timings[f"SDK filtered search, {len(hits)} hits"] = time.perf_counter() - t0
        check(len(hits) == bench // 2, "filtered search over the bench dataset")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server-python", default=str(default_server_python()))
    parser.add_argument("--bench", type=int, default=1000, help="records for the timing run (0: skip)")
    args = parser.parse_args()
    try:
        run(args.server_python, args.bench)
    except Exception as error:  # noqa: BLE001
        print(f"\nSMOKE FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print("\nsmoke: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
