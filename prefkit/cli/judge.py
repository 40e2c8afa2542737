"""``prefkit judge``."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import CONCURRENCY, QUIET, REPORT_JSON, RETRIES, TIMEOUT, bar, err_console


def command(
    candidates: str = typer.Argument(..., help="Candidates: prefkit generate's output ({prompt, responses} rows)."),
    output: Path = typer.Option(..., "-o", "--output", help="Pairwise rows (or ratings rows in score mode), "
                                "appended (.jsonl; resumable)."),
    judge_url: str | None = typer.Option(None, "--judge-url", help="The judge's OpenAI-compatible server (…/v1)."),
    judge_model: str | None = typer.Option(None, "--judge-model", help="The judge's model name."),
    mode: str = typer.Option("pairwise", "--mode", help="pairwise (both orders, MT-bench format) or score (1-10)."),
    prompt_template: Path | None = typer.Option(None, "--prompt-template", help="Your judge prompt: "
                                                "{conversation}, {answer_a}, {answer_b} (score: {answer})."),
    reward_model_config: Path | None = typer.Option(None, "--reward-model-config", help="rm_infer.yaml: score "
                                                    "with a reward model (prefkit train --method rm) instead."),
    concurrency: int = CONCURRENCY,
    max_tokens: int = typer.Option(512, "--max-tokens", min=1, help="The judge's reply length limit."),
    timeout: float = TIMEOUT, retries: int = RETRIES,
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="With --reward-model-config: let "
                                           "LLaMA-Factory run the model folder's own Python code."),
    report_json: Path | None = REPORT_JSON,
    quiet: bool = QUIET,
) -> None:
    """Compare candidates with an LLM judge in both orders, or score them (judge or reward model).

    Results are appended as they come; running the same command again asks only what is missing. Exit codes: 0
    every request answered; 1 none was; 3 some failed (counted; run again to send only those).
    """
    from ..create.judge import judge

    with bar("judging", quiet) as tick:
        report = judge(candidates, str(output), judge_url=judge_url, judge_model=judge_model, mode=mode,
                       prompt_template=str(prompt_template) if prompt_template else None,
                       reward_model_config=str(reward_model_config) if reward_model_config else None,
                       concurrency=concurrency, max_tokens=max_tokens, timeout=timeout, retries=retries,
                       trust_remote_code=trust_remote_code, report_json=str(report_json) if report_json else None,
                       progress=tick)
    if not quiet:
        failed = ", ".join(f"{k} {v}" for k, v in report.failed.items()) or "none"
        if report.mode == "pairwise":
            err_console.print(f"{report.rows} prompts, {report.pairs} pairs asked in both orders now (failed: "
                              f"{failed}); in {output}: {report.verdicts}; consistent {report.consistent_share}, "
                              f"first-shown answer won {report.position_bias}; wins {report.wins}", highlight=False)
        else:
            err_console.print(f"{report.rows} prompts, {report.pairs} answers scored now (failed: {failed}); "
                              f"{report.unscored} in {output} without a score", highlight=False)
        err_console.print(f"{report.usage.get('requests_sent', 0)} requests in {report.seconds} s -> {output}",
                          highlight=False)
    raise typer.Exit(report.exit_code)
