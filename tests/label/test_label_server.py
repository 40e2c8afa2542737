"""prefkit label against a real argilla-server: push, annotators answer as the UI does, status, pull."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter

from conftest import ROOT, fixture, load_output, write_jsonl
from helpers.annotators import annotate, dataset_id
from prefkit.label.connection import Connection
from prefkit.label.push import push
from prefkit.label.tasks import original_fields

PYTHON = str(ROOT / ".venv" / "bin" / "python")


def pairs_to_label(n: int, start: int = 0) -> list[dict]:
    """Pairwise rows with no verdict; the good answer is always response_a in the input."""
    return [{"prompt": f"Question {i}: what is {i} + {i}?", "response_a": f"good {i}: {2 * i}",
             "response_b": f"bad {i}: {2 * i + 1}"} for i in range(start, start + n)]


def good_side(record: dict) -> str:
    """The label a careful annotator picks: the side showing the good answer."""
    return "a" if record["fields"]["response_a"].startswith("good") else "b"


def test_round_trip_with_three_annotators(argilla, argilla_env, cli, tmp_path):
    rows = pairs_to_label(12)
    src = write_jsonl(tmp_path / "todo.jsonl", rows)
    (tmp_path / "guide.md").write_text("Prefer the correct sum.", encoding="utf-8")
    result = cli("label", "push", src, "--dataset", "roundtrip", "--workspace", "team", "--min-submitted", "2",
                 "--guidelines", tmp_path / "guide.md", "--report-json", tmp_path / "push.json")
    assert result.exit_code == 0, result.output
    pushed = json.loads((tmp_path / "push.json").read_text())
    assert (pushed["created"], pushed["already_present"], pushed["failed"], pushed["dataset_created"]) == (12, 0, 0, True)
    assert argilla["key"] not in result.output + (tmp_path / "push.json").read_text()
    settings = argilla["server"].request("GET", f"/api/v1/datasets/{dataset_id(argilla, 'roundtrip')}")
    assert settings["guidelines"] == "Prefer the correct sum." and settings["distribution"]["min_submitted"] == 2

    def index(record: dict) -> int:
        return int(record["fields"]["conversation"][0]["content"].split(":")[0].split()[1])

    def other(label: str) -> str:
        return {"a": "b", "b": "a"}[label]

    # 0-3 all agree; 4-5 ann1 and ann2 split (ann3 breaks it for 4, skips 5); 6: tie; 7: both bad;
    # 8: only ann1 answers; 9: ann2 discards, the others agree; 10-11: nobody answers.
    plan = {
        "ann1": lambda r: None if index(r) >= 10 else {6: "tie", 7: "both_bad"}.get(index(r), good_side(r)),
        "ann2": lambda r: (None if index(r) >= 8 and index(r) != 9 else "discard" if index(r) == 9 else
                           {4: other(good_side(r)), 5: other(good_side(r)), 6: "tie", 7: "both_bad"}.get(index(r), good_side(r))),
        "ann3": lambda r: good_side(r) if index(r) in (0, 1, 4, 9) else None,
    }
    for name, decide in plan.items():
        annotate(argilla, name, "roundtrip", decide)

    result = cli("label", "status", "--dataset", "roundtrip", "--workspace", "team", "--report-json", tmp_path / "st.json")
    assert result.exit_code == 0, result.output
    st = json.loads((tmp_path / "st.json").read_text())
    # completed = two submitted answers: 0-7 (ann1+ann2) and 9 (ann1+ann3)
    assert (st["total"], st["completed"], st["pending"]) == (12, 9, 3)
    assert {n: c.get("submitted", 0) for n, c in st["annotators"].items()} == {"ann1": 10, "ann2": 8, "ann3": 4}
    assert st["annotators"]["ann2"].get("discarded") == 1

    data = tmp_path / "data"
    data.mkdir()
    result = cli("label", "pull", "--dataset", "roundtrip", "--workspace", "team", "-o", data / "labeled.json",
                 "--min-annotations", "2", "--register", "labeled", "--dataset-dir", data,
                 "--report-json", tmp_path / "pull.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "pull.json").read_text())
    out = load_output(data / "labeled.json")
    # 0-3 and 9 agree; 4 is 2 to 1 for the good answer; 5 is split; 6 tie; 7 both bad; 8, 10, 11 too few.
    assert sorted(int(r["conversations"][0]["value"].split(":")[0].split()[1]) for r in out) == [0, 1, 2, 3, 4, 9]
    assert all(r["chosen"]["value"].startswith("good") and r["rejected"]["value"].startswith("bad") for r in out)
    assert report["rejected_by_reason"] == {"too_few_annotations": 3, "split_vote": 1, "tie": 1, "both_bad": 1}
    rejects = load_output(report["rejects_file"])
    assert len(rejects) == 6 and all(r["reason"] and r["record"]["fields"] for r in rejects)
    assert {name: sum(c.values()) for name, c in report["annotators"].items()} == {"ann1": 10, "ann2": 8, "ann3": 4}
    assert report["annotators"]["ann1"]["tie"] == 1 and report["annotators"]["ann2"]["both_bad"] == 1
    # Krippendorff's alpha over the records with two or more answers, recomputed here from the plan.
    assert report["agreement"]["method"] == "krippendorff_alpha" and report["agreement"]["records"] == 9
    assert -1 <= report["agreement"]["value"] < 1
    info = json.loads((data / "dataset_info.json").read_text())
    assert info["labeled"]["ranking"] is True and info["labeled"]["file_name"] == "labeled.json"
    # The round trip's output passes prefkit validate.
    result = cli("validate", "labeled", "--dataset-dir", data)
    assert result.exit_code == 0, result.output


def test_llamafactory_loads_the_pulled_dataset(argilla, argilla_env, tmp_path):
    src = write_jsonl(tmp_path / "todo.jsonl", pairs_to_label(6))
    push([src], "lf", Connection(), workspace="team")
    annotate(argilla, "ann1", "lf", good_side)
    from prefkit.label.pull import pull

    for to in ("sharegpt", "alpaca"):
        pull("lf", str(tmp_path / f"lf_{to}.json"), Connection(), workspace="team", to=to,
             register=f"lf_{to}", dataset_dir=str(tmp_path))
    pull("lf", str(tmp_path / "lf_kto.jsonl"), Connection(), workspace="team", to="kto", register="lf_kto",
         dataset_dir=str(tmp_path))
    proc = subprocess.run([PYTHON, str(ROOT / "tests" / "tools" / "lf_load.py"), str(tmp_path), "lf_sharegpt:rm",
                           "lf_alpaca:rm", "lf_kto:kto"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{"name"')]
    kept = {r["name"]: (r["rows_in"], r["rows_out"]) for r in results}
    assert kept == {"lf_sharegpt": (6, 6), "lf_alpaca": (6, 6), "lf_kto": (12, 12)}


def test_repush_creates_no_duplicates_and_suggestions_follow_the_shown_side(argilla, argilla_env, tmp_path):
    convert_out = tmp_path / "todo.jsonl"
    from prefkit.pipeline.convert import convert

    convert(fixture("dpo_en_demo.sample.json"), str(convert_out), to="unlabeled")  # chosen suggested
    first = push([str(convert_out)], "again", Connection(), workspace="team")
    second = push([str(convert_out), fixture("dpo_en_demo.sample.json")], "again", Connection(), workspace="team")
    rows = load_output(convert_out)
    n = len({frozenset((r["response_a"], r["response_b"], r["prompt"][-1]["content"])) for r in rows})
    assert n < len(rows)  # the sample has one pair twice
    assert (first.created, first.already_present, first.duplicates) == (n, 0, len(rows) - n)
    assert (second.created, second.already_present, second.duplicates, second.dataset_created) == \
        (0, 2 * len(rows), 0, False)
    server = argilla["server"]
    did = dataset_id(argilla, "again")
    records = server.request("GET", f"/api/v1/datasets/{did}/records?include=suggestions&limit=1000")["items"]
    assert len(records) == n
    chosen = {r["chosen"]["value"] for r in load_output(fixture("dpo_en_demo.sample.json"))}
    for record in records:
        shown = record["suggestions"][0]["value"]
        assert original_fields(record)[f"response_{shown}"] in chosen
    positions = Counter(r["metadata"]["position"] for r in records)
    assert positions["kept"] > 0 and positions["swapped"] > 0


def test_an_interrupted_push_resumes(argilla, argilla_env, tmp_path):
    """A push killed (SIGKILL) after its first batches; the second push sends only the rest."""
    src = write_jsonl(tmp_path / "big.jsonl", pairs_to_label(1000))
    proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "prefkit"), "label", "push", src, "--dataset", "resume",
                             "--workspace", "team", "--batch-size", "100", "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server, did, total = argilla["server"], None, 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            did = did or dataset_id(argilla, "resume")
            total = server.request("GET", f"/api/v1/datasets/{did}/progress")["total"]
        except (StopIteration, RuntimeError):
            pass
        if total >= 100:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    total = server.request("GET", f"/api/v1/datasets/{did}/progress")["total"]
    assert 100 <= total < 1000, f"the push was not killed part-way ({total} records)"
    report = push([src], "resume", Connection(), workspace="team")
    assert (report.created, report.already_present) == (1000 - total, total)
    assert server.request("GET", f"/api/v1/datasets/{did}/progress")["total"] == 1000


def test_position_bias_of_an_annotator_does_not_reach_the_data(argilla, argilla_env, tmp_path):
    src = write_jsonl(tmp_path / "todo.jsonl", pairs_to_label(40))
    push([src], "lazy", Connection(), workspace="team")
    annotate(argilla, "ann1", "lazy", lambda r: "a")  # always the left side
    from prefkit.label.pull import pull

    report = pull("lazy", str(tmp_path / "lazy.json"), Connection(), workspace="team")
    out = load_output(tmp_path / "lazy.json")
    input_first = sum(r["chosen"]["value"].startswith("good") for r in out)
    assert report.pairs == 40 and (report.chosen_shown_as_a, report.chosen_shown_as_b) == (40, 0)
    assert 8 <= input_first <= 32  # the input's first answer is chosen only as often as it was shown first


def test_ties_as_kto(argilla, argilla_env, tmp_path):
    src = write_jsonl(tmp_path / "todo.jsonl", pairs_to_label(3))
    push([src], "ties", Connection(), workspace="team")
    labels = iter(["tie", "both_bad", "a"])
    annotate(argilla, "ann1", "ties", lambda r: next(labels))
    from prefkit.label.pull import pull

    report = pull("ties", str(tmp_path / "ties.json"), Connection(), workspace="team", to="kto", ties="kto")
    out = load_output(tmp_path / "ties.json")
    assert report.rows_written == 6 and report.rejected_by_reason == {}
    assert sorted(r["kto_tag"] for r in out) == [False, False, False, True, True, True]


def test_wrong_key_and_unreachable_server_are_one_line_errors(argilla, cli, tmp_path, monkeypatch):
    src = write_jsonl(tmp_path / "todo.jsonl", pairs_to_label(2))
    monkeypatch.delenv("ARGILLA_API_URL", raising=False)
    monkeypatch.delenv("ARGILLA_API_KEY", raising=False)
    bad_key = "not-the-key-123456"
    result = cli("label", "push", src, "--dataset", "x", "--api-url", argilla["url"], "--api-key", bad_key)
    assert result.exit_code == 2 and "rejected the API key" in result.output
    assert bad_key not in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = cli("label", "status", "--dataset", "x", "--api-url", f"http://127.0.0.1:{port}", "--api-key", argilla["key"])
    assert result.exit_code == 2 and "cannot reach Argilla" in result.output
    assert argilla["key"] not in result.output and len(result.output.strip().splitlines()) == 1
    result = cli("label", "status", "--dataset", "x", "--api-url", argilla["url"])
    assert result.exit_code == 2 and "no Argilla API key" in result.output


def test_unknown_workspace_dataset_and_foreign_dataset(argilla, argilla_env, cli, tmp_path):
    result = cli("label", "pull", "--dataset", "nope", "--workspace", "team", "-o", tmp_path / "o.json")
    assert result.exit_code == 2 and "no dataset 'nope' in workspace 'team'" in result.output
    result = cli("label", "status", "--dataset", "nope", "--workspace", "elsewhere")
    assert result.exit_code == 2 and "no workspace 'elsewhere'" in result.output
    import argilla as rg

    client = rg.Argilla(api_url=argilla["url"], api_key=argilla["key"])
    settings = rg.Settings(fields=[rg.TextField(name="text")],
                           questions=[rg.LabelQuestion(name="sentiment", labels=["pos", "neg"])])
    rg.Dataset(name="foreign", workspace="team", settings=settings, client=client).create()
    src = write_jsonl(tmp_path / "todo.jsonl", pairs_to_label(2))
    for args in (("push", src, "--dataset", "foreign"), ("pull", "--dataset", "foreign", "-o", tmp_path / "o.json")):
        result = cli("label", *args, "--workspace", "team")
        assert result.exit_code == 2 and "was not created by prefkit label push" in result.output, result.output
    assert not (tmp_path / "o.json").exists()
