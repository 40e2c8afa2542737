"""``prefkit train``."""

from __future__ import annotations

import inspect
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..errors import PrefkitError
from .common import QUIET, err_console

if TYPE_CHECKING:
    from ..handoff.train import TrainResult


def command(
    dataset: str = typer.Option(..., "--dataset", help="A dataset registered in --dataset-dir."),
    dataset_dir: Path = typer.Option(..., "--dataset-dir", help="LLaMA-Factory dataset dir (dataset_info.json)."),
    model: str = typer.Option(..., "--model", help="Model: a hub name or a local folder."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Run the model folder's own Python code "
                                           "(auto_map) here and in LLaMA-Factory (written to the YAMLs). Only for a "
                                           "folder you trust."),
    method: str = typer.Option("dpo", "--method", help="dpo, orpo, simpo, kto or rm."),
    finetuning: str = typer.Option("lora", "--finetuning", help="lora, qlora, full or freeze."),
    template: str = typer.Option("auto", "--template", help="LLaMA-Factory template, or auto for known models."),
    cutoff_len: str = typer.Option("auto", "--cutoff-len", help="N, or auto: the 99% length, rounded up."),
    eval_split: float | None = typer.Option(None, "--eval-split", help="Hold out this fraction of the prompts for eval; a "
                                            "prompt, its copies and its near-duplicates (word 5-gram Jaccard >= 0.8, as "
                                            "convert --near-dedup finds them) stay on one side."),
    output_dir: Path | None = typer.Option(None, "--output-dir", help="Default: saves/<model>/<finetuning>/<method>/<dataset>."),
    config_out: Path | None = typer.Option(None, "--config-out", help="Where to write the YAML (default: in output_dir)."),
    image_max_pixels: int | None = typer.Option(None, "--image-max-pixels", help="A dataset with images: shrink each "
                                                "image to at most this many pixels (default LLaMA-Factory's, 768*768)."),
    image_min_pixels: int | None = typer.Option(None, "--image-min-pixels", help="A dataset with images: grow each "
                                                "image to at least this many pixels (default LLaMA-Factory's, 32*32)."),
    sets: list[str] = typer.Option([], "--set", help="KEY=VALUE for any other LLaMA-Factory argument (repeatable)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Write the YAML and print the command; do not train."),
    force: bool = typer.Option(False, "--force", help="With --eval-split: replace <dataset>_train/_eval files and "
                               "entries that hold other data."),
    no_validate: bool = typer.Option(False, "--no-validate", help="Train even if prefkit validate finds errors."),
    quiet: bool = QUIET,
) -> None:
    """Write the LLaMA-Factory training YAML for a registered dataset and run llamafactory-cli train."""
    arguments = dict(locals())  # this command's arguments, for the line that repeats it without --dry-run
    from ..handoff.train import parse_cutoff, train
    from ..handoff.train_config import parse_sets

    cutoff = parse_cutoff(cutoff_len)
    kwargs = dict(method=method, finetuning=finetuning, template=template, cutoff_len=cutoff, eval_split=eval_split,
                  output_dir=str(output_dir) if output_dir else None,
                  config_out=str(config_out) if config_out else None, sets=parse_sets(sets), dry_run=dry_run, force=force,
                  validate_first=not no_validate, trust_remote_code=trust_remote_code,
                  image_max_pixels=image_max_pixels, image_min_pixels=image_min_pixels)
    if dry_run or quiet or not err_console.is_terminal:
        result = train(dataset, str(dataset_dir), model, **kwargs)
    else:
        with Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[loss]}"),
                      TimeElapsedColumn(), console=err_console, transient=True) as bar:
            task = bar.add_task("train", total=None, loss="")

            def on_step(step: int, total: int, loss: float | None) -> None:
                bar.update(task, completed=step, total=total or None, loss=f"loss {loss:.4f}" if loss else "")

            result = train(dataset, str(dataset_dir), model, on_step=on_step, **kwargs)
    if not quiet:
        # A dry run with --eval-split registers no <dataset>_train/_eval, which the YAML names: llamafactory-cli
        # cannot run it yet, prefkit train without --dry-run can.
        report(result, rerun_line(arguments) if dry_run and eval_split else None)
    if result.exit_code not in (None, 0):
        raise PrefkitTrainFailed(result)


class PrefkitTrainFailed(PrefkitError):
    exit_code = 1

    def __init__(self, result: TrainResult) -> None:
        super().__init__(f"llamafactory-cli train exited with {result.exit_code}; its log: {result.log_file}")
        self.exit_code = result.exit_code if result.exit_code == 130 else 1


def rerun_line(arguments: dict[str, Any]) -> list[str]:
    """The ``prefkit train`` command line of ``arguments`` (this command's) without ``--dry-run``; options left at
    their defaults are left out."""
    argv = ["prefkit", "train"]
    for name, parameter in inspect.signature(command).parameters.items():
        option, value = parameter.default, arguments[name]
        if name == "dry_run" or value is None or (option.default is not ... and value == option.default):
            continue
        flag = option.param_decls[0]
        if isinstance(value, bool):
            argv.append(flag)
        elif isinstance(value, list):
            argv += [part for item in value for part in (flag, str(item))]
        else:
            argv += [flag, str(value)]
    return argv


def report(result: TrainResult, rerun: list[str] | None = None) -> None:
    """What the run did; for a dry run, the command that trains (``rerun`` when the YAML names datasets that only
    that command registers)."""
    for note in result.notes:
        err_console.print(note, highlight=False)
    err_console.print(f"config: {result.config_path}", highlight=False)
    if result.exit_code is None and rerun:
        names = " and ".join(repr(result.config[key]) for key in ("dataset", "eval_dataset") if result.config.get(key))
        err_console.print(f"dry run: nothing was registered; the config names {names}, which only a real run writes "
                          f"and registers, so llamafactory-cli cannot run it yet. To split and train: "
                          f"{shlex.join(rerun)}", highlight=False, soft_wrap=True)
        return
    if result.exit_code is None:
        err_console.print(f"dry run; to train: {shlex.join(result.command)}", highlight=False, soft_wrap=True)
        return
    if result.exit_code == 0:
        out = result.config["output_dir"]
        err_console.print(f"trained: {out}  summary: {result.summary}", highlight=False)
        infer, base = result.infer_configs or ("", "")
        if result.config.get("stage") == "rm":  # a reward model scores, it does not chat
            err_console.print(f"score with it:  prefkit judge CANDIDATES.jsonl -o SCORED.jsonl --reward-model-config "
                              f"{infer}", highlight=False)
            return
        err_console.print(f"chat with it:   llamafactory-cli chat {infer}\n"
                          f"serve it:       prefkit serve {infer}\n"
                          f"base model (the control): {base}", highlight=False)
        if result.config.get("eval_dataset"):
            err_console.print(f"compare:        prefkit eval --dataset {result.config['eval_dataset']} --dataset-dir "
                              f"{result.config['dataset_dir']} --model-config {infer} --baseline-config {base}",
                              highlight=False)
