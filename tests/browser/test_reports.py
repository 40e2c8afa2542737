"""prefkit's HTML reports opened in a real browser (headless Chromium): each loads with no console error, the
histogram is drawn with its axes and legend, every table is there with the rows the report promises, and
what matters is readable. Screenshots go to the test's folder."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from selenium.webdriver.common.by import By

from conftest import write_jsonl
from helpers.browser import console_errors, readable, screenshot, text_of
from prefkit.create.verdicts import PairVerdict
from prefkit.reports.eval_html import render as render_eval


def pair(i: int, words: int) -> dict[str, Any]:
    return {"conversations": [{"from": "human", "value": f"Question {i}: tell me about the number {i}."}],
            "chosen": {"from": "gpt", "value": f"Answer {i}: " + "a fine answer " * words},
            "rejected": {"from": "gpt", "value": f"Other {i}: " + "a poor reply " * (words // 2 + 1)}}


def rows_of(driver: Any, table_id: str) -> list[Any]:
    return driver.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr")


def test_validate_report_in_the_browser(cli, browser, tmp_path, qwen_tokenizer):
    # 230 pairs of growing length (about the last 215 go past cutoff_len 64), 210 dropped (an answer before any question)
    rows = [pair(i, 2 + i // 4) for i in range(230)]
    rows += [{"conversations": [{"from": "gpt", "value": f"x {i}"}], "chosen": {"from": "gpt", "value": "a"},
              "rejected": {"from": "gpt", "value": "b"}} for i in range(210)]
    src = write_jsonl(tmp_path / "pairs.jsonl", rows)
    page = tmp_path / "report.html"
    result = cli("validate", src, "--html", page, "--model", qwen_tokenizer, "--template", "qwen", "--cutoff-len", "64",
                 "--report-json", tmp_path / "report.json")
    assert result.exit_code == 1  # the dropped records are errors
    report = json.loads((tmp_path / "report.json").read_text())
    tokens = report["tokens"]
    assert 200 < tokens["truncated"] < 230 and len(tokens["truncated_records"]) == 200
    assert len(report["would_drop"]) == 210

    browser.get(page.as_uri())
    assert browser.title == "prefkit validate: pairs.jsonl"
    body = text_of(browser.find_element(By.TAG_NAME, "body"))
    assert "a pairwise (DPO/ORPO/SimPO/RM) dataset" in body and "stage rm" not in body
    # every table, with the rows it promises
    for table_id in ("findings-summary", "percentiles", "truncated-records", "dropped-records"):
        table = browser.find_element(By.ID, table_id)
        assert table.is_displayed() and rows_of(browser, table_id), f"table {table_id} is empty or hidden"
    assert len(rows_of(browser, "percentiles")) == 3
    truncated = rows_of(browser, "truncated-records")
    assert len(truncated) == 200 and f"... and {tokens['truncated'] - 200:,} more" in body
    first = tokens["truncated_records"][0]
    cells = [text_of(c) for c in truncated[0].find_elements(By.TAG_NAME, "td")]
    assert cells[0] == str(first["index"]) and cells[-1] == first["reason"] and "cutoff_len 64" in first["reason"]
    assert "→" in " ".join(cells[1:4])  # as written -> as kept
    dropped = rows_of(browser, "dropped-records")
    assert len(dropped) == 200 and "... and 10 more" in body
    assert [text_of(c) for c in dropped[0].find_elements(By.TAG_NAME, "td")][:2] == ["230", "bad_role_order"]
    # the histogram: bars inside the plot, both axes with their titles, a legend naming each series
    svg = browser.find_element(By.ID, "histogram")
    box = svg.rect
    assert svg.is_displayed() and box["width"] > 600 and box["height"] > 200
    bars = svg.find_elements(By.CSS_SELECTOR, "rect.bar")
    assert len(bars) > 10
    for bar in bars:
        r = bar.rect
        assert box["x"] <= r["x"] and r["x"] + r["width"] <= box["x"] + box["width"] + 1
        assert box["y"] <= r["y"] and r["y"] + r["height"] <= box["y"] + box["height"] + 1 and r["height"] > 0
    labels = [t.text for t in svg.find_elements(By.TAG_NAME, "text")]
    for expected in ("tokens (prompt + answer, before truncation)", "pairs", "prompt + chosen", "prompt + rejected",
                     "cutoff_len 64", "0"):
        assert expected in labels, f"{expected!r} missing from the histogram: {labels}"
    assert len(svg.find_elements(By.CSS_SELECTOR, ".axis line")) == 2
    for element, what in ((browser.find_element(By.TAG_NAME, "h1"), "the title"), (truncated[0], "a truncated record"),
                          (dropped[0], "a dropped record"), (svg.find_elements(By.CSS_SELECTOR, ".legend text")[0],
                                                              "the legend")):
        readable(browser, element, what)
    screenshot(browser, tmp_path / "validate.png")
    assert console_errors(browser) == []


def test_eval_report_shows_answers_side_by_side_with_the_verdicts(browser, tmp_path):
    prompts = [(3, [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}]),
               (7, [{"role": "user", "content": "Name a <b>colour</b> & a shape."}]),
               (9, [{"role": "user", "content": "Say hi."}])]
    answers = {"model": ["4", "Red & a circle. " * 30, "Hi!"], "baseline": ["5", "Blue, square.", None]}
    outcomes = {0: PairVerdict("a", ("a", "b"), ("A", "B")),
                1: PairVerdict("inconsistent", ("b", "b"), ("B is better: shorter.", "B"))}
    report = SimpleNamespace(prompts=3, answered={"model": 3, "baseline": 2}, failed={"model": {}, "baseline":
                             {"APITimeoutError": 1}}, compared=2, mean_length_difference=229.5,
                             judge={"judge_model": "judge-x", "pairs": 2, "win": 1, "tie": 1, "loss": 0,
                                    "inconsistent": 1, "unparsed": 0, "unparsed_orders": 0, "win_rate": 0.75,
                                    "win_rate_ci95": (0.3, 0.95)})
    page = tmp_path / "eval_answers.html"
    page.write_text(render_eval(prompts, answers, outcomes, report), encoding="utf-8")
    browser.get(page.as_uri())
    body = text_of(browser.find_element(By.TAG_NAME, "body"))
    for expected in ("win rate (ties count half), 95% interval 75.0% (30.0% to 95.0%)", "baseline: failed (APITimeoutError) 1",
                     "judge judge-x"):
        assert expected in body, expected
    rows = rows_of(browser, "answers")
    assert [r.get_attribute("id") for r in rows] == ["record-3", "record-7", "record-9"]
    for row, (verdict, first, second) in zip(rows, [("model better", "model better", "model better"),
                                                    ("inconsistent", "baseline better", "model better"),
                                                    ("not judged", None, None)]):
        model, baseline, judge = (row.find_element(By.CSS_SELECTOR, f"td.{c}") for c in ("model", "baseline", "judge"))
        # side by side: the same row, model on the left, equally wide, neither cut off
        assert abs(model.rect["y"] - baseline.rect["y"]) < 1 and model.rect["x"] < baseline.rect["x"]
        assert abs(model.rect["width"] - baseline.rect["width"]) < 2 and model.rect["width"] > 250
        assert text_of(judge).startswith(verdict)
        if first:
            assert f"model as A: {first}" in text_of(judge) and f"baseline as A: {second}" in text_of(judge)
        for cell, what in ((model, "model answer"), (baseline, "baseline answer"), (judge, "verdict")):
            readable(browser, cell, f"{what} of {row.get_attribute('id')}")
    # texts are shown as written: no tag from a prompt or an answer becomes markup
    assert "Name a <b>colour</b> & a shape." in text_of(rows[1])
    assert "(no answer)" in text_of(rows[2].find_element(By.CSS_SELECTOR, "td.baseline"))
    screenshot(browser, tmp_path / "eval.png")
    assert console_errors(browser) == []
