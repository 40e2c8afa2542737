"""The ``--html`` report: one self-contained file (inline CSS and SVG, no external URL), plus the
length histogram as a PNG beside it when matplotlib is installed."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from io import BytesIO
from typing import Any

from .. import io

from .findings import LEVELS

ROWS_PER_CODE = 25
_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;
vertical-align:top}th{background:#f4f4f4}.error{color:#b00020}.warning{color:#9a6700}.info{color:#555}
.num{text-align:right}code{font-size:.92em}"""


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _bins(values: Sequence[int], lo: float, hi: float, n: int) -> list[int]:
    counts = [0] * n
    width = max((hi - lo) / n, 1e-9)
    for v in values:
        counts[min(int((v - lo) / width), n - 1)] += 1
    return counts


def histogram_svg(series: dict[str, Sequence[int]], cutoff: int, width: int = 900, height: int = 260) -> str:
    """Overlaid histograms of the series with a dashed line at the cutoff."""
    values = [v for vs in series.values() for v in vs]
    if not values:
        return "<p>No pairs to plot.</p>"
    lo, hi, n = 0, max(max(values), cutoff) * 1.02, 60
    colors = {"chosen": "#1f77b4", "rejected": "#d62728"}
    binned = {name: _bins(vs, lo, hi, n) for name, vs in series.items()}
    top = max(max(c) for c in binned.values()) or 1
    pad, plot_w, plot_h = 40, width - 60, height - 50
    parts = [f'<svg width="{width}" height="{height}" role="img">']
    for name, counts in binned.items():
        bar_w = plot_w / n
        for i, c in enumerate(counts):
            if c:
                h = c / top * plot_h
                parts.append(f'<rect x="{pad + i * bar_w:.1f}" y="{10 + plot_h - h:.1f}" width="{bar_w:.1f}" '
                             f'height="{h:.1f}" fill="{colors.get(name, "#888")}" fill-opacity="0.45"/>')
    x = pad + cutoff / hi * plot_w
    parts.append(f'<line x1="{x:.1f}" y1="5" x2="{x:.1f}" y2="{10 + plot_h}" stroke="#000" stroke-dasharray="5,4"/>')
    parts.append(f'<text x="{x + 4:.1f}" y="18" font-size="12">cutoff_len {cutoff}</text>')
    parts.append(f'<line x1="{pad}" y1="{10 + plot_h}" x2="{pad + plot_w}" y2="{10 + plot_h}" stroke="#444"/>')
    for frac in (0, 0.25, 0.5, 0.75, 1):
        parts.append(f'<text x="{pad + frac * plot_w:.1f}" y="{plot_h + 28}" font-size="11" text-anchor="middle">'
                     f'{int(hi * frac)}</text>')
    for k, (name, color) in enumerate(colors.items()):
        parts.append(f'<rect x="{pad + 10}" y="{20 + 16 * k}" width="10" height="10" fill="{color}" fill-opacity="0.6"/>'
                     f'<text x="{pad + 25}" y="{29 + 16 * k}" font-size="12">prompt + {name} (tokens)</text>')
    parts.append("</svg>")
    return "".join(parts)


def write_png(path: str, series: dict[str, Sequence[int]], cutoff: int) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(9, 3.2))
    for name, color in (("chosen", "#1f77b4"), ("rejected", "#d62728")):
        ax.hist(series[name], bins=60, alpha=0.45, color=color, label=f"prompt + {name}")
    ax.axvline(cutoff, color="black", linestyle="--", label=f"cutoff_len {cutoff}")
    ax.set_xlabel("tokens")
    ax.set_ylabel("pairs")
    ax.legend()
    fig.tight_layout()
    image = BytesIO()
    fig.savefig(image, format="png", dpi=110)
    plt.close(fig)
    io.write_bytes(path, image.getvalue())
    return True


def render(report: Any) -> str:
    """The HTML text of a ValidationReport."""
    data = report.to_json()
    counts = data["counts"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>prefkit validate: "
             f"{html.escape(report.dataset)}</title><style>{_CSS}</style></head><body>",
             f"<h1>prefkit validate: {html.escape(report.dataset)}</h1>",
             f"<p><code>{html.escape(report.file)}</code>: {report.records:,} records, stage "
             f"<b>{html.escape(report.stage)}</b>, <b>{len(report.would_drop):,}</b> would be dropped by LLaMA-Factory.</p>",
             "<h2>Summary</h2>",
             _table(["level", "code", "count"], [[lvl, code, n] for lvl in LEVELS for code, n in counts[lvl].items()])
             if any(counts.values()) else "<p>No findings.</p>"]
    tokens = data["tokens"]
    if tokens:
        rec = tokens["recommended_cutoff_len"]
        parts += [f"<h2>Token lengths ({html.escape(tokens['template'])}, cutoff_len {tokens['cutoff_len']})</h2>",
                  _table(["", "p50", "p90", "p95", "p99", "max"],
                         [[name, *(v.get(p) for p in ("p50", "p90", "p95", "p99", "max"))]
                          for name, v in tokens["percentiles"].items()]),
                  f"<p>Truncated: {tokens['truncated']:,} of {tokens['pairs']:,} pairs (prompt "
                  f"{tokens['truncated_prompt']:,}, chosen {tokens['truncated_chosen']:,}, rejected "
                  f"{tokens['truncated_rejected']:,}); identical after truncation: {tokens['identical_after_truncation']:,}; "
                  f"lost eos: {tokens['lost_eos']:,}.</p>",
                  f"<p>cutoff_len that keeps pairs whole: 95% <b>{rec['95%']}</b>, 99% <b>{rec['99%']}</b>, "
                  f"100% <b>{rec['100%']}</b>.</p>",
                  histogram_svg(report.sequences or {}, tokens["cutoff_len"])]
    else:
        parts.append("<p>Run with <code>--model</code> and <code>--cutoff-len</code> for token lengths.</p>")
    for level in LEVELS:
        for code in counts[level]:
            items = [f for f in report.findings.items if f.code == code and f.level == level]
            parts.append(f"<h2 class='{level}'>{html.escape(code)} ({level}, {len(items):,})</h2>")
            parts.append(_table(["record", "field", "message"],
                                [["" if f.index is None else f.index, f.path, f.message] for f in items[:ROWS_PER_CODE]]))
            if len(items) > ROWS_PER_CODE:
                parts.append(f"<p>... and {len(items) - ROWS_PER_CODE:,} more (see --report-json).</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(report: Any, path: str) -> str | None:
    """Write the HTML report; returns the PNG histogram's path when one was written."""
    io.write_text(path, render(report))
    if report.tokens and report.sequences:
        png = os.path.splitext(path)[0] + ".png"
        if write_png(png, report.sequences, report.tokens["cutoff_len"]):
            return png
    return None
