"""``prefkit eval`` (a module named evaluate: `eval` is a builtin)."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import REPORT_JSON, RETRIES, TIMEOUT, err_console


def command(
    dataset: str = typer.Option(..., "--dataset", help="Held-out prompts: a registered dataset (e.g. NAME_eval)."),
    dataset_dir: Path = typer.Option(..., "--dataset-dir"),
    model_config: Path = typer.Option(..., "--model-config", help="infer.yaml of the trained model."),
    baseline_config: Path = typer.Option(..., "--baseline-config", help="infer_base.yaml: the base model."),
    judge_url: str | None = typer.Option(None, "--judge-url", help="OpenAI-compatible judge endpoint (…/v1)."),
    judge_model: str | None = typer.Option(None, "--judge-model", help="The judge's model name."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N prompts."),
    max_tokens: int = typer.Option(256, "--max-tokens", min=1, help="Answer length limit."),
    judge_max_tokens: int = typer.Option(512, "--judge-max-tokens", min=1, help="The judge's reply length limit "
                                         "(it explains, then gives [[A]], [[B]] or [[C]])."),
    output_dir: Path | None = typer.Option(None, "--output-dir", help="Where eval_answers.jsonl and .html go "
                                           "(default: beside --model-config)."),
    timeout: float = TIMEOUT, retries: int = RETRIES,
    concurrency: int = typer.Option(4, "--concurrency", min=1, help="Requests in flight."),
    report_json: Path | None = REPORT_JSON,
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Let LLaMA-Factory run the model "
                                           "folder's own Python code (auto_map). Only for a folder you trust."),
) -> None:
    """Answer held-out prompts with the trained and the base model; compare them, with a judge if given.

    Answers and verdicts are kept as they come (eval_progress.jsonl in the output folder): after Ctrl-C or failed
    requests, running the same command again sends only what is missing.
    Exit codes: 0 every answer and judgment came back; 1 none did; 3 some failed (counted in the summary).
    """
    from ..handoff.evaluate import evaluate

    out = str(output_dir or model_config.parent)
    report = evaluate(dataset, str(dataset_dir), str(model_config), str(baseline_config), out, judge_url,
                      judge_model, limit, max_tokens, trust_remote_code=trust_remote_code,
                      judge_max_tokens=judge_max_tokens, timeout=timeout, retries=retries, concurrency=concurrency,
                      report_json=str(report_json) if report_json else None)
    err_console.print(f"{report.prompts} prompts: answered model {report.answered['model']}, baseline "
                      f"{report.answered['baseline']}; failed {report.failed}; mean length difference "
                      f"{report.mean_length_difference} chars", highlight=False)
    if report.judge:
        j = report.judge
        err_console.print(f"judge {j['judge_model']}: win {j['win']} / tie {j['tie']} (inconsistent orders "
                          f"{j['inconsistent']}) / loss {j['loss']}, "
                          f"unparsed {j['unparsed']} (orders {j['unparsed_orders']}), failed {j['failed']}; win rate "
                          f"{j['win_rate']} 95% CI {j['win_rate_ci95']}", highlight=False)
    if any(report.resumed.values()):
        kept = ", ".join(f"{side} {n}" for side, n in report.resumed.items())
        err_console.print(f"kept from an earlier run (not asked again): {kept}; requests sent now: "
                          f"{report.requests_sent}", highlight=False)
    err_console.print(f"answers: {report.answers_file}, {report.html_file} (every answer and verdict as it came: "
                      f"{report.progress_file})", highlight=False)
    raise typer.Exit(report.exit_code)
