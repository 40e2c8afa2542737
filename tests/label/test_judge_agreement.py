"""label pull reports how far the annotators agree with the judge's verdicts that label push sent as suggestions
(Cohen's kappa between the suggestion and the majority verdict), against a real argilla-server."""

from __future__ import annotations

import json

import pytest

from conftest import write_jsonl
from helpers.annotators import annotate, dataset_id
from prefkit.label.agreement import cohen_kappa

# In the judged file's own A/B terms. Records 10 and 11 carry no verdict (no suggestion); None: the annotator skips.
JUDGE = ["a", "a", "a", "b", "b", "b", "tie", "a", "b", "a", None, None]
ANN1 = ["a", "a", "b", "b", "b", "a", "tie", "a", "a", "a", "a", "b"]
ANN2 = ["a", "a", "b", "b", "a", "a", "tie", None, "b", None, "a", "b"]


def judged_rows() -> list[dict]:
    """Rows as prefkit judge writes them (pairwise: prompt, response_a, response_b, verdict, judge)."""
    rows = []
    for i, verdict in enumerate(JUDGE):
        row = {"prompt": [{"role": "user", "content": f"Question {i}: name a colour."}],
               "response_a": f"first answer {i}: red", "response_b": f"second answer {i}: blue"}
        if verdict is not None:
            row |= {"verdict": verdict, "judge": {"model": "judge-m", "verdict": verdict, "orders": [verdict, verdict]}}
        rows.append(row)
    return rows


def plan(labels: list[str | None]):
    """An annotator who gives ``labels[i]`` (in the file's A/B terms) on record i, whichever side it is shown on."""
    def decide(record: dict) -> str | None:
        i = int(record["fields"]["conversation"][0]["content"].split(":")[0].split()[1])
        label = labels[i]
        kept = record["fields"]["response_a"].startswith("first")
        return label if kept or label not in ("a", "b") else {"a": "b", "b": "a"}[label]
    return decide


def test_pull_reports_judge_human_kappa(argilla, argilla_env, cli, tmp_path):
    src = write_jsonl(tmp_path / "judged.jsonl", judged_rows())
    result = cli("label", "push", src, "--dataset", "judged", "--workspace", "team", "--min-submitted", "2")
    assert result.exit_code == 0, result.output
    annotate(argilla, "ann1", "judged", plan(ANN1))
    annotate(argilla, "ann2", "judged", plan(ANN2))
    result = cli("label", "pull", "--dataset", "judged", "--workspace", "team", "-o", tmp_path / "labeled.json",
                 "--report-json", tmp_path / "pull.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "pull.json").read_text())
    did = dataset_id(argilla, "judged")
    records = argilla["server"].request("GET", f"/api/v1/datasets/{did}/records?include=suggestions&limit=100")["items"]
    positions = [r["metadata"]["position"] for r in records]
    assert "swapped" in positions and "kept" in positions  # suggestions and votes arrive in shown terms: turned back
    assert sum(bool(r.get("suggestions")) for r in records) == 10

    # By hand: the majority verdict of the submitted answers (a 1-1 split has none), against the suggestion.
    decided = []
    for suggestion, x, y in zip(JUDGE, ANN1, ANN2, strict=True):
        votes = [v for v in (x, y) if v is not None]
        verdict = votes[0] if len(set(votes)) == 1 else None
        if suggestion is not None and verdict is not None:
            decided.append((suggestion, verdict))
    assert len(decided) == 8 and sum(s == v for s, v in decided) == 6
    judge = report["judge_agreement"]
    assert judge["method"] == "cohen_kappa" and judge["records"] == 8 and judge["agreed"] == 6
    assert judge["records_with_suggestion"] == 10
    assert judge["value"] == pytest.approx(cohen_kappa(decided)) == pytest.approx(9 / 17)
    for name, labels in (("ann1", ANN1), ("ann2", ANN2)):
        own = [(s, x) for s, x in zip(JUDGE, labels, strict=True) if s is not None and x is not None]
        assert judge["per_annotator"][name] == {"value": pytest.approx(cohen_kappa(own)), "records": len(own),
                                                "agreed": sum(s == x for s, x in own)}
    assert report["agreement"]["method"] == "cohen_kappa"  # the annotators' own agreement, beside it
    assert "judge-human agreement: cohen_kappa 0.529" in result.output and "8 of 10 suggested records" in result.output


def test_no_suggestions_no_judge_agreement(argilla, argilla_env, cli, tmp_path):
    rows = [{k: v for k, v in row.items() if k not in ("verdict", "judge")} for row in judged_rows()[:4]]
    src = write_jsonl(tmp_path / "plain.jsonl", rows)
    assert cli("label", "push", src, "--dataset", "plain", "--workspace", "team").exit_code == 0
    annotate(argilla, "ann1", "plain", plan(ANN1))
    result = cli("label", "pull", "--dataset", "plain", "--workspace", "team", "-o", tmp_path / "out.json",
                 "--report-json", tmp_path / "pull.json")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "pull.json").read_text())["judge_agreement"] == {}
    assert "judge-human" not in result.output
