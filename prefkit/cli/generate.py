"""``prefkit generate``."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import CONCURRENCY, QUIET, REPORT_JSON, RETRIES, TIMEOUT, bar, err_console


def command(
    prompts: str = typer.Argument(..., help="Prompts: any prefkit input with prompts (JSONL of {prompt} or messages, "
                                  "pairwise or ratings files, a datasets folder), or a NAME with --dataset-dir."),
    output: Path = typer.Option(..., "-o", "--output", help="Candidates file (.jsonl; appended, resumable)."),
    model_config: Path | None = typer.Option(None, "--model-config", help="infer.yaml: serve this model for the run."),
    base_url: str | None = typer.Option(None, "--base-url", help="An OpenAI-compatible server (…/v1) instead."),
    model: str | None = typer.Option(None, "--model", help="The model name at --base-url."),
    dataset_dir: Path | None = typer.Option(None, "--dataset-dir", help="LLaMA-Factory dataset dir (for a NAME)."),
    n: int = typer.Option(4, "--n", min=1, help="Answers per prompt."),
    temperature: float = typer.Option(0.8, "--temperature", min=0.0),
    top_p: float = typer.Option(0.95, "--top-p", min=0.0, max=1.0),
    max_tokens: int = typer.Option(512, "--max-tokens", min=1),
    concurrency: int = CONCURRENCY,
    seed: int | None = typer.Option(None, "--seed", help="Sampling seed sent to the server (if it supports one)."),
    timeout: float = TIMEOUT, retries: int = RETRIES,
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="With --model-config: let "
                                           "LLaMA-Factory run the model folder's own Python code."),
    report_json: Path | None = REPORT_JSON,
    quiet: bool = QUIET,
) -> None:
    """Sample several answers to each prompt from the policy (candidates for prefkit judge).

    Answers are appended as they come; running the same command again asks only the prompts not yet answered.
    Exit codes: 0 every request answered; 1 none was; 3 some failed (counted; run again to send only those).
    """
    from ..create.generate import generate

    with bar("generating", quiet) as tick:
        report = generate(prompts, str(output), base_url=base_url, model=model,
                          model_config=str(model_config) if model_config else None,
                          dataset_dir=str(dataset_dir) if dataset_dir else None, n=n, temperature=temperature,
                          top_p=top_p, max_tokens=max_tokens, concurrency=concurrency, seed=seed, timeout=timeout,
                          retries=retries, trust_remote_code=trust_remote_code,
                          report_json=str(report_json) if report_json else None, progress=tick)
    if not quiet:
        failed = ", ".join(f"{k} {v}" for k, v in report.failed.items()) or "none"
        err_console.print(f"{report.prompts} prompts: {report.generated} answered now ({report.responses} answers), "
                          f"{report.already_complete} already in {output}, failed: {failed}; "
                          f"{report.usage.get('requests_sent', 0)} requests in {report.seconds} s", highlight=False)
    raise typer.Exit(report.exit_code)
