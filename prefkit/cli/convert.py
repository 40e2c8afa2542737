"""``prefkit convert``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from ..errors import UsageError
from ..kinds import help_line
from ..names import STRATEGIES
from .common import (DECONTAMINATE_ANSWERS, EXECUTOR, FROM_HELP, MAP_HELP, NEAR_THRESHOLD, NGRAM_OPTION, OVERLAP_OPTION, QUIET,
                     RAY_ADDRESS, REPORT_JSON, WORKERS, decontaminate_option, decontaminator, err_console,
                     near_dedup_option, near_threshold, parse_pairs, progress)

if TYPE_CHECKING:
    from ..pipeline.convert import ConvertReport


def command(
    inputs: list[str] = typer.Argument(..., help="Raw files (.json array, .jsonl, .csv, .tsv, .parquet), datasets "
                                       "folders (save_to_disk or Hub-shaped) or hf://datasets/ORG/NAME\\[@REVISION]."),
    output: str | None = typer.Option(None, "-o", "--output", help="Dataset file to write (.json, .jsonl or "
                                      ".parquet), or DIR/: a folder of JSONL parts, written by the workers."),
    preview: int | None = typer.Option(None, "--preview", help="Show the first N records (default 3) as they would "
                                       "be written, each field with its source column; write nothing."),
    fmt: str = typer.Option("auto", "--from", help=FROM_HELP),
    to: str = typer.Option("sharegpt", "--to", help=help_line("writers", "Output format:")),
    unlabeled: bool = typer.Option(False, "--unlabeled", help="Write pairs to label (for prefkit label push): "
                                   "same as --to unlabeled; a verdict becomes a suggestion."),
    rejects: Path | None = typer.Option(None, "--rejects", help="Rejects file (JSONL); default <output>.rejects.jsonl."),
    pairing: str = typer.Option("best-vs-worst", "--pairing", help=f"How scores/ranks become pairs: {', '.join(STRATEGIES)}."),
    min_margin: float = typer.Option(0.0, "--min-margin", help="Pair only answers whose scores differ by more than this."),
    mapping: list[str] = typer.Option([], "--map", help=MAP_HELP),
    verdict: list[str] = typer.Option([], "--verdict", help="What pairwise verdict values mean, LABEL=VALUE[,VALUE...] "
                                      "(LABEL: a, b, tie, failed), each VALUE one the file's verdict column holds; "
                                      "needed for numbers: --verdict a=VALUE b=VALUE (the hint shows the file's own "
                                      "values)."),
    preference_scale: str | None = typer.Option(None, "--preference-scale", help="LOW:HIGH: a continuous pairwise "
                                                "preference; nearer LOW prefers response A, nearer HIGH B."),
    tie_band: float = typer.Option(0.0, "--tie-band", help="With --preference-scale: |value - midpoint| <= X is a tie."),
    dedup: bool = typer.Option(False, "--dedup", help="Send exact duplicate rows to the rejects file."),
    split: str = typer.Option("train", "--split", help="The split of a datasets input."),
    subset: str | None = typer.Option(None, "--subset", help="The config (subset) of an hf:// or Hub-shaped input."),
    save_to_disk: Path | None = typer.Option(None, "--save-to-disk", help="Also write the output as a datasets "
                                             "folder (datasets.load_from_disk reads it)."),
    answers: Path | None = typer.Option(None, "--answers", help="--from fastchat-judge / arena-hard: the model_answer "
                                        "folder (default: BENCH/model_answer beside BENCH/model_judgment/)."),
    questions: Path | None = typer.Option(None, "--questions", help="--from fastchat-judge / arena-hard: the questions "
                                          "file (default: BENCH/question.jsonl)."),
    register: str | None = typer.Option(None, "--register", help="Register the output under this name in "
                                        "dataset_info.json (--to lf-v1: in v1's dataset_info.yaml)."),
    weight: float | None = typer.Option(None, "--weight", help="--to lf-v1 --register: the entry's sampling weight."),
    size: int | None = typer.Option(None, "--size", min=1, help="--to lf-v1 --register: the entry's sample count."),
    dataset_dir: Path | None = typer.Option(None, "--dataset-dir", help="LLaMA-Factory dataset dir (with --register)."),
    force: bool = typer.Option(False, "--force", help="Replace a different entry of the same name."),
    report_json: Path | None = REPORT_JSON,
    decontaminate: str | None = decontaminate_option("convert rejects it (contaminated), naming the item, e.g. "
                                                     "mt-bench:81."),
    ngram: int | None = NGRAM_OPTION, overlap: float | None = OVERLAP_OPTION,
    decontaminate_answers: bool = DECONTAMINATE_ANSWERS,
    near_dedup: bool = near_dedup_option("convert keeps the first pair of each group and rejects the later ones "
                                         "(near_duplicate), naming the kept record; exact duplicates are rejected "
                                         "first (duplicate_pair), as with --dedup."),
    near_jaccard: float | None = NEAR_THRESHOLD,
    executor: str = EXECUTOR, workers: int | None = WORKERS, ray_address: str | None = RAY_ADDRESS,
    quiet: bool = QUIET,
) -> None:
    """Convert raw preference logs into a LLaMA-Factory dataset; every record is written or rejected with a reason."""
    from dataclasses import replace

    from ..pipeline.convert import convert
    from ..pipeline.convert_options import ConvertOptions
    from ..readers.pairwise import parse_scale, parse_verdicts

    def text(path: Path | None) -> str | None:
        return str(path) if path else None

    options = ConvertOptions(  # each CLI option as its field
        fmt=fmt, to=to, unlabeled=unlabeled, rejects=text(rejects), pairing_strategy=pairing, min_margin=min_margin,
        mapping=parse_pairs(mapping, "--map"), verdicts=parse_verdicts(verdict) if verdict else None,
        preference_scale=parse_scale(preference_scale), tie_band=tie_band, dedup=dedup, split=split, subset=subset,
        questions=text(questions), answers=text(answers), register=register, dataset_dir=text(dataset_dir),
        force=force, weight=weight, size=size, save_to_disk=text(save_to_disk), report_json=text(report_json),
        near_dedup=near_dedup, executor=executor, workers=workers, ray_address=ray_address)
    if preview is not None:
        from ..pipeline.convert import preview as preview_records
        from ..pipeline.preview import render

        for item in preview_records(list(inputs), preview, options):
            print(render(item))
        return
    if output is None:
        raise UsageError("give -o OUTPUT (or --preview N to see the first records without writing)")
    options = replace(options, decontaminate=decontaminator(decontaminate, ngram, overlap, decontaminate_answers),
                      near_threshold=near_threshold(near_dedup, near_jaccard))
    with progress("converting", quiet) as tick:
        report = convert(list(inputs), str(output), replace(options, progress=tick, phase=tick.phase))
    for note in report.mapping_notes:
        err_console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
    if not quiet:
        summary(report)


def summary(report: ConvertReport) -> None:
    table = Table(title=f"prefkit convert -> {report.output} ({report.to})", title_justify="left")
    table.add_column("source")
    table.add_column("format")
    for name in ("records", "accepted", "rejected"):
        table.add_column(name, justify="right")
    for s in report.sources:
        table.add_row(s.path, s.format, f"{s.input_records:,}", f"{s.accepted:,}", f"{s.rejected:,}")
    err_console.print(table)
    from ..writers import writes_kto  # loaded: the run used it

    kto = writes_kto(report.to)
    rows = "KTO examples" if kto else "pairs to label" if report.to == "unlabeled" else "pairs"
    err_console.print(f"{report.pairs_written:,} {rows} written; {report.exact_duplicates:,} exact and "
                      f"{report.prompt_duplicates:,} prompt-level duplicates")
    if report.rejected_by_reason:
        reasons = ", ".join(f"{k} {v:,}" for k, v in report.rejected_by_reason.items())
        if kto:  # the table counts records; a KTO example can be rejected alone
            err_console.print(f"rejected rows: {reasons} -> {report.rejects_file} (a KTO example is rejected alone; "
                              "its record counts as accepted when its other example was written)", highlight=False)
        else:
            err_console.print(f"rejected: {reasons} -> {report.rejects_file}", highlight=False)
    if report.contamination is not None:
        err_console.print("contaminated (rejects naming each benchmark): " + ", ".join(
            f"{name} {n:,}" for name, n in report.contamination.items()), highlight=False)
    if report.near_duplicates is not None:
        err_console.print(f"near-duplicates (estimated Jaccard >= {report.near_threshold}): {report.near_duplicates:,} "
                          "rejected", highlight=False)
    if report.notes:
        err_console.print("noted: " + ", ".join(f"{k} {v:,}" for k, v in report.notes.items()), highlight=False)
    if report.registered:
        err_console.print(f"registered as {report.registered!r} in dataset_info.json", highlight=False)
