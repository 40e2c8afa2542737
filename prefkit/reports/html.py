"""The ``--html`` report: one self-contained file (inline CSS and SVG, no external URL), plus the
length histogram as a PNG beside it when matplotlib is installed."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from io import BytesIO
from typing import Any

from ..checks.findings import LEVELS

ROWS_PER_CODE = 25
LISTED = 200  # dropped and truncated records listed; the rest are counted
# What LLaMA-Factory trains on each kind of dataset (report.stage is the loader's name for it).
STAGES = {"rm": "pairwise (DPO/ORPO/SimPO/RM)", "kto": "KTO (single answers marked desirable or undesirable)",
          "none": "not a preference dataset"}
_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;
vertical-align:top}th{background:#f4f4f4}caption{text-align:left;color:#555;padding:2px 0}
.error{color:#b00020}.warning{color:#8a5d00}.info{color:#555}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}code{font-size:.92em}"""


def stage_name(stage: str) -> str:
    """The dataset kind in words: ``rm`` -> 'pairwise (DPO/ORPO/SimPO/RM)'."""
    return STAGES.get(stage, stage)


def _table(headers: list[str], rows: list[list[Any]], numeric: Sequence[int] = (), table_id: str = "",
           caption: str = "") -> str:
    """An HTML table; the columns at the ``numeric`` positions are right-aligned."""
    cls = lambda i: ' class="num"' if i in numeric else ""  # noqa: E731
    head = "".join(f"<th{cls(i)}>{html.escape(h)}</th>" for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{html.escape(str(c))}</td>" for i, c in enumerate(row)) + "</tr>"
                   for row in rows)
    attrs = f' id="{table_id}"' if table_id else ""
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table{attrs}>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _more(shown: int, total: int, where: str) -> str:
    return f"<p>... and {total - shown:,} more ({where}).</p>" if total > shown else ""


def _bins(values: Sequence[int], lo: float, hi: float, n: int) -> list[int]:
    counts = [0] * n
    width = max((hi - lo) / n, 1e-9)
    for v in values:
        counts[min(int((v - lo) / width), n - 1)] += 1
    return counts


def _ticks(top: float, n: int = 5) -> list[int]:
    """Round tick values from 0 to about ``top``."""
    if top <= 0:
        return [0]
    raw = top / n
    step = 10 ** math.floor(math.log10(raw))
    step = next(m * step for m in (1, 2, 5, 10) if m * step >= raw)
    return [int(i * step) for i in range(int(top // step) + 1)]


def histogram_svg(series: dict[str, Sequence[int]], cutoff: int, width: int = 900, height: int = 300,
                  labels: dict[str, str] | None = None, unit: str = "pairs") -> str:
    """Overlaid histograms of the series (token lengths), with axes, a legend and a dashed line at the cutoff."""
    values = [v for vs in series.values() for v in vs]
    if not values:
        return "<p>No pairs to plot.</p>"
    labels = labels or {name: f"prompt + {name}" for name in series}
    lo, hi, n = 0, max(max(values), cutoff) * 1.02, 60
    colors = {"chosen": "#1f77b4", "rejected": "#d62728"}
    binned = {name: _bins(vs, lo, hi, n) for name, vs in series.items()}
    top = max(max(c) for c in binned.values()) or 1
    left, right, upper, lower = 60, 20, 34, 50  # margins: y-axis labels, legend, x-axis labels and title
    plot_w, plot_h = width - left - right, height - upper - lower
    base = upper + plot_h
    y = lambda count: base - count / top * plot_h  # noqa: E731
    parts = [f'<svg id="histogram" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-labelledby="histogram-title"><title id="histogram-title">Token lengths of '
             f'{" and ".join(labels.values())}, with cutoff_len {cutoff}</title>']
    bar_w = plot_w / n
    for name, counts in binned.items():
        for i, c in enumerate(counts):
            if c:
                parts.append(f'<rect class="bar" x="{left + i * bar_w:.1f}" y="{y(c):.1f}" width="{bar_w:.1f}" '
                             f'height="{base - y(c):.1f}" fill="{colors.get(name, "#888")}" fill-opacity="0.45"/>')
    # axes, ticks and their titles
    parts.append(f'<g class="axis" stroke="#444"><line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}"/>'
                 f'<line x1="{left}" y1="{upper}" x2="{left}" y2="{base}"/></g>')
    for tick in _ticks(hi):
        x = left + tick / hi * plot_w
        parts.append(f'<line x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 5}" stroke="#444"/>'
                     f'<text x="{x:.1f}" y="{base + 18}" font-size="11" text-anchor="middle">{tick:,}</text>')
    for tick in _ticks(top):
        parts.append(f'<line x1="{left - 5}" y1="{y(tick):.1f}" x2="{left}" y2="{y(tick):.1f}" stroke="#444"/>'
                     f'<text x="{left - 8}" y="{y(tick) + 4:.1f}" font-size="11" text-anchor="end">{tick:,}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.0f}" y="{height - 8}" font-size="12" text-anchor="middle">'
                 "tokens (prompt + answer, before truncation)</text>")
    parts.append(f'<text x="14" y="{upper + plot_h / 2:.0f}" font-size="12" text-anchor="middle" '
                 f'transform="rotate(-90 14 {upper + plot_h / 2:.0f})">{unit}</text>')
    x = left + cutoff / hi * plot_w
    parts.append(f'<line x1="{x:.1f}" y1="{upper}" x2="{x:.1f}" y2="{base}" stroke="#000" stroke-dasharray="5,4"/>')
    # legend, in one line above the plot
    entries = [(f'<rect width="12" height="12" fill="{colors.get(name, "#888")}" fill-opacity="0.6"/>', labels[name])
               for name in series] + [('<line x1="0" y1="6" x2="14" y2="6" stroke="#000" stroke-dasharray="3,2"/>',
                                       f"cutoff_len {cutoff:,}")]
    parts.append(f'<g class="legend" transform="translate({left},8)">')
    x = 0.0
    for swatch, text in entries:
        parts.append(f'<g transform="translate({x:.0f},0)">{swatch}<text x="19" y="11" font-size="12">'
                     f"{html.escape(text)}</text></g>")
        x += 40 + 7 * len(text)
    parts.append("</g></svg>")
    return "".join(parts)


def png(series: dict[str, Sequence[int]], cutoff: int, labels: dict[str, str] | None = None,
        unit: str = "pairs") -> bytes | None:
    """The token-length histogram as PNG bytes (None without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(9, 3.2))
    for name, color in (("chosen", "#1f77b4"), ("rejected", "#d62728")):
        ax.hist(series[name], bins=60, alpha=0.45, color=color, label=(labels or {}).get(name, f"prompt + {name}"))
    ax.axvline(cutoff, color="black", linestyle="--", label=f"cutoff_len {cutoff}")
    ax.set_xlabel("tokens (prompt + answer, before truncation)")
    ax.set_ylabel(unit)
    ax.legend()
    fig.tight_layout()
    image = BytesIO()
    fig.savefig(image, format="png", dpi=110)
    plt.close(fig)
    return image.getvalue()


def _series_names(stage: str) -> tuple[str, dict[str, str], tuple[str, str]]:
    """(unit, histogram labels, answer names) of a dataset kind: KTO has examples, desirable or not."""
    if stage == "kto":
        return "examples", {"chosen": "prompt + desirable answer", "rejected": "prompt + undesirable answer"}, \
            ("desirable", "undesirable")
    return "pairs", {"chosen": "prompt + chosen", "rejected": "prompt + rejected"}, ("chosen", "rejected")


def _lengths(record: dict[str, Any], side: str) -> str:
    full, kept = record.get(side), record.get(f"{side}_kept")
    if full is None:
        return ""
    return f"{full:,} → {kept:,}" if kept is not None and kept < full else f"{full:,}"


def _tokens_section(report: Any, tokens: dict[str, Any]) -> list[str]:
    unit, labels, (good, bad) = _series_names(report.stage)
    rec = tokens["recommended_cutoff_len"]
    kto = report.stage == "kto"
    identical = "" if kto else f"; identical after truncation: {tokens['identical_after_truncation']:,}"
    parts = [f"<h2 id='tokens'>Token lengths (template {html.escape(tokens['template'])}, "
             f"{tokens.get('limit', 'cutoff_len')} {tokens['cutoff_len']:,})</h2>",
             f"<p>Percentiles over the {tokens['pairs']:,} {unit} measured"
             f"{'' if kto else ' (response: the longer answer)'}:</p>",
             _table(["tokens", "p50", "p90", "p95", "p99", "max"],
                    [[name, *(v.get(p) for p in ("p50", "p90", "p95", "p99", "max"))]
                     for name, v in tokens["percentiles"].items()], numeric=range(1, 6), table_id="percentiles"),
             f"<p>Truncated: <b>{tokens['truncated']:,}</b> of {tokens['pairs']:,} {unit} (prompt "
             f"{tokens['truncated_prompt']:,}, {good} {tokens['truncated_chosen']:,}, {bad} "
             f"{tokens['truncated_rejected']:,}){identical}; end-of-turn token cut: {tokens['lost_eos']:,}.</p>",
             f"<p>cutoff_len that keeps {unit} whole: 95% <b>{rec['95%']}</b>, 99% <b>{rec['99%']}</b>, "
             f"100% <b>{rec['100%']}</b>.</p>",
             histogram_svg(report.sequences or {}, tokens["cutoff_len"], labels=labels, unit=unit),
             f"<h2 id='truncated'>Truncated records ({tokens['truncated']:,})</h2>"]
    listed = tokens.get("truncated_records") or []
    if listed:
        sides = ["prompt", "answer"] if kto else ["prompt", "chosen", "rejected"]
        rows = [[r["index"], *(_lengths(r, side) for side in sides), *([("yes" if r.get("desirable") else "no")]
                                                                      if kto else []), r.get("reason", "")]
                for r in listed[:LISTED]]
        headers = ["record", *(f"{side} tokens" for side in sides), *(["desirable"] if kto else []), "why"]
        parts.append(_table(headers, rows, numeric=range(len(sides) + 1), table_id="truncated-records",
                            caption="tokens: as written → as kept at cutoff_len"))
        parts.append(_more(min(len(listed), LISTED), tokens["truncated"], "all of them in --lengths"))
    else:
        parts.append("<p>None: every record fits in cutoff_len.</p>")
    if tokens.get("images") is not None:
        parts += _images_section(tokens)
    return parts


def _images_section(tokens: dict[str, Any]) -> list[str]:
    """Image tokens (LLaMA-Factory's Qwen2-VL plugin): totals and the largest images."""
    images = tokens["images"]
    not_measured = (f"; {images['rows_not_measured']:,} rows not measured (their images stop LLaMA-Factory)"
                    if images["rows_not_measured"] else "")
    parts = ["<h2 id='images'>Image tokens</h2>",
             f"<p><b>{images['images']:,}</b> images in {images['rows']:,} rows cost <b>{images['image_tokens']:,}</b> "
             f"image tokens (mean {images['mean_per_image']:,} per image), counted as LLaMA-Factory's Qwen2-VL plugin "
             f"does with image_max_pixels {tokens['image_max_pixels']:,} and image_min_pixels "
             f"{tokens['image_min_pixels']:,} (image processor: {html.escape(str(tokens['image_processor']))}); "
             f"{tokens.get('limit', 'cutoff_len')} cuts into an image in <b>{images['rows_cut_in_image']:,}</b> "
             f"rows{not_measured}.</p>"]
    if images["largest"]:
        parts.append(_table(["image", "size", "tokens", "first record"],
                            [[e["path"], f"{e['width']}x{e['height']}", e["tokens"], e["index"]]
                             for e in images["largest"]], numeric=[2, 3], table_id="largest-images",
                            caption="the images that cost the most tokens"))
    return parts


def render(report: Any) -> str:
    """The HTML text of a ValidationReport."""
    data = report.to_json()
    counts = data["counts"]
    drops = report.would_drop
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
             "<meta name='viewport' content='width=device-width, initial-scale=1'><title>prefkit validate: "
             f"{html.escape(report.dataset)}</title><style>{_CSS}</style></head><body>",
             f"<h1>prefkit validate: {html.escape(report.dataset)}</h1>",
             f"<p><code>{html.escape(report.file)}</code>: {report.records:,} records, a "
             f"<b>{html.escape(stage_name(report.stage))}</b> dataset; <a href='#dropped'><b>{len(drops):,}</b> would be "
             f"dropped</a> by {html.escape(report.trainer)}.</p>",
             "<h2 id='summary'>Summary</h2>",
             _table(["level", "code", "count"], [[lvl, code, n] for lvl in LEVELS for code, n in counts[lvl].items()],
                    numeric=[2], table_id="findings-summary")
             if any(counts.values()) else "<p>No findings.</p>"]
    if data.get("config"):  # --config: which file and which values were counted with
        parts += ["<h2 id='config'>Training config</h2>",
                  "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in data["config"]["lines"]) + "</ul>"]
    if data.get("contamination") is not None:  # --decontaminate
        parts += ["<h2 id='contamination'>Benchmark contamination</h2>",
                  _table(["benchmark", "records holding one of its items"], list(map(list, data["contamination"].items())),
                         numeric=[1], table_id="contamination")]
    near = data.get("near_duplicates")
    if near is not None:  # --near-dedup
        parts += [f"<h2 id='near-duplicates'>Near-duplicates (estimated Jaccard &ge; {near['threshold']})</h2>",
                  f"<p>{near['groups']:,} groups hold {near['records_in_groups']:,} records "
                  f"({near['share']:.1%} of the data); the first record of each is the one convert --near-dedup keeps."
                  "</p>",
                  _table(["records", "members", "lowest Jaccard"],
                         [[g["size"], ", ".join(map(str, g["indices"][:20])), g["jaccard"]] for g in near["largest"]],
                         numeric=[0, 2], table_id="near-duplicate-groups") if near["largest"] else ""]
    tokens = data["tokens"]
    if tokens:
        parts += _tokens_section(report, tokens)
    else:
        parts.append("<p>Run with <code>--model</code> and <code>--cutoff-len</code> for token lengths.</p>")
    parts.append(f"<h2 id='dropped'>Dropped records ({len(drops):,})</h2>")
    if drops:
        parts.append(_table(["record", "code", "field", "why"],
                            [[d["index"], d["code"], d.get("path", ""), d.get("message", "")] for d in drops[:LISTED]],
                            numeric=[0], table_id="dropped-records",
                            caption=f"records {html.escape(report.trainer)}'s loader skips: they never reach training"))
        parts.append(_more(min(len(drops), LISTED), len(drops), "all of them in --report-json"))
    else:
        parts.append(f"<p>None: {html.escape(report.trainer)} keeps every record.</p>")
    for level in LEVELS:
        for code in counts[level]:
            items = [f for f in report.findings.items if f.code == code and f.level == level]
            parts.append(f"<h2 class='{level}'>{html.escape(code)} ({level}, {len(items):,})</h2>")
            parts.append(_table(["record", "field", "message"],
                                [["" if f.index is None else f.index, f.path, f.message] for f in items[:ROWS_PER_CODE]],
                                numeric=[0]))
            parts.append(_more(min(len(items), ROWS_PER_CODE), len(items), "see --report-json"))
    parts.append("</body></html>")
    return "\n".join(parts)


def histogram(report: Any) -> bytes | None:
    """The PNG written beside the HTML report, when the report has token lengths."""
    if not (report.tokens and report.sequences):
        return None
    unit, labels, _ = _series_names(report.stage)
    return png(report.sequences, report.tokens["cutoff_len"], labels, unit)
