"""``prefkit validate --config TRAIN.yaml``: validate what the user's own training config makes the trainer read.

The config is parsed as its trainer parses it (:mod:`prefkit.config`): a LLaMA-Factory YAML gives the tokenizer, the
template, cutoff_len, the stage, the reasoning settings and, per dataset, the first ``max_samples`` rows; several
datasets are validated each on its own and reported together with their mix (concat / interleave with the seed) and
the eval split. A v1 YAML and a TRL YAML give what they hold. Flags given beside the file override it and are said.
"""

from __future__ import annotations

import os
from typing import Any

from ..checks.findings import Finding
from ..config import LfConfig, TrlConfig, load_lf_config, load_trl_config
from ..config.lf import read_yaml
from ..config.mix import eval_rows, mix_counts
from ..config.axolotl import is_axolotl_config, load_axolotl_config
from ..config.trl import is_trl_config
from ..errors import InputError, UsageError
from ..hygiene import load as load_benchmarks
from ..io.run import Run
from ..registry.info import info_path
from ..targets import get_target
from .validate import (LISTED, TokenStats, ValidationReport, check_rows, locate, png_path, token_options,
                       write_reports)

MERGED = ("truncated", "lost_eos")  # dataset-level findings said once for the datasets together
# prefkit's names of the flags -> each config kind's key (None: the kind has no such argument)
FLAG_KEYS: dict[str, dict[str, str]] = {
    "lf": {"model": "model_name_or_path", "template": "template", "cutoff_len": "cutoff_len", "dataset": "dataset",
           "dataset_dir": "dataset_dir", "media_dir": "media_dir", "image_max_pixels": "image_max_pixels",
           "image_min_pixels": "image_min_pixels", "enable_thinking": "enable_thinking",
           "preserve_thinking": "preserve_thinking", "max_samples": "max_samples",
           "trust_remote_code": "trust_remote_code"},
    "lf-v1": {"model": "model", "template": "template", "cutoff_len": "cutoff_len", "dataset": "train_dataset",
              "trust_remote_code": "trust_remote_code"},
    "trl": {"model": "model_name_or_path", "cutoff_len": "max_length", "max_prompt_length": "max_prompt_length",
            "truncation_mode": "truncation_mode", "dataset": "dataset_name", "trust_remote_code": "trust_remote_code"},
    "axolotl": {"model": "base_model", "cutoff_len": "sequence_len", "dataset": "datasets",
                "trust_remote_code": "trust_remote_code"},
}


def config_kind(path: str, target: str | None) -> str:
    """lf, lf-v1 or trl: named by ``target``, else recognised from the file's keys."""
    if target is not None:
        get_target(target)
        return target
    given = read_yaml(path)
    if is_axolotl_config(given):
        return "axolotl"
    if is_trl_config(given):
        return "trl"
    return "lf-v1" if ("train_dataset" in given or "model" in given) and "model_name_or_path" not in given else "lf"


def config_overrides(kind: str, flags: dict[str, Any]) -> dict[str, Any]:
    """The flags as the config's keys; a flag the kind has no argument for is a usage error."""
    keys = FLAG_KEYS[kind]
    foreign = [f"--{name.replace('_', '-')}" for name in flags if name not in keys]
    if foreign:
        raise UsageError(f"{', '.join(foreign)}: not an argument of a {kind} training config")
    return {keys[name]: value for name, value in flags.items()}


def validate_config(config: str, dataset: str | None, flags: dict[str, Any], *, lengths_path: str | None = None,
                    report_json: str | None = None, html: str | None = None, executor: str = "local",
                    workers: int | None = None, ray_address: str | None = None, progress: Any = None,
                    decontaminate: Any = None, near_dedup: float | None = None, layout: str | None = None,
                    target: str | None = None, trl_version: str = "auto") -> ValidationReport:
    """Validate every dataset ``config`` (a training YAML) names, as its trainer reads them; ``dataset`` (a name or
    file) and ``flags`` (prefkit's argument names: model, cutoff_len, max_samples, ...) override the file."""
    kind = config_kind(config, target)
    flags = {k: v for k, v in flags.items() if v is not None}
    if dataset is not None:
        flags["dataset"] = dataset
    overrides = config_overrides(kind, flags)
    benchmarks = load_benchmarks(decontaminate) if isinstance(decontaminate, str) else decontaminate
    parsed: LfConfig | TrlConfig = load_axolotl_config(config, overrides) if kind == "axolotl" else \
        load_trl_config(config, overrides) if kind == "trl" else \
        load_lf_config(config, overrides)
    sources = _sources(parsed, kind, layout)
    inputs = [config] + [path for _, path, _, _, _ in sources] + (benchmarks.files if benchmarks else [])
    inputs += sorted({info_path(d, t.registry) for _, _, _, t, d in sources if d and t.registry})
    with Run(inputs) as run:
        out = run.rows("--lengths", lengths_path, lines=True) if lengths_path else None
        report_file = run.json("--report-json", report_json)
        pages = (run.file("--html", html), run.file("--html (histogram)", png_path(html))) if html else None
        parts = []
        for name, path, entry, chosen, dataset_dir in sources:
            limits = _limits(parsed, chosen, lengths_path, trl_version)
            values = parsed.values
            media = values.get("media_dir") or (dataset_dir or os.path.dirname(os.path.abspath(path)))
            lines = _Tagged(out, name) if out is not None and len(sources) > 1 else out
            report = check_rows(name, path, entry, chosen, dataset_dir, limits, limits.template if limits else "auto",
                                lines, executor, workers, ray_address, progress, benchmarks, media, near_dedup,
                                values.get("max_samples"))
            parts.append(report)
        report = parts[0] if len(parts) == 1 else combine(parts)
        report.config = _describe(parsed, parts, report)
        _config_findings(parsed, report)
        write_reports(report, report_file, pages)
        run.commit()
    return report


def _sources(config: LfConfig | TrlConfig, kind: str, layout: str | None
             ) -> list[tuple[str, str, dict[str, Any], Any, str | None]]:
    """(name, file, entry, target, dataset dir or None for a file) of each dataset the config names."""
    values = config.values
    if kind == "axolotl":
        return [_axolotl_source(config, path, kind_, layout) for path, kind_ in config.datasets]  # type: ignore[attr-defined]
    if kind == "trl":
        name = values.get("dataset_name")
        if not name or not os.path.exists(name):
            raise UsageError(f"{config.path}: dataset_name: {name!r} is no local file; validate reads local files "
                             "(give the file: prefkit validate FILE --config ...)")
        found = locate(name, None, layout, "trl")
        return [(found[0], found[1], found[2], found[3], None)]
    if kind == "lf-v1":
        data = values["train_dataset"]
        if data.endswith((".yaml", ".yml")):
            folder = os.path.dirname(data) or "."
            info = read_yaml(data)
            return [(n, *locate(n, folder, layout, "lf-v1")[1:], folder) for n in info]  # type: ignore[misc]
        found = locate(data, None, layout, "lf-v1")
        return [(found[0], found[1], found[2], found[3], None)]
    dataset_dir = values["dataset_dir"]
    if not os.path.isdir(dataset_dir):
        raise InputError(f"{config.path}: dataset_dir: {dataset_dir!r} is no folder here (LLaMA-Factory reads it "
                         f"relative to where llamafactory-cli runs; here: {os.path.abspath(dataset_dir)})")
    out = []
    for name in config.datasets:
        found = locate(name, dataset_dir, layout, "lf")
        stage = found[3].stage(found[2])
        if (config.stage == "rm") != (stage == "rm"):
            have = {"rm": "ranking pairs", "kto": "KTO examples", "none": "no preference data"}[stage]
            raise UsageError(f"{config.path}: stage {config.values['stage']}: dataset {name!r} holds {have}; "
                             "LLaMA-Factory stops (The dataset is not applicable in the current training stage)")
        out.append((found[0], found[1], found[2], found[3], dataset_dir))
    return out


def _axolotl_source(config: Any, path: str, kind: str | None, layout: str | None
                    ) -> tuple[str, str, dict[str, Any], Any, str | None]:
    """One of an axolotl YAML's datasets: its file, read as its type with the YAML's rl and excess_length_strategy."""
    if not os.path.isfile(path):
        raise InputError(f"{config.path}: datasets: path {path!r} is no local file; validate reads local files")
    v = config.values
    name, file, entry, target = locate(path, None, layout or ("axolotl-kto" if v["rl"] == "kto" else "axolotl"),
                                       "axolotl")
    entry = {**entry, "rl": v["rl"], "excess_length_strategy": v["excess_length_strategy"], "config": config.path,
             **({"type": kind} if kind else {})}
    return name, file, entry, target, None


def _limits(config: LfConfig | TrlConfig, target: Any, lengths_path: str | None, trl_version: str = "auto") -> Any:
    v = config.values
    if config.engine == "axolotl":
        return token_options(target, v["base_model"], "auto", v["sequence_len"], lengths_path, v["trust_remote_code"],
                             None, None, "auto")
    if isinstance(config, TrlConfig):
        return token_options(target, v["model_name_or_path"], "auto", v["max_length"], lengths_path,
                             v["trust_remote_code"], v["max_prompt_length"], v["truncation_mode"], trl_version)
    template = v.get("template") or "auto"
    if config.engine == "v1":
        return token_options(target, v["model_name_or_path"], template, v["cutoff_len"], lengths_path,
                             v["trust_remote_code"], None, None, "auto")
    return token_options(target, v["model_name_or_path"], template, v["cutoff_len"], lengths_path,
                         v["trust_remote_code"], None, None, "auto", v["image_max_pixels"], v["image_min_pixels"],
                         v["enable_thinking"], v["preserve_thinking"])


class _Tagged:
    """--lengths of several datasets: each line names its dataset."""

    def __init__(self, out: Any, name: str) -> None:
        self.out, self.name = out, name

    def write(self, row: dict[str, Any]) -> None:
        self.out.write({"dataset": self.name, **row})


def combine(parts: list[ValidationReport]) -> ValidationReport:
    """One report of several datasets' reports: findings and drops name their dataset, lengths merge."""
    first = parts[0]
    report = ValidationReport(dataset=",".join(p.dataset for p in parts), file=", ".join(p.file for p in parts),
                              entry={p.dataset: p.entry for p in parts}, stage=first.stage, target=first.target,
                              trainer=first.trainer)
    report.records = sum(p.records for p in parts)
    for p in parts:
        report.findings.items += [Finding(f.code, f.level, f.index, f"{p.dataset}:{f.path}", f.message, f.records)
                                  for f in p.findings.items if not (f.index is None and f.code in MERGED)]
        report.would_drop += [{"dataset": p.dataset, **d} for d in p.would_drop]
    pairs = sum(p.content.get("pairs") or 0 for p in parts)
    report.content = {"pairs": pairs, **{k: round(sum((p.content.get(k) or 0) * (p.content.get("pairs") or 0)
                                                      for p in parts) / pairs, 4) if pairs else None
                                         for k in ("chosen_longer_share", "mean_length_ratio")},
                      "per_dataset": {p.dataset: p.content for p in parts}}
    if any(p.contamination is not None for p in parts):
        report.contamination = {b: sum((p.contamination or {}).get(b, 0) for p in parts)
                                for b in (parts[0].contamination or {})}
    if any(p.samples is not None for p in parts):
        report.samples = {p.dataset: p.samples for p in parts}
    stats = [p.stats for p in parts if p.stats is not None]
    if stats:
        merged = merge_stats(stats, [p.dataset for p in parts if p.stats is not None])
        report.stats, report.tokens, report.sequences = merged, merged.to_json(), merged.sequences
        unit = "examples" if report.stage == "kto" else "pairs"
        for code in MERGED:
            if merged.counts[code]:
                report.findings.add(code, "warning", None, "", f"{merged.counts[code]} of {merged.counts['pairs']} "
                                    f"{unit} ({code.replace('_', ' ')}) at {merged.counter.limit_name} "
                                    f"{merged.counter.cutoff_len}; 99% fit in "
                                    f"{report.tokens['recommended_cutoff_len']['99%']}", records=merged.counts[code])
    report.near_duplicates = first.near_duplicates if len(parts) == 1 else \
        ({"per_dataset": {p.dataset: p.near_duplicates for p in parts}} if first.near_duplicates else None)
    return report


def merge_stats(stats: list[TokenStats], names: list[str]) -> TokenStats:
    merged = TokenStats(stats[0].counter)
    for s, name in zip(stats, names, strict=True):
        for key in ("prompt", "response", "total"):
            getattr(merged, key).extend(getattr(s, key))
        for side in merged.sequences:
            merged.sequences[side].extend(s.sequences[side])
        for key, n in s.counts.items():
            merged.counts[key] += n
        room = LISTED - len(merged.truncated_records)
        merged.truncated_records += [{"dataset": name, **r} for r in s.truncated_records[:max(room, 0)]]
        if merged.images is not None and s.images is not None:
            for key in ("rows", "images", "tokens", "cut_rows", "unmeasured"):
                setattr(merged.images, key, getattr(merged.images, key) + getattr(s.images, key))
            merged.images.largest.update(s.images.largest)
    return merged


def _describe(config: LfConfig | TrlConfig, parts: list[ValidationReport], report: ValidationReport
              ) -> dict[str, Any]:
    """The report's ``config``: the file, the values used, the mix and eval split, and the lines that say so."""
    data = config.to_json()
    lines = [f"config {config.path}" + (f" (LLaMA-Factory {config.release} defaults: {config.release_source})"
                                        if isinstance(config, LfConfig) and config.engine == "v0" else
                                        f" ({ {'v1': 'LLaMA-Factory v1', 'axolotl': 'axolotl 0.19'}.get(config.engine, 'TRL')})"),
             "values: " + ", ".join(f"{k}={v!r}" for k, v in config.used().items())]
    lines += [f"overridden by a flag: {k} {f!r} -> {v!r}" for k, (f, v) in config.overridden.items()]
    if isinstance(config, LfConfig) and config.engine == "v0":
        mix = _mix(config, parts, report)
        data["mix"] = mix
        lines += mix.pop("lines")
    data["lines"] = lines
    return data


def _mix(config: LfConfig, parts: list[ValidationReport], report: ValidationReport) -> dict[str, Any]:
    v = config.values
    sizes = {p.dataset: p.records for p in parts}
    lines = [p.samples["message"] + f" ({p.dataset})" for p in parts if p.samples]
    counts = mix_counts(sizes, v["mix_strategy"], v["interleave_probs"], v["seed"], config.release)
    rows = sum(counts.values())
    mix: dict[str, Any] = {"strategy": v["mix_strategy"], "probs": v["interleave_probs"], "seed": v["seed"],
                           "datasets": {p.dataset: {"file": p.file, "read": p.records,
                                                    "in_file": (p.samples or {}).get("in_file", p.records),
                                                    "in_mix": counts[p.dataset]} for p in parts},
                           "rows": rows}
    if len(parts) > 1:
        lines.append(f"mix {v['mix_strategy']}" + (f" (probs {v['interleave_probs']}, seed {v['seed']})"
                                                   if v["mix_strategy"] != "concat" else "") + f": {rows:,} rows, "
                     + ", ".join(f"{n} {counts[n]:,} of {sizes[n]:,} read" for n in sizes))
        for name, n in counts.items():
            if n < sizes[name]:
                report.findings.add("mix_leaves_out", "warning", None, "mix_strategy",
                                    f"{v['mix_strategy']} stops when a dataset runs out: {name} gives {n:,} of the "
                                    f"{sizes[name]:,} rows read; {sizes[name] - n:,} are never trained on",
                                    records=sizes[name] - n)
            elif n > sizes[name]:
                report.findings.add("mix_repeats", "info", None, "mix_strategy",
                                    f"{v['mix_strategy']} repeats rows: {name} gives {n:,} rows from {sizes[name]:,}")
    try:
        held = eval_rows(rows, v["val_size"])
    except ValueError as err:
        report.findings.add("val_size_refused", "error", None, "val_size", f"val_size {v['val_size']}: datasets' "
                            f"train_test_split refuses it on {rows:,} rows, and the run stops ({err})")
        held = 0
    mix.update(eval=held, train=rows - held)
    if held:
        lines.append(f"val_size {v['val_size']}: {held:,} of {rows:,} rows go to eval, {rows - held:,} to train "
                     f"(train_test_split, seed {v['seed']})")
    for p in parts:
        s = p.samples
        if s and s["never_trained"]:
            report.findings.add("max_samples_cuts", "warning", None, f"{p.dataset}" if len(parts) > 1 else "",
                                s["message"], records=s["never_trained"])
    mix["lines"] = lines
    return mix


def _config_findings(config: LfConfig | TrlConfig, report: ValidationReport) -> None:
    """What prefkit does not model, one line each: never silently ignored."""
    add = report.findings.add
    if config.not_modelled:
        add("config_not_modelled", "warning", None, "", "not modelled by prefkit (the counts may differ from the "
            "run): " + "; ".join(f"{k}={v!r} ({why})" for k, v, why in config.not_modelled))
    if isinstance(config, LfConfig):
        if config.engine == "v0" and not config.values.get("template"):
            add("config_not_modelled", "warning", None, "template", "the config names no template: LLaMA-Factory then "
                "builds one from the tokenizer's chat template (or uses 'empty'), which prefkit does not model; "
                f"counted with {report.tokens['template'] if report.tokens else 'auto'!r} (add template: to the file)")
        if config.no_effect:
            add("config_no_effect", "info", None, "", "read, no effect on what is measured: " + "; ".join(
                f"{k} ({why})" for k, why in config.no_effect))
        for key, close in config.near_misses:
            add("config_unknown_key", "warning", None, key, f"{key} is no LLaMA-Factory data argument: did you mean "
                f"{close}? (LLaMA-Factory stops on a key it does not know)")
    for key, (file_value, flag) in config.overridden.items():
        add("config_overridden", "info", None, key, f"the flag's {key} {flag!r} overrides the file's {file_value!r}")
    others = [k for k in config.not_about_data if not any(k == m for m, _ in getattr(config, "near_misses", []))]
    if others:
        add("config_not_read", "info", None, "", f"{len(others)} argument(s) not about the rows (training, model, "
            "output), not read: " + ", ".join(others))
