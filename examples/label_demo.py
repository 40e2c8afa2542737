"""The labeling round trip of the demo, on a local Argilla server (the one the tests use).

    .venv/bin/python examples/label_demo.py

Starts argilla-server (SQLite + Redis, tests/argilla_server/) in .cache/argilla-demo, pushes two models'
answers with no trusted verdict (examples/raw/model_outputs.jsonl; the judge's verdicts become
suggestions), lets two scripted annotators answer through the REST API as Argilla's UI does, shows the
status, pulls the answers as sharegpt pairs registered in data/ as `model_review`, and stops the server.
With your own server, use the three prefkit label commands only (see the README).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "argilla_server"))
from server import ArgillaServer  # noqa: E402

PREFKIT = os.path.join(ROOT, ".venv", "bin", "prefkit")
DATA = os.environ.get("DEMO_DATA", "data")  # examples/demo.sh points this at its scratch copy
PENDING = {"and": [{"type": "terms", "scope": {"entity": "response", "property": "status"}, "values": ["pending"]}]}
# What the scripted annotators know: the better answer starts with these words (None: no good answer).
BETTER = {"What is the boiling": "Water boils at 100", "Translate": "Bonjour", "How many legs": "Spiders have",
          "Write a haiku": "Red leaves", "Is 221": "No: 221", "What does HTTP": "404 Not Found",
          "Name the largest": None, "Give one tip": "tie"}


def choose(record: dict, annotator: str) -> str:
    question = record["fields"]["conversation"][-1]["content"]
    better = next(v for k, v in BETTER.items() if question.startswith(k))
    if better is None:
        return "both_bad"
    if better == "tie":  # taste differs: the two annotators split
        return "a" if annotator == "alice" else "b"
    return "a" if record["fields"]["response_a"].startswith(better) else "b"


def prefkit(*args: str, env: dict[str, str]) -> None:
    print("$ prefkit " + " ".join(args), file=sys.stderr)
    subprocess.run([PREFKIT, *args], env={**os.environ, **env}, check=True)


def main() -> None:
    home = os.path.join(ROOT, ".cache", "argilla-demo")
    shutil.rmtree(home, ignore_errors=True)
    print("starting argilla-server (SQLite + Redis) on 127.0.0.1...", file=sys.stderr)
    with ArgillaServer(home) as server:  # started here, stopped at the end of the block
        server.create_workspace("demo")
        keys = {name: server.create_user(name, "annotator", "demo") for name in ("alice", "bob")}
        env = {"ARGILLA_API_URL": server.api_url, "ARGILLA_API_KEY": server.api_key}
        prefkit("label", "push", "examples/raw/model_outputs.jsonl", "--dataset", "model-review", "--workspace", "demo",
                "--min-submitted", "2", env=env)
        did = next(d["id"] for d in server.request("GET", "/api/v1/me/datasets")["items"] if d["name"] == "model-review")
        for name, key in keys.items():  # each annotator works through its queue, as in the UI
            queue = server.request("POST", f"/api/v1/me/datasets/{did}/records/search?limit=50", {"filters": PENDING},
                                   api_key=key)
            for item in queue["items"]:
                body = {"values": {"preference": {"value": choose(item["record"], name)}}, "status": "submitted"}
                server.request("POST", f"/api/v1/records/{item['record']['id']}/responses", body, api_key=key)
            print(f"  {name} answered {len(queue['items'])} records", file=sys.stderr)
        prefkit("label", "status", "--dataset", "model-review", "--workspace", "demo", env=env)
        prefkit("label", "pull", "--dataset", "model-review", "--workspace", "demo", "-o", f"{DATA}/model_review.json",
                "--min-annotations", "2", "--register", "model_review", "--dataset-dir", DATA, "--force", env=env)


if __name__ == "__main__":
    main()
