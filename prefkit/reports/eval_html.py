"""``prefkit eval``'s HTML page: the scores, then each prompt with the model's and the baseline's answers side by
side and the judge's verdict beside them (both orders, and the judge's own words). One self-contained file."""

from __future__ import annotations

import html
from typing import Any

_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1400px;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:6px 8px;text-align:left;
vertical-align:top}th{background:#f4f4f4}#answers{width:100%;table-layout:fixed}#answers col.n{width:5em}
#answers col.prompt{width:20%}#answers col.answer{width:32%}#answers col.judge{width:15em}
ul{margin:4px 0;padding-left:1.2em}
pre{white-space:pre-wrap;overflow-wrap:anywhere;margin:0;font:inherit}details{margin-top:4px;color:#444}
.win{color:#0b6b2b;font-weight:600}.loss{color:#b00020;font-weight:600}.tie,.inconsistent{color:#444;font-weight:600}
.unparsed,.none{color:#666}.missing{color:#666;font-style:italic}td.num{text-align:right}"""
# a PairVerdict.verdict (a: the model, the first answer given, is better) in words, with its CSS class
VERDICTS = {"a": ("model better", "win"), "b": ("baseline better", "loss"), "tie": ("tie", "tie"),
            "inconsistent": ("inconsistent: the two orders disagree", "inconsistent"),
            "unparsed": ("no verdict: the judge's replies could not be read", "unparsed")}
_ORDER = {"a": "model better", "b": "baseline better", "tie": "tie", None: "unreadable reply"}


def _text(value: str | None) -> str:
    if value is None:
        return "<span class='missing'>(no answer)</span>"
    return f"<pre>{html.escape(value)}</pre>"


def _judge_cell(outcome: Any | None, judged: bool) -> str:
    if outcome is None:
        return "<span class='none'>" + ("not judged (an answer is missing)" if judged else "no judge") + "</span>"
    words, cls = VERDICTS.get(outcome.verdict, (outcome.verdict, "none"))
    first, second = outcome.orders
    swapped = {"a": "b", "b": "a"}.get(second, second)  # the second order showed the baseline as A
    orders = (f"<li>model as A: {_ORDER.get(first, first)}</li>"
              f"<li>baseline as A: {_ORDER.get(swapped, swapped)}</li>")
    replies = "".join(f"<p><b>{label}</b></p><pre>{html.escape(reply or '(empty)')}</pre>"
                      for label, reply in zip(("model as A", "baseline as A"), outcome.replies))
    return (f"<span class='{cls}'>{html.escape(words)}</span><ul>{orders}</ul>"
            f"<details><summary>the judge's replies</summary>{replies}</details>")


def _summary(report: Any) -> str:
    rows = [("prompts", report.prompts), ("answered by the model", report.answered.get("model", 0)),
            ("answered by the baseline", report.answered.get("baseline", 0)), ("compared", report.compared)]
    for side, reasons in report.failed.items():
        for reason, n in reasons.items():
            rows.append((f"{side}: failed ({reason})", n))
    if report.mean_length_difference is not None:
        rows.append(("mean length difference (characters, model - baseline)", report.mean_length_difference))
    judge = report.judge
    if judge:
        rows += [("judge", judge["judge_model"]), ("model better (win)", judge["win"]), ("tie", judge["tie"]),
                 ("baseline better (loss)", judge["loss"]), ("inconsistent (counted as ties)", judge.get("inconsistent", 0)),
                 ("unparsed", judge["unparsed"])]
        if judge.get("win_rate") is not None:
            low, high = judge["win_rate_ci95"]
            rows.append(("win rate (ties count half), 95% interval", f"{judge['win_rate']:.1%} ({low:.1%} to {high:.1%})"))
    body = "".join(f"<tr><th>{html.escape(k)}</th><td class='num'>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def render(prompts: list[tuple[int, list[dict[str, str]]]], answers: dict[str, list[str | None]],
           outcomes: dict[int, Any], report: Any) -> str:
    """The page: ``outcomes`` maps a prompt's position to its PairVerdict (prefkit.create.verdicts), when judged."""
    judged = bool(report.judge)
    rows = []
    for n, (index, messages) in enumerate(prompts):
        earlier = messages[:-1]
        context = "" if not earlier else (
            f"<details><summary>the {len(earlier)} earlier message(s)</summary>" +
            "".join(f"<p><b>{html.escape(m['role'])}</b></p><pre>{html.escape(m['content'])}</pre>" for m in earlier) +
            "</details>")
        rows.append(f"<tr id='record-{index}'><td class='num'>{index}</td><td>{_text(messages[-1]['content'])}{context}</td>"
                    f"<td class='model'>{_text(answers['model'][n])}</td>"
                    f"<td class='baseline'>{_text(answers['baseline'][n])}</td>"
                    f"<td class='judge'>{_judge_cell(outcomes.get(n), judged)}</td></tr>")
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'><title>prefkit eval: model vs baseline"
            f"</title><style>{_CSS}</style></head><body><h1>prefkit eval: the trained model against its baseline</h1>"
            f"<h2 id='summary'>Summary</h2>{_summary(report)}"
            f"<h2>Answers ({len(prompts):,} prompts)</h2>"
            "<table id='answers'><colgroup><col class='n'><col class='prompt'><col class='answer'><col class='answer'>"
            "<col class='judge'></colgroup><thead><tr><th>record</th><th>prompt (last turn)</th><th>model</th>"
            "<th>baseline</th><th>judge</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></body></html>")
