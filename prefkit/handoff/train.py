"""``prefkit train``: a registered dataset -> a checked LLaMA-Factory YAML -> ``llamafactory-cli train``
-> the inference YAMLs and a summary of the run."""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..checks.acceptance import Attr
from ..create.prompts import registered_prompt
from ..errors import DataError, UsageError
from ..io import files as io
from ..io.run import Run
from ..io.sources import iter_rows
from ..registry import info as registry
from .infer import summarize, write_infer_configs
from .runner import llamafactory_cli, run_train
from .train_config import (NEEDS, build_config, check_config, config_file, default_output_dir, image_settings,
                           vision_template, yaml_bytes)

CUTOFF_STEP = 128  # --cutoff-len auto rounds the 99% recommendation up to a multiple of this


@dataclass
class TrainResult:
    config_path: str
    command: list[str]
    config: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    exit_code: int | None = None  # None for a dry run
    infer_configs: tuple[str, str] | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    log_file: str | None = None
    validation: dict[str, Any] | None = None  # the report of ``prefkit validate --config`` on the written YAML

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_cutoff(value: str) -> int | str:
    """``--cutoff-len``: a positive number of tokens, or "auto" (the 99% length, rounded up)."""
    if value == "auto":
        return value
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"--cutoff-len {value!r}: give a number of tokens or auto")
    return int(value)


def has_gpu() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


def _check_kind(name: str, entry: dict[str, Any], method: str) -> None:
    stage = Attr.from_entry(entry).stage
    if stage != NEEDS[method]:
        have = {"rm": "ranking pairs", "kto": "KTO examples", "none": "no preference data"}[stage]
        want = "KTO examples (convert with --to kto)" if NEEDS[method] == "kto" else "ranking pairs (ranking: true)"
        raise UsageError(f"dataset {name!r} holds {have}; --method {method} needs {want}")


def split_eval(name: str, dataset_dir: str, entry: dict[str, Any], fraction: float, force: bool = False,
               dry_run: bool = False) -> tuple[str, str, int, int]:
    """Hold out a prompt-disjoint ``fraction``: write and register ``<name>_train`` and ``<name>_eval``.

    Prompts are grouped: the same prompt, or a near-duplicate one (its word 5-grams' estimated Jaccard with an
    earlier prompt at least 0.8, as ``convert --near-dedup`` finds near-duplicate pairs; prefkit.hygiene.neardup).
    The groups are ordered by a hash of their first prompt and the first ``round(fraction * n)`` (at least one)
    go to eval, so near-copies of a prompt land on the same side and every run splits alike. A file or entry of
    those names that this split would change is replaced only with ``force``; a dry run writes nothing.
    """
    if not 0 < fraction < 1:
        raise UsageError(f"--eval-split {fraction}: give a fraction between 0 and 1")
    attr = Attr.from_entry(entry)
    source = os.path.join(dataset_dir, entry["file_name"])
    key = lambda data: hashlib.blake2b(_prompt_of(data, attr).encode(), digest_size=8).digest()  # noqa: E731
    group = prompt_groups(source, attr, key)
    groups = sorted(set(group.values()))
    if len(groups) < 2:
        raise UsageError(f"--eval-split: {dataset_dir}/{entry['file_name']} has {len(groups)} distinct prompt(s) "
                         "(near-duplicates counted once); a prompt-disjoint split needs at least two")
    eval_groups = set(groups[:max(1, round(fraction * len(groups)))])
    held_out = {prompt for prompt, first in group.items() if first in eval_groups}
    stem, ext = os.path.splitext(entry["file_name"])
    parts = ("train", "eval")
    entries = {part: {**entry, "file_name": f"{stem}_{part}{ext}"} for part in parts}
    paths = {part: os.path.join(dataset_dir, entries[part]["file_name"]) for part in parts}
    counts = dict.fromkeys(parts, 0)
    with Run([source]) as run:
        run.registry(registry.info_path(dataset_dir))
        files = {part: run.rows(f"the {part} split", paths[part]) for part in parts}
        for row in iter_rows(source):
            part = "eval" if key(row.data) in held_out else "train"
            files[part].write(row.data)
            counts[part] += 1
        with registry.editing(dataset_dir, run=None if dry_run else run) as editor:
            clashes = [paths[p] for p in parts if os.path.exists(paths[p]) and not files[p].same_as_target()]
            clashes += [f"the entry {name}_{p!r}" for p in parts if editor.info.get(f"{name}_{p}") not in (None, entries[p])]
            if clashes and not force:
                raise UsageError(f"--eval-split would replace {', '.join(clashes)}, which hold other data; pass --force "
                                 "to replace them, or move them away")
            if not dry_run:
                for part in parts:
                    editor.put(f"{name}_{part}", entries[part], force=True)
    return f"{name}_train", f"{name}_eval", counts["train"], counts["eval"]


def prompt_groups(source: str, attr: Attr, key: Callable[[Any], bytes]) -> dict[bytes, bytes]:
    """Each distinct prompt's key -> the key of the first prompt of its near-duplicate group (itself if none)."""
    from ..hygiene.neardup import NearDuplicates, signatures
    from ..pipeline.executors import blocks

    near = NearDuplicates()
    group: dict[bytes, bytes] = {}
    firsts: list[bytes] = []  # distinct prompts in file order: NearDuplicates names them by position
    for block in blocks(iter_rows(source)):
        new = {}
        for row in block:
            prompt = key(row.data)
            if prompt not in group and prompt not in new:
                new[prompt] = _prompt_text(row.data, attr)
        found = near.add_block(range(len(firsts), len(firsts) + len(new)), signatures(list(new.values())))
        for prompt, duplicate in zip(new, found):
            group[prompt] = prompt if duplicate is None else firsts[duplicate.kept]
            firsts.append(prompt)
    return group


def _config_out(run: Run, dataset_dir: str, entry: dict[str, Any], path: str) -> io.AtomicFile:
    """The training YAML as a file of ``run``: never the dataset or the registry."""
    run.input(os.path.join(dataset_dir, entry["file_name"]))
    run.registry(registry.info_path(dataset_dir))
    return run.file("--config-out", path)


def _prompt_of(data: Any, attr: Attr) -> str:
    """The prompt part of a raw row (what the eval split keeps disjoint), as LLaMA-Factory reads it."""
    return json.dumps(registered_prompt(data, attr) or data, sort_keys=True, default=str)


def _prompt_text(data: Any, attr: Attr) -> str:
    """The text of a raw row's prompt (what near-duplicate prompts are judged by): its turns and system prompt."""
    messages = registered_prompt(data, attr)
    return "\n".join(m["content"] for m in messages) if messages else json.dumps(data, default=str)


def validate_written(path: str, dataset: str, unsplit: str | None = None) -> Any:
    """Validate the YAML just written, as ``prefkit validate --config PATH`` does (one path: what is counted is
    what LLaMA-Factory will read, ``--set`` values included). ``unsplit``: a dry run's eval split is not written
    yet, so the rows it would split (``dataset``) are validated in its place. Errors raise DataError."""
    from ..pipeline.validate_config import validate_config

    report = validate_config(path, None, {"dataset": dataset} if unsplit else {})
    errors = report.findings.by_level("error")
    if errors:
        first = errors[0]
        where = f"record {first.index}" if first.index is not None else "the dataset"
        raise DataError(f"{dataset}: {len(errors)} validation error(s) of {path}, e.g. {where}: {first.code}: "
                        f"{first.message}; fix them (prefkit validate --config {path}) or pass --no-validate")
    return report


def auto_cutoff(name: str, dataset_dir: str, model: str, template: str, trust_remote_code: bool = False) -> tuple[int, str]:
    from ..pipeline.validate import validate

    report = validate(name, dataset_dir=dataset_dir, model=model, template=template, cutoff_len=1 << 20,
                      trust_remote_code=trust_remote_code)
    if not report.tokens or not report.tokens["pairs"]:
        raise UsageError(f"--cutoff-len auto: no record of {name!r} could be measured (prefkit validate {name} "
                         "says why); pass --cutoff-len N")
    p99 = report.tokens["recommended_cutoff_len"]["99%"]
    cutoff = max(CUTOFF_STEP, math.ceil(p99 / CUTOFF_STEP) * CUTOFF_STEP)
    unit = "examples" if report.stage == "kto" else "pairs"
    return cutoff, f"cutoff_len {cutoff}: 99% of {unit} fit in {p99} tokens (rounded up to a multiple of {CUTOFF_STEP})"


def _images_column(name: str, entry: dict[str, Any], max_pixels: int | None, min_pixels: int | None) -> str | None:
    """The entry's images column (None without one, where pixel limits are refused: they would do nothing)."""
    columns = entry.get("columns")
    images = columns.get("images") if isinstance(columns, dict) else None
    if not images and (max_pixels or min_pixels):
        raise UsageError(f"--image-max-pixels / --image-min-pixels: dataset {name!r} has no images column")
    return images or None


def _auto_template(model: str, images: str | None, notes: list[str]) -> str:
    """--template auto: LLaMA-Factory's default for a model it knows; for an image dataset, else the template of
    the folder's vision-language model type."""
    from ..targets.lf import default_template

    found = default_template(model)
    if found:
        notes.append(f"template {found!r}: LLaMA-Factory's default for {model}")
        return found
    found = vision_template(model) if images else None
    if found:
        notes.append(f"template {found!r}: the vision template of {model}'s model_type")
        return found
    raise UsageError(f"--template auto: LLaMA-Factory has no default template for {model!r}; pass --template")


def train(dataset: str, dataset_dir: str, model: str, method: str = "dpo", finetuning: str = "lora",
          template: str = "auto", cutoff_len: int | str = "auto", eval_split: float | None = None,
          output_dir: str | None = None, config_out: str | None = None, sets: dict[str, Any] | None = None,
          dry_run: bool = False, force: bool = False, validate_first: bool = True, log_file: str | None = None,
          on_step: Callable[[int, int, float | None], None] | None = None,
          env: dict[str, str] | None = None, trust_remote_code: bool = False, image_max_pixels: int | None = None,
          image_min_pixels: int | None = None) -> TrainResult:
    """Write the training YAML for ``dataset`` and (unless ``dry_run``) run LLaMA-Factory on it. A model folder
    with Python code of its own (``auto_map``) is refused unless ``trust_remote_code``, which is then written to the
    YAMLs (and only then). A dataset with an images column gets the multimodal YAML (pixel limits: the given ones,
    else LLaMA-Factory's defaults; frozen vision tower; ``media_dir``) and needs a template that takes images."""
    registry.check_name(dataset)
    info = registry.load(dataset_dir)
    entry = registry.get_entry(dataset_dir, dataset, info)
    if method not in NEEDS:
        raise UsageError(f"unknown --method {method!r}; choose one of {', '.join(NEEDS)}")
    _check_kind(dataset, entry, method)
    if config_out:  # checked before any work, written at the end
        with Run() as run:
            _config_out(run, dataset_dir, entry, config_file(config_out))
    from ..targets.tokens import refuse_remote_code

    refuse_remote_code(model, trust_remote_code)
    notes: list[str] = []
    images = _images_column(dataset, entry, image_max_pixels, image_min_pixels)
    if template == "auto":
        template = _auto_template(model, images, notes)
    if cutoff_len == "auto":
        cutoff_len, note = auto_cutoff(dataset, dataset_dir, model, template, trust_remote_code)
        notes.append(note)
    records = None  # of the dataset, once some pass has read it
    train_name, eval_name = dataset, None
    if eval_split:
        train_name, eval_name, n_train, n_eval = split_eval(dataset, dataset_dir, entry, eval_split, force, dry_run)
        records = n_train
        notes.append(f"eval split: {n_train} train / {n_eval} eval records, prompt-disjoint, "
                     + (f"to be registered as {train_name!r} and {eval_name!r} (dry run: not written)" if dry_run
                        else f"registered as {train_name!r} and {eval_name!r}"))
    config = build_config(model, train_name, dataset_dir, method=method, finetuning=finetuning, template=template,
                          cutoff_len=int(cutoff_len), gpu=has_gpu(), eval_dataset=eval_name, overrides=sets,
                          trust_remote_code=trust_remote_code,
                          images=image_settings(image_max_pixels, image_min_pixels) if images else None,
                          output_dir=output_dir or default_output_dir(model, finetuning, method, dataset))
    check_config(config, images=images is not None)
    if images:
        notes.append(f"images: column {images!r} read from {config.get('media_dir')}, at most "
                     f"{config.get('image_max_pixels')} pixels each; vision tower "
                     f"{'frozen' if config.get('freeze_vision_tower') else 'trained (--set freeze_vision_tower=false)'}")
    path = config_file(config_out or os.path.join(config["output_dir"], f"train_{method}.yaml"))
    with Run() as run:
        _config_out(run, dataset_dir, entry, path).file.write(yaml_bytes(config))  # type: ignore[union-attr]
        run.commit()
    report = validate_written(path, dataset, eval_name if eval_split and dry_run else None) if validate_first else None
    max_samples = config.get("max_samples")
    if isinstance(max_samples, int):
        if report is not None and report.samples is not None:
            records = report.samples["in_file"]
        if records is None:
            records = sum(1 for _ in iter_rows(os.path.join(dataset_dir, entry["file_name"])))
        if max_samples < records:
            notes.append(f"max_samples {max_samples} trains on only {max_samples} of the {records} records (as asked)")
    if report is not None:
        tokens = report.tokens or {}
        notes.append(f"validated {path} as prefkit validate --config reads it: {report.records:,} records read, "
                     f"{len(report.would_drop):,} would be dropped"
                     + (f", {tokens['truncated']:,} truncated at cutoff_len {tokens['cutoff_len']}" if tokens else ""))
    command = [llamafactory_cli(), "train", path]
    result = TrainResult(config_path=path, command=command, config=config, notes=notes,
                         validation=report.to_json() if report is not None else None)
    if dry_run:
        return result
    result.log_file = log_file or os.path.join(config["output_dir"], "llamafactory.log")
    result.exit_code = run_train(path, config["output_dir"], result.log_file, on_step=on_step, env=env)
    if result.exit_code == 0:
        result.infer_configs = write_infer_configs(config)
        result.summary = summarize(config["output_dir"])
        io.write_json(os.path.join(config["output_dir"], "prefkit_summary.json"), result.summary)
    return result
