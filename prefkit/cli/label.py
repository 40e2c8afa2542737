"""``prefkit label push|status|pull|serve``: preference labeling in Argilla or Label Studio."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from ..names import POLICIES
from ..kinds import help_line, kinds
from .common import FROM_HELP, MAP_HELP, bar, err_console, parse_pairs, progress

if TYPE_CHECKING:
    from ..label.pull import PullReport
    from ..label.status import Status

app = typer.Typer(no_args_is_help=True, help="Human preference labeling in Argilla or Label Studio: push pairs, follow, "
                  "pull answers; serve a local Label Studio.")

API_URL = typer.Option(None, "--api-url", help="Server URL (default: $ARGILLA_API_URL, or $LABEL_STUDIO_URL for Label "
                       "Studio).", show_default=False)
API_KEY = typer.Option(None, "--api-key", help="API key (default: $ARGILLA_API_KEY, or $LABEL_STUDIO_API_KEY).",
                       show_default=False)
BACKEND = typer.Option(None, "--backend", help=help_line("labelers", "The labeling server (default: "
                       "$PREFKIT_LABEL_BACKEND, else label-studio when only LABEL_STUDIO_URL is set, else argilla):"),
                       show_default=False)
# label pull --to: every writer but the pairs to label
PULL_TO = "Output format: " + "; ".join(f"{k.name}: {k.help}" if k.help else k.name for k in kinds("writers")
                                       if k.name != "unlabeled").replace("[", "\\[") + "."
WORKSPACE = typer.Option(None, "--workspace", help="Argilla workspace (default: the user's only one).")
DATASET = typer.Option(..., "--dataset", help="Argilla dataset name.")
REPORT = typer.Option(None, "--report-json", help="Write the machine-readable report here.")
QUIET = typer.Option(False, "--quiet", "-q", help="No summary on stderr.")


def _say(text: str) -> None:
    err_console.print(text, markup=False, highlight=False, soft_wrap=True)


@app.command("push", no_args_is_help=True)
def push_command(
    inputs: list[Path] = typer.Argument(..., help="Pairs to label: any prefkit input or convert output."),
    dataset: str = DATASET,
    workspace: str | None = WORKSPACE,
    min_submitted: int = typer.Option(1, "--min-submitted", min=1, help="Answers a record needs to be completed."),
    guidelines: Path | None = typer.Option(None, "--guidelines", exists=True, dir_okay=False,
                                           help="Markdown file of annotation guidelines."),
    fmt: str = typer.Option("auto", "--from", help=FROM_HELP),
    mapping: list[str] = typer.Option([], "--map", help=MAP_HELP),
    seed: int = typer.Option(0, "--seed", help="Seed of the per-record A/B order."),
    batch_size: int = typer.Option(250, "--batch-size", help="Records per request (at most 500)."),
    image_fields: int | None = typer.Option(None, "--image-fields", min=0, show_default=False,
                                            help="Image fields of a new dataset (image_1..image_N, shown above the "
                                                 "conversation); default: none when the first pairs have no images, "
                                                 "else enough for them and at least 4."),
    rejects: Path | None = typer.Option(None, "--rejects",
                                        help="Rejects file (default: <dataset>.push-rejects.jsonl beside the first input)."),
    api_url: str | None = API_URL, api_key: str | None = API_KEY, backend: str | None = BACKEND,
    report_json: Path | None = REPORT, quiet: bool = QUIET,
) -> None:
    """Send pairs to an Argilla dataset or Label Studio project (created if needed); pushing again adds only what is
    missing."""
    text = guidelines.read_text(encoding="utf-8") if guidelines else None
    from ..label.backends import connect
    from ..label.push import push

    connection = connect(backend, api_url, api_key)
    with bar("pushing", quiet) as tick:
        report = push([str(p) for p in inputs], dataset, connection, workspace=workspace, min_submitted=min_submitted,
                      guidelines=text, fmt=fmt, mapping=parse_pairs(mapping, "--map"), seed=seed, batch_size=batch_size,
                      rejects=str(rejects) if rejects else None, report_json=str(report_json) if report_json else None,
                      progress=tick, image_fields=image_fields)
    if not quiet:
        made = "created" if report.dataset_created else "existing"
        _say(f"{report.workspace}/{report.dataset} ({made}, {report.min_submitted} answer(s) per record): "
             f"{report.created:,} created, {report.already_present:,} already present, {report.duplicates:,} duplicates "
             f"in the input, {report.failed:,} failed, "
             f"from {report.input_records:,} input records ({report.rejected:,} rejected)")
        if report.rejected_by_reason:
            reasons = ", ".join(f"{k} {v:,}" for k, v in report.rejected_by_reason.items())
            _say(f"not pushed: {reasons} -> {report.rejects_file}")
        if report.first_failure:
            _say(f"first: {report.first_failure}")


@app.command("status", no_args_is_help=True)
def status_command(
    dataset: str = DATASET, workspace: str | None = WORKSPACE,
    api_url: str | None = API_URL, api_key: str | None = API_KEY, backend: str | None = BACKEND,
    report_json: Path | None = REPORT, quiet: bool = QUIET,
) -> None:
    """Records completed and pending, and answers per annotator."""
    from ..label.backends import connect
    from ..label.status import status

    result = status(dataset, connect(backend, api_url, api_key), workspace=workspace,
                    report_json=str(report_json) if report_json else None)
    if quiet:
        return
    _say(f"{result.workspace}/{result.dataset}: {result.completed:,} of {result.total:,} records completed "
         f"({result.pending:,} pending; {result.min_submitted} submitted answer(s) complete a record)")
    if result.annotators:
        table = Table("annotator", "submitted", "discarded", "draft", title_justify="left")
        for name, counts in result.annotators.items():
            table.add_row(name, *(f"{counts.get(k, 0):,}" for k in ("submitted", "discarded", "draft")))
        err_console.print(table)
    _say_agreement(result)
    _say_position(result)


@app.command("pull", no_args_is_help=True)
def pull_command(
    dataset: str = DATASET,
    output: Path = typer.Option(..., "-o", "--output", help="Dataset file to write (.json or .jsonl)."),
    workspace: str | None = WORKSPACE,
    to: str = typer.Option("sharegpt", "--to", help=PULL_TO),
    policy: str = typer.Option("majority", "--policy", help=f"How several annotators decide: {', '.join(POLICIES)}."),
    min_annotations: int = typer.Option(1, "--min-annotations", min=1, help="Submitted answers a record needs."),
    ties: str = typer.Option("drop", "--ties", help="drop: ties and 'both bad' go to the rejects; kto (with --to kto): "
                             "a tie gives two desirable examples, 'both bad' two undesirable."),
    rejects: Path | None = typer.Option(None, "--rejects", help="Rejects file (default <output>.rejects.jsonl)."),
    register: str | None = typer.Option(None, "--register", help="Register the output under this name."),
    dataset_dir: Path | None = typer.Option(None, "--dataset-dir", help="LLaMA-Factory dataset dir (with --register)."),
    force: bool = typer.Option(False, "--force", help="Replace a different registry entry of the same name."),
    api_url: str | None = API_URL, api_key: str | None = API_KEY, backend: str | None = BACKEND,
    report_json: Path | None = REPORT, quiet: bool = QUIET,
) -> None:
    """Write the submitted answers as preference pairs; ties, split votes and unanswered records go to the rejects."""
    from ..label.backends import connect
    from ..label.pull import pull

    connection = connect(backend, api_url, api_key)
    with progress("pulling", quiet) as tick:
        report = pull(dataset, str(output), connection, workspace=workspace, to=to, policy=policy,
                      min_annotations=min_annotations, ties=ties, rejects=str(rejects) if rejects else None,
                      register=register, dataset_dir=str(dataset_dir) if dataset_dir else None, force=force,
                      report_json=str(report_json) if report_json else None, progress=tick)
    if not quiet:
        summary(report)


@app.command("serve")
def serve_command(
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Label Studio's database, media and credentials.json "
                                         "(default: ~/.local/share/prefkit/label-studio).", show_default=False),
    port: int | None = typer.Option(None, "--port", help="Port on 127.0.0.1 (default: a free one)."),
    label_studio: Path | None = typer.Option(None, "--label-studio", help="The label-studio executable (default: "
                                             "$PREFKIT_LABEL_STUDIO, PATH, .venv-label-studio/).", show_default=False),
) -> None:
    """Run a local Label Studio on 127.0.0.1 until Ctrl-C: telemetry off, sign-up closed, a generated password and
    API token in <data-dir>/credentials.json (readable only by you)."""
    from ..io.urls import display_url
    from ..label.serve import serve_until_stopped

    try:
        serve_until_stopped(str(data_dir) if data_dir else None, port, str(label_studio) if label_studio else None,
                            say=_say, ready=lambda studio: print(display_url(studio.url), flush=True))
    except KeyboardInterrupt:  # while starting: said and stopped already
        raise typer.Exit(130) from None


def _say_agreement(report: PullReport | Status) -> None:
    a = report.agreement
    if a.get("method"):
        value = "undefined" if a["value"] is None else f"{a['value']:.3f}"
        _say(f"agreement: {a['method']} {value} over {a['records']:,} records ({a['annotators']} annotators)")


def _say_position(report: PullReport | Status) -> None:
    if report.position_share is not None:
        decided = report.chosen_shown_as_a + report.chosen_shown_as_b
        _say(f"position check: the side shown as A won {report.position_share:.0%} of {decided:,} decided records"
             + (" (far from half: do the annotators favour one side?)" if report.position_biased else ""))


def summary(report: PullReport) -> None:
    from ..writers import writes_kto  # loaded: the pull used it

    rows = "KTO examples" if writes_kto(report.to) else "pairs"
    _say(f"{report.workspace}/{report.dataset}: {report.records:,} records -> {report.rows_written:,} {rows} "
         f"in {report.output} ({report.policy}, at least {report.min_annotations} answer(s))")
    if report.rejected_by_reason:
        reasons = ", ".join(f"{k} {v:,}" for k, v in report.rejected_by_reason.items())
        _say(f"rejected: {reasons} -> {report.rejects_file}")
    if report.annotators:
        labels = ("a", "b", "tie", "both_bad")
        table = Table("annotator", *labels, title_justify="left")
        for name, counts in report.annotators.items():
            table.add_row(name, *(f"{counts.get(k, 0):,}" for k in labels))
        err_console.print(table)
    _say_agreement(report)
    j = report.judge_agreement
    if j:
        kappa = lambda v: "undefined" if v is None else f"{v:.3f}"  # noqa: E731
        per = ", ".join(f"{name} {kappa(p['value'])} ({p['records']:,})" for name, p in j["per_annotator"].items())
        _say(f"judge-human agreement: cohen_kappa {kappa(j['value'])} between the suggestion and the verdict over "
             f"{j['records']:,} of {j['records_with_suggestion']:,} suggested records ({j['agreed']:,} agree)"
             + (f"; per annotator: {per}" if per else ""))
    _say_position(report)
    if report.registered:
        _say(f"registered as {report.registered!r} in dataset_info.json")
