"""``prefkit validate``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from ..errors import UsageError
from ..kinds import help_line, layouts_help
from ..names import LEVELS
from ..reports.html import stage_name
from . import common
from .common import (DECONTAMINATE_ANSWERS, EXECUTOR, NEAR_THRESHOLD, NGRAM_OPTION, OVERLAP_OPTION, QUIET, RAY_ADDRESS,
                     REPORT_JSON, WORKERS, decontaminate_option, decontaminator, err_console, near_dedup_option,
                     near_threshold, progress)

if TYPE_CHECKING:
    from ..pipeline.validate import ValidationReport

EXAMPLES = 3  # problems shown per code in the terminal summary


def command(
    dataset: str | None = typer.Argument(None, help="A dataset file, or a NAME registered in --dataset-dir (with "
                                         "--config: default the config's dataset; given, it overrides it)."),
    config: Path | None = typer.Option(None, "--config", help="The training YAML you will run (LLaMA-Factory v0 or "
                                       "v1, or TRL's): model, dataset(s), template, cutoff_len, stage, max_samples, "
                                       "mix, val_size, reasoning and image settings are read from it, with the "
                                       "trainer's defaults; a flag given beside it overrides the file (and is said)."),
    dataset_dir: Path | None = typer.Option(None, "--dataset-dir", help="LLaMA-Factory dataset dir (for a NAME)."),
    target: str | None = typer.Option(None, "--target", help=help_line("targets", "The trainer to check for "
                                      "(default: the registry entry's, or from the rows):")),
    layout: str | None = typer.Option(None, "--layout", "--format", help=layouts_help("The layout of a file "
                                      "(default: detected), by target:")),
    model: str | None = typer.Option(None, "--model", help="Tokenizer: a local folder or a hub name."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Run the --model folder's own Python "
                                           "code (auto_map) to load its tokenizer. Only for a folder you trust."),
    template: str = typer.Option("auto", "--template", help="LLaMA-Factory template name, or auto for known models "
                                  "(v1 data: chatml, qwen3 or qwen3_nothink; auto: qwen3_nothink, v1's default)."),
    cutoff_len: int | None = typer.Option(None, "--cutoff-len", "--max-length", "--max-len", "--sequence-len", min=1,
                                          help="The cutoff_len you will train with (TRL: --max-length, default 1024 "
                                          "as in DPOConfig/KTOConfig; OpenRLHF: --max-len, default 512; axolotl: "
                                          "--sequence-len, default 512)."),
    max_prompt_length: int | None = typer.Option(None, "--max-prompt-length", min=1, help="TRL 0.x's "
                                                 "max_prompt_length (default: its DPOConfig's / KTOConfig's, 512)."),
    truncation_mode: str | None = typer.Option(None, "--truncation-mode", help="TRL's truncation_mode: keep_end or "
                                               "keep_start (default: the TRL version's)."),
    trl_version: str = typer.Option("auto", "--trl-version", help="Whose rules to count with: 0.24 (what LLaMA-Factory "
                                    "installs) or 1 (TRL 1.x); auto: the TRL installed here, else 1."),
    media_dir: Path | None = typer.Option(None, "--media-dir", help="Where image paths are read from (default, as in "
                                          "LLaMA-Factory: the dataset dir; for a file, its folder)."),
    image_max_pixels: int | None = typer.Option(None, "--image-max-pixels", min=1, help="LLaMA-Factory's "
                                                "image_max_pixels: larger images are shrunk to it before their tokens "
                                                "are counted (default 768*768 = 589824, as in LLaMA-Factory)."),
    image_min_pixels: int | None = typer.Option(None, "--image-min-pixels", min=1, help="LLaMA-Factory's "
                                                "image_min_pixels: smaller images are grown to it (default 32*32 = "
                                                "1024)."),
    enable_thinking: str | None = typer.Option(None, "--enable-thinking", help="LLaMA-Factory's enable_thinking for "
                                               "reasoning templates: true (default), false or null, as in the YAML."),
    no_enable_thinking: bool = typer.Option(False, "--no-enable-thinking", help="Same as --enable-thinking false."),
    preserve_thinking: bool | None = typer.Option(None, "--preserve-thinking/--no-preserve-thinking", help="LLaMA-"
                                                  "Factory 0.9.5's preserve_thinking: keep the thoughts of history "
                                                  "turns (default: not)."),
    max_samples: int | None = typer.Option(None, "--max-samples", min=1, help="LLaMA-Factory's max_samples: only "
                                           "the first N rows of each dataset are read and measured."),
    report_json: Path | None = REPORT_JSON,
    lengths: Path | None = typer.Option(None, "--lengths", help="Write per-record token lengths here (JSONL)."),
    html_path: Path | None = typer.Option(None, "--html", help="Write a self-contained HTML report (+ PNG histogram)."),
    fail_on: str = typer.Option("error", "--fail-on", help="Exit 1 when a finding at this level or worse exists."),
    near_dedup: bool = near_dedup_option("validate reports each one (near_duplicate, a warning, naming the record it "
                                         "copies), the groups and their share of the data; exact duplicates keep "
                                         "duplicate_pair."),
    near_jaccard: float | None = NEAR_THRESHOLD,
    decontaminate: str | None = decontaminate_option("validate reports it (contaminated, an error) and counts "
                                                     "the records per benchmark."),
    ngram: int | None = NGRAM_OPTION, overlap: float | None = OVERLAP_OPTION,
    decontaminate_answers: bool = DECONTAMINATE_ANSWERS,
    executor: str = EXECUTOR, workers: int | None = WORKERS, ray_address: str | None = RAY_ADDRESS,
    quiet: bool = QUIET,
) -> None:
    """Check a dataset as its trainer (LLaMA-Factory, its v1, TRL) will read it: what it drops, exact lengths."""
    from ..targets.tokens import tokenizer_only_transformers

    if common.OWN_PROCESS:  # token counting needs no torch: keep it out of this process (3 s, 250 MB)
        tokenizer_only_transformers()
    from ..pipeline.validate import check_fail_on, png_path, validate
    from ..pipeline.validate_config import validate_config

    check_fail_on(fail_on)
    thinking = thinking_flag(enable_thinking, no_enable_thinking)
    flags = {"model": model, "template": None if template == "auto" else template, "cutoff_len": cutoff_len,
             "dataset_dir": str(dataset_dir) if dataset_dir else None, "media_dir": str(media_dir) if media_dir else None,
             "image_max_pixels": image_max_pixels, "image_min_pixels": image_min_pixels,
             "enable_thinking": thinking, "preserve_thinking": preserve_thinking, "max_samples": max_samples,
             "trust_remote_code": trust_remote_code or None, "max_prompt_length": max_prompt_length,
             "truncation_mode": truncation_mode}
    if config is None and dataset is None:
        raise UsageError("give a DATASET (a file or a registered NAME), or --config TRAIN.yaml")
    benchmarks = decontaminator(decontaminate, ngram, overlap, decontaminate_answers)
    threshold = near_threshold(near_dedup, near_jaccard) if near_dedup or near_jaccard is not None else None
    with progress("validating", quiet) as tick:
        if config is not None:
            given = {k: v for k, v in flags.items() if v is not None and k != "enable_thinking"}
            if enable_thinking is not None or no_enable_thinking:
                given["enable_thinking"] = thinking  # null is a value here
            report = validate_config(str(config), dataset, given, report_json=str(report_json) if report_json else None,
                                     layout=layout, lengths_path=str(lengths) if lengths else None,
                                     html=str(html_path) if html_path else None, executor=executor, workers=workers,
                                     ray_address=ray_address, progress=tick, decontaminate=benchmarks, target=target,
                                     trl_version=trl_version, near_dedup=threshold)
        else:
            report = validate(dataset, str(dataset_dir) if dataset_dir else None, layout, model, template, cutoff_len,
                          str(lengths) if lengths else None, report_json=str(report_json) if report_json else None,
                          html=str(html_path) if html_path else None, executor=executor, workers=workers,
                          ray_address=ray_address, progress=tick, trust_remote_code=trust_remote_code,
                          decontaminate=benchmarks, target=target, max_prompt_length=max_prompt_length,
                          truncation_mode=truncation_mode, trl_version=trl_version,
                          media_dir=str(media_dir) if media_dir else None, near_dedup=threshold,
                          image_max_pixels=image_max_pixels, image_min_pixels=image_min_pixels,
                          enable_thinking=thinking, preserve_thinking=bool(preserve_thinking), max_samples=max_samples)
    if not quiet:
        summary(report)
        if html_path:
            png = png_path(str(html_path))
            shown = f" (histogram: {png})" if report.tokens and os.path.exists(png) else ""
            err_console.print(f"HTML report: {html_path}{shown}", highlight=False)
    report.raise_if_worse_than(fail_on)


def thinking_flag(value: str | None, no: bool) -> bool | None:
    """--enable-thinking true|false|null (LLaMA-Factory's values), --no-enable-thinking: false; default true."""
    if no and value is not None:
        raise UsageError("give --enable-thinking VALUE or --no-enable-thinking, not both")
    if no:
        return False
    if value is None:
        return True
    choices = {"true": True, "false": False, "null": None, "none": None}
    if value.lower() not in choices:
        raise UsageError(f"--enable-thinking {value!r}: choose true, false or null")
    return choices[value.lower()]


def summary(report: ValidationReport) -> None:
    console = err_console
    for line in (report.config or {}).get("lines", []):
        console.print(line, highlight=False, soft_wrap=True)
    for line in [] if report.config else ([report.samples["message"]] if report.samples and "message" in
                                          report.samples else []):
        console.print(line, highlight=False)
    console.print(f"[bold]{report.dataset}[/bold] ({report.file}): {report.records:,} records, "
                  f"{stage_name(report.stage)}, {len(report.would_drop):,} would be dropped by {report.trainer}",
                  highlight=False)
    counts = report.findings.counts()
    if any(counts.values()):
        table = Table(title="findings", title_justify="left")
        for column in ("level", "code", "count", "first records"):
            table.add_column(column)
        for level in LEVELS:
            for code, n in counts[level].items():
                first = [f for f in report.findings.items if f.code == code][:EXAMPLES]
                where = "; ".join(f"#{f.index} {f.path}".strip() if f.index is not None else f.message for f in first)
                table.add_row(level, code, f"{n:,}", where)
        console.print(table)
    if report.contamination is not None:
        console.print("contaminated records by benchmark: " + ", ".join(
            f"{name} {n:,}" for name, n in report.contamination.items()), highlight=False)
    near = report.near_duplicates
    if near is not None:
        largest = "; ".join(f"{g['size']} records ({', '.join(map(str, g['indices'][:5]))})" for g in near["largest"][:3])
        console.print(f"near-duplicates (Jaccard >= {near['threshold']}): {near['groups']:,} groups holding "
                      f"{near['records_in_groups']:,} records ({near['share']:.1%})" + (f"; largest: {largest}"
                                                                                        if largest else ""),
                      highlight=False)
    tokens = report.tokens
    if tokens:
        if tokens["template_source"] != "given":
            console.print(f"template {tokens['template']!r} ({tokens['template_source']})", highlight=False)
        limit = tokens.get("limit", "cutoff_len")
        table = Table(title=f"tokens ({tokens['template']}, {limit} {tokens['cutoff_len']})", title_justify="left")
        table.add_column("")
        for p in ("p50", "p90", "p95", "p99", "max"):
            table.add_column(p, justify="right")
        for name, values in tokens["percentiles"].items():
            table.add_row(name, *(f"{values.get(p, 0):,}" for p in ("p50", "p90", "p95", "p99", "max")))
        console.print(table)
        rec = tokens["recommended_cutoff_len"]
        kto = report.stage == "kto"  # KTO: "pairs" counts examples, chosen/rejected the (un)desirable ones
        unit, good, bad = ("examples", "desirable", "undesirable") if kto else ("pairs", "chosen", "rejected")
        identical = "" if kto else f"identical after truncation {tokens['identical_after_truncation']:,}; "
        console.print(f"truncated {tokens['truncated']:,} of {tokens['pairs']:,} {unit} "
                      f"(prompt {tokens['truncated_prompt']:,}, {good} {tokens['truncated_chosen']:,}, {bad} "
                      f"{tokens['truncated_rejected']:,}); {identical}lost eos {tokens['lost_eos']:,}", highlight=False)
        if tokens["pairs"]:
            console.print(f"{limit} that keeps {unit} whole: 95% {rec['95%']}, 99% {rec['99%']}, "
                          f"100% {rec['100%']}", highlight=False)
        if tokens.get("images") is not None:
            console.print(image_summary(tokens), highlight=False)


def image_summary(tokens: dict) -> str:
    """The image tokens in two lines: totals (with the resize limits) and the largest images."""
    images = tokens["images"]
    line = (f"images: {images['images']:,} in {images['rows']:,} {'rows' if images['rows'] != 1 else 'row'}, "
            f"{images['image_tokens']:,} image tokens (mean {images['mean_per_image']:,} per image; "
            f"image_max_pixels {tokens['image_max_pixels']:,}, image_min_pixels {tokens['image_min_pixels']:,}); "
            f"cut by {tokens.get('limit', 'cutoff_len')} in {images['rows_cut_in_image']:,}")
    if images["rows_not_measured"]:
        line += f"; {images['rows_not_measured']:,} rows not measured (image errors)"
    if images["largest"]:
        line += "\nlargest images: " + "; ".join(f"{e['path']} {e['width']}x{e['height']} {e['tokens']:,} tokens "
                                                 f"(#{e['index']})" for e in images["largest"])
    return line
