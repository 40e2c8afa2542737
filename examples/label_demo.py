"""The labeling round trip of the demo, on a local Label Studio started by ``prefkit label serve``.

    .venv/bin/python examples/label_demo.py [--backend label-studio|argilla]

Label Studio (the default): starts ``prefkit label serve`` as a subprocess (its database in .cache/label-studio-demo;
the executable from .venv-label-studio/), reads the generated token from its credentials.json, pushes two models'
answers with no trusted verdict (examples/raw/model_outputs.jsonl; the judge's verdicts become suggestions), lets
two scripted annotators (alice and bob, users made through the REST API) answer through Label Studio's REST API
(the owner posts each annotation with ``completed_by`` set to the annotator, the record the UI's Submit makes:
the free edition gives annotators no API tokens of their own), shows the status, pulls the answers as sharegpt
pairs registered in $DEMO_DATA as `model_review`, and stops the server with Ctrl-C (SIGINT), as a user would.

``--backend argilla``: the same round on argilla-server (SQLite + Redis, tests/argilla_server/), the annotators
answering through Argilla's REST API as its UI does. With your own server, use the prefkit label commands only
(see docs/commands/label.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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


PUSH = ["examples/raw/model_outputs.jsonl", "--dataset", "model-review", "--min-submitted", "2"]
PULL = ["--dataset", "model-review", "-o", f"{DATA}/model_review.json", "--min-annotations", "2",
        "--register", "model_review", "--dataset-dir", DATA, "--force"]


def label_studio_round() -> None:
    import httpx

    home = os.path.join(ROOT, ".cache", "label-studio-demo")
    shutil.rmtree(home, ignore_errors=True)
    print("$ prefkit label serve --data-dir .cache/label-studio-demo   (in the background)", file=sys.stderr)
    serve = subprocess.Popen([PREFKIT, "label", "serve", "--data-dir", home], stdout=subprocess.PIPE, text=True)
    try:
        url = (serve.stdout.readline() if serve.stdout else "").strip()  # printed once Label Studio answers
        if not url:
            raise SystemExit(f"prefkit label serve exited with {serve.wait()} before Label Studio answered")
        with open(os.path.join(home, "credentials.json"), encoding="utf-8") as f:
            token = json.load(f)["token"]
        env = {"LABEL_STUDIO_URL": url, "LABEL_STUDIO_API_KEY": token, "PREFKIT_LABEL_BACKEND": "label-studio"}
        prefkit("label", "push", *PUSH, env=env)
        with httpx.Client(base_url=url, headers={"Authorization": f"Token {token}", "Connection": "close"},
                          timeout=60) as api:
            def call(method: str, path: str, **kwargs: Any) -> Any:
                response = api.request(method, path, **kwargs)
                response.raise_for_status()
                return response.json()

            ids = {name: call("POST", "/api/users", json={"email": f"{name}@demo.localdomain", "username": name})["id"]
                   for name in ("alice", "bob")}
            project = next(p for p in call("GET", "/api/projects", params={"title": "model-review"})["results"]
                           if p["title"] == "model-review")
            tasks = call("GET", f"/api/projects/{project['id']}/export",
                         params={"exportType": "JSON", "download_all_tasks": "true"})
            for name, user in ids.items():  # each annotator answers every task, as in the UI's labeling stream
                for task in tasks:
                    shown = {"fields": {"conversation": task["data"]["conversation"],
                                        "response_a": task["data"]["response_a"], "response_b": task["data"]["response_b"]}}
                    result = [{"from_name": "preference", "to_name": "response_a", "type": "choices",
                               "value": {"choices": [choose(shown, name)]}}]
                    call("POST", f"/api/tasks/{task['id']}/annotations", json={"completed_by": user, "result": result})
                print(f"  {name} answered {len(tasks)} records", file=sys.stderr)
        prefkit("label", "status", "--dataset", "model-review", env=env)
        prefkit("label", "pull", *PULL, env=env)
    finally:
        if serve.poll() is None:
            print("stopping prefkit label serve (Ctrl-C)", file=sys.stderr)
            serve.send_signal(signal.SIGINT)
            try:
                serve.wait(timeout=60)
            except subprocess.TimeoutExpired:
                serve.kill()
                serve.wait()


def argilla_round() -> None:
    sys.path.insert(0, os.path.join(ROOT, "tests", "argilla_server"))
    from server import ArgillaServer

    home = os.path.join(ROOT, ".cache", "argilla-demo")
    shutil.rmtree(home, ignore_errors=True)
    print("starting argilla-server (SQLite + Redis) on 127.0.0.1...", file=sys.stderr)
    with ArgillaServer(home) as server:  # started here, stopped at the end of the block
        server.create_workspace("demo")
        keys = {name: server.create_user(name, "annotator", "demo") for name in ("alice", "bob")}
        env = {"ARGILLA_API_URL": server.api_url, "ARGILLA_API_KEY": server.api_key, "PREFKIT_LABEL_BACKEND": "argilla"}
        prefkit("label", "push", *PUSH, "--workspace", "demo", env=env)
        did = next(d["id"] for d in server.request("GET", "/api/v1/me/datasets")["items"] if d["name"] == "model-review")
        for name, key in keys.items():  # each annotator works through its queue, as in the UI
            queue = server.request("POST", f"/api/v1/me/datasets/{did}/records/search?limit=50", {"filters": PENDING},
                                   api_key=key)
            for item in queue["items"]:
                body = {"values": {"preference": {"value": choose(item["record"], name)}}, "status": "submitted"}
                server.request("POST", f"/api/v1/records/{item['record']['id']}/responses", body, api_key=key)
            print(f"  {name} answered {len(queue['items'])} records", file=sys.stderr)
        prefkit("label", "status", "--dataset", "model-review", "--workspace", "demo", env=env)
        prefkit("label", "pull", *PULL, "--workspace", "demo", env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description="The demo's labeling round (see the module's docstring).")
    parser.add_argument("--backend", choices=("label-studio", "argilla"), default="label-studio")
    args = parser.parse_args()
    label_studio_round() if args.backend == "label-studio" else argilla_round()


if __name__ == "__main__":
    main()
