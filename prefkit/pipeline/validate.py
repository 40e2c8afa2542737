"""``prefkit validate``: what the trainer (LLaMA-Factory, its v1, TRL) will do with every row, before any GPU hour.

>>> import json, tempfile
>>> d = tempfile.mkdtemp()
>>> rows = [{"conversations": [{"from": "human", "value": "Hi"}], "chosen": {"from": "gpt", "value": "Hello!"},
...          "rejected": {"from": "gpt", "value": "Hello!"}},
...         {"conversations": [{"from": "gpt", "value": "Hi"}], "chosen": {"from": "gpt", "value": "a"},
...          "rejected": {"from": "gpt", "value": "b"}}]
>>> _ = open(f"{d}/pairs.json", "w").write(json.dumps(rows))
>>> report = validate(f"{d}/pairs.json")
>>> [(f.code, f.index) for f in report.findings.by_level("error")]
[('identical_answers', 0), ('bad_role_order', 1)]
>>> [(d["index"], d["code"], d["path"]) for d in report.would_drop]
[(1, 'bad_role_order', 'conversations[0].from')]
"""

from __future__ import annotations

import itertools
import math
import os
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..checks.content import ContentChecker
from ..checks.findings import Findings
from ..checks.reasoning import ReasoningSide
from ..errors import DataError, InputError, UsageError
from ..hygiene import Decontaminator
from ..hygiene import load as load_benchmarks
from ..images.checks import STOPS_RUN
from ..io import files as io
from ..images.files import local_files
from ..io.run import Run, found
from ..io.sources import iter_rows
from ..names import LEVELS
from ..registry.info import get_entry, info_path, load
from ..targets import TARGETS, BlockChecker, RowCheck, Target, TokenOptions, target_of_entry, target_of_file
from ..targets.base import Counter, Lengths
from ..targets.tokens import BATCH, tokenizer_only_transformers
from .executors import blocks, get_executor

PERCENTILES = (50, 90, 95, 99, 100)
LISTED = 200  # truncated records listed in the report (tokens.truncated_records); tokens.truncated counts them all
LARGEST = 5  # images listed in the report (tokens.images.largest): the distinct files that cost the most tokens


@dataclass
class ValidationReport:
    dataset: str
    file: str
    entry: dict[str, Any]
    stage: str
    records: int = 0
    findings: Findings = field(default_factory=Findings)
    would_drop: list[dict[str, Any]] = field(default_factory=list)
    content: dict[str, Any] = field(default_factory=dict)
    tokens: dict[str, Any] | None = None  # for KTO: "pairs" counts the examples, chosen/rejected (un)desirable ones
    sequences: dict[str, array] | None = None  # per-pair token lengths for histograms (not in JSON)
    contamination: dict[str, int] | None = None  # --decontaminate: {benchmark: records holding one of its items}
    near_duplicates: dict[str, Any] | None = None  # --near-dedup: threshold, groups, share
    samples: dict[str, Any] | None = None  # max_samples: rows read, rows in the file, rows never trained on
    config: dict[str, Any] | None = None  # --config: the file, the values used, what is not modelled, the mix
    stats: Any = None  # the TokenStats behind ``tokens`` (several datasets of a config merge them; not in JSON)
    target: str = "lf"  # the trainer checked for (prefkit.targets)
    trainer: str = "LLaMA-Factory"  # its name, in messages

    def raise_if_worse_than(self, fail_on: str) -> None:
        """A DataError (exit 1) when a finding at level ``fail_on`` or worse exists."""
        if self.findings.worst_at_least(fail_on):
            counts = self.findings.counts()
            raise DataError(f"{self.dataset}: {sum(counts['error'].values())} error(s), "
                            f"{sum(counts['warning'].values())} warning(s); {len(self.would_drop)} of {self.records} "
                            f"records would be dropped by {self.trainer}")

    def to_json(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "file": self.file, "entry": self.entry, "stage": self.stage,
                "records": self.records, "counts": self.findings.counts(),
                "errors": [f.to_json() for f in self.findings.by_level("error")],
                "warnings": [f.to_json() for f in self.findings.by_level("warning")],
                "infos": [f.to_json() for f in self.findings.by_level("info")],
                "would_drop": self.would_drop, "content": self.content, "tokens": self.tokens,
                "contamination": self.contamination, "near_duplicates": self.near_duplicates, "target": self.target,
                **({"samples": self.samples} if self.samples is not None else {}),
                **({"config": self.config} if self.config is not None else {})}


def check_fail_on(level: str) -> None:
    if level not in LEVELS:
        raise UsageError(f"--fail-on {level!r}: choose one of {', '.join(LEVELS)}")


def locate(path_or_name: str, dataset_dir: str | None, layout: str | None, target: str | None = None
           ) -> tuple[str, str, dict[str, Any], Target]:
    """(dataset name, file path, registry entry, target) for a registered NAME (dataset_info.json first, then
    v1's dataset_info.yaml) or a PATH (a file or a ``datasets`` folder)."""
    if path_or_name.startswith("hf://"):
        raise UsageError(f"{path_or_name}: validate reads local files; hf:// is an input of prefkit convert: convert "
                         f"it to a file first (prefkit convert {path_or_name} -o pairs.jsonl), then validate that")
    if dataset_dir and not os.path.isfile(path_or_name):
        name = path_or_name
        for registered in (t for t in TARGETS.values() if t.registry):  # dataset_info.json, then v1's YAML
            info = load(dataset_dir, registered.registry)
            if name in info:
                entry = get_entry(dataset_dir, name, info) if registered.registry == "v0" else info[name]
                return name, registered.entry_file(dataset_dir, name, entry), entry, _registered(entry, target)
        if not os.path.isdir(name):
            raise InputError(f"{name}: no such file, and no dataset of that name in {dataset_dir}/dataset_info.json "
                             "or dataset_info.yaml")
    path = path_or_name
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file (pass --dataset-dir to validate a registered name)")
    chosen = target_of_file(path, target, layout)
    return os.path.basename(os.path.normpath(path)), path, chosen.file_entry(path, layout), chosen


def _registered(entry: dict[str, Any], target: str | None) -> Target:
    found = target_of_entry(entry)
    if target is not None and target != found.name:
        raise UsageError(f"--target {target}: the registered entry is a {found.name} entry (validate the file itself "
                         f"to read it as {target})")
    return found


class ImageStats:
    """Image tokens over the rows measured with their images: totals, the rows not measured (their images stop
    LLaMA-Factory's run), and the LARGEST distinct images by tokens."""

    def __init__(self) -> None:
        self.rows = self.images = self.tokens = self.cut_rows = self.unmeasured = 0
        self.largest: dict[str, dict[str, Any]] = {}  # ref -> {index, path, width, height, tokens}

    def add(self, index: int, images: Any) -> None:
        """One row's RowImageTokens (prefkit.images.tokens)."""
        self.rows += 1
        self.images += len(images.tokens)
        self.tokens += images.total
        self.cut_rows += images.cut is not None
        for ref, (width, height), tokens in zip(images.refs, images.sizes, images.tokens):
            if ref in self.largest:
                continue
            if len(self.largest) >= LARGEST:
                low = min(self.largest, key=lambda r: self.largest[r]["tokens"])
                if tokens <= self.largest[low]["tokens"]:
                    continue
                del self.largest[low]
            self.largest[ref] = {"index": index, "path": ref, "width": width, "height": height, "tokens": tokens}

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "images": self.images, "image_tokens": self.tokens,
                "mean_per_image": round(self.tokens / self.images, 1) if self.images else 0,
                "rows_cut_in_image": self.cut_rows, "rows_not_measured": self.unmeasured,
                "largest": sorted(self.largest.values(), key=lambda e: (-e["tokens"], e["index"]))}


class TokenStats:
    def __init__(self, counter: Counter) -> None:
        self.counter = counter
        self.images = ImageStats() if getattr(counter, "images", None) is not None else None  # LLaMA-Factory's plugin
        # 4 bytes a pair each, for the percentiles and histograms
        self.prompt, self.response, self.total = array("I"), array("I"), array("I")
        self.sequences = {"chosen": array("I"), "rejected": array("I")}  # prompt + answer, before truncation
        self.counts = dict.fromkeys(("pairs", "truncated", "truncated_prompt", "truncated_chosen",
                                     "truncated_rejected", "identical_after_truncation", "lost_eos"), 0)
        self.truncated_records: list[dict[str, Any]] = []  # the first LISTED, with their lengths and why

    def add(self, lengths: Lengths, index: int | None = None) -> None:
        """One pair, or one KTO example (its answer counts as chosen when desirable, else as rejected)."""
        c = self.counts
        if lengths.truncated and len(self.truncated_records) < LISTED and index is not None:
            self.truncated_records.append({**lengths.to_json(index), "reason": _why_cut(lengths, self.counter.cutoff_len,
                                                                                 self.counter.limit_name)})
        c["pairs"] += 1
        c["truncated"] += lengths.truncated
        c["truncated_prompt"] += lengths.prompt_kept < lengths.prompt
        for side, length, kept in lengths.answers():
            c[f"truncated_{side}"] += kept < length
            self.sequences[side].append(lengths.prompt + length)
        c["identical_after_truncation"] += lengths.became_identical
        c["lost_eos"] += lengths.lost_eos
        images = getattr(lengths, "images", None)  # a LLaMA-Factory row with images: RowImageTokens
        if images is not None and self.images is not None and index is not None:
            self.images.add(index, images)
        self.prompt.append(lengths.prompt)
        self.response.append(lengths.total - lengths.prompt)
        self.total.append(lengths.total)

    def to_json(self) -> dict[str, Any]:
        def pct(values: array) -> dict[str, int]:
            ordered = sorted(values)
            return {f"p{p}" if p < 100 else "max": ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]
                    for p in PERCENTILES} if ordered else {}

        totals = pct(self.total)
        return {**self.counter.limits(), "limit": self.counter.limit_name, **self.counts,
                "percentiles": {"prompt": pct(self.prompt), "response": pct(self.response), "total": totals},
                "recommended_cutoff_len": {"95%": totals.get("p95"), "99%": totals.get("p99"),
                                           "100%": totals.get("max")},
                "truncated_records": self.truncated_records,
                **({"images": self.images.to_json()} if self.images is not None else {})}


def _why_cut(lengths: Any, cutoff_len: int, limit_name: str = "cutoff_len") -> str:
    """What cutoff_len does to one record, in words: 'needs 1,300 tokens, cutoff_len 1,024: prompt 900 → 700, ...'."""
    answers = lengths.answers()
    parts = [f"{'answer' if len(answers) == 1 else side} {full:,} → {kept:,}" for side, full, kept in
             [("prompt", lengths.prompt, lengths.prompt_kept), *answers] if kept < full]
    why = f"needs {lengths.total:,} tokens, {limit_name} {cutoff_len:,}: " + (", ".join(parts) or "cut")
    if lengths.lost_eos:
        why += "; the end-of-turn token is cut"
    if lengths.became_identical:
        why += "; chosen and rejected are identical in what is kept"
    return why


def validate(path_or_name: str | None, dataset_dir: str | None = None, layout: str | None = None, model: str | None = None,
             template: str = "auto", cutoff_len: int | None = None, lengths_path: str | None = None,
             report_json: str | None = None, html: str | None = None, executor: str = "local",
             workers: int | None = None, ray_address: str | None = None,
             progress: Callable[[int], None] | None = None, trust_remote_code: bool = False,
             decontaminate: Decontaminator | str | None = None, target: str | None = None,
             max_prompt_length: int | None = None, truncation_mode: str | None = None,
             trl_version: str = "auto", media_dir: str | None = None,
             near_dedup: float | None = None, image_max_pixels: int | None = None,
             image_min_pixels: int | None = None, enable_thinking: bool | None = True,
             preserve_thinking: bool = False, max_samples: int | None = None) -> ValidationReport:
    """Check one dataset (a file, or a NAME in ``dataset_dir``) the way its trainer will read it.

    The ``target`` (``lf``: LLaMA-Factory, ``lf-v1``, ``trl``) is the registry entry's or the file's (recognised
    from its rows) unless named. With ``model`` (a tokenizer folder or hub name) and ``cutoff_len``, also compute
    exact token lengths with LLaMA-Factory's ``template`` ("auto": its default for known models); for TRL,
    ``cutoff_len`` is ``max_length`` (default TRL's), with ``max_prompt_length`` and ``truncation_mode``, under the
    rules of ``trl_version`` (0.24 or 1; "auto": the TRL installed here, else 1). ``lengths_path``,
    ``report_json`` and ``html`` (with its PNG histogram) are written when given. ``executor`` "ray" checks
    the rows on a Ray cluster (``ray_address``, or a local one) with the same results. The model folder's own
    Python code (``auto_map``) runs only with ``trust_remote_code``; without it such a folder is refused.
    ``decontaminate`` (a :class:`prefkit.hygiene.Decontaminator`, or "mt-bench,ifeval,FILE") reports the records that
    hold a benchmark item (``contaminated``) and counts them per benchmark. Image paths are read from ``media_dir``
    (default, as in LLaMA-Factory: the dataset dir; for a file, its folder). ``near_dedup`` (a Jaccard threshold,
    e.g. 0.8) reports near-duplicate pairs (``near_duplicate``) and their groups (:mod:`prefkit.hygiene.neardup`).
    With a model, rows with images are measured with their image tokens as LLaMA-Factory's Qwen2-VL plugin writes them
    (templates qwen2_vl, qwen3_vl, ...): each image resized to ``image_max_pixels`` / ``image_min_pixels`` (None:
    LLaMA-Factory's defaults, 768*768 and 32*32), then by the model folder's image processor config; or as its LLaVA
    plugin does (llava, yi_vl: the same count for every image, from the folder's processor_config.json). A cutoff_len
    that cuts into an image's tokens is an error (``image_tokens_cut``). ``enable_thinking`` (True, False or None)
    and ``preserve_thinking`` are LLaMA-Factory's data arguments for reasoning templates; ``max_samples`` measures
    only the first N rows, as LLaMA-Factory reads them. A training YAML's datasets are validated by
    :func:`prefkit.pipeline.validate_config.validate_config`, which calls this module's checks for each.
    """
    benchmarks = load_benchmarks(decontaminate) if isinstance(decontaminate, str) else decontaminate
    name, path, entry, chosen = locate(path_or_name, dataset_dir, layout, target)
    registered = dataset_dir is not None and name == path_or_name
    media_dir = media_dir or (dataset_dir if registered else os.path.dirname(os.path.abspath(path)))
    inputs = [path] + ([info_path(dataset_dir, chosen.registry)] if registered and chosen.registry else [])
    inputs += benchmarks.files if benchmarks else []  # --decontaminate's item files
    with Run(inputs) as run:
        out = run.rows("--lengths", lengths_path, lines=True) if lengths_path else None
        report_file = run.json("--report-json", report_json)
        pages = (run.file("--html", html), run.file("--html (histogram)", png_path(html))) if html else None
        limits = token_options(chosen, model, template, cutoff_len, lengths_path, trust_remote_code, max_prompt_length,
                               truncation_mode, trl_version, image_max_pixels, image_min_pixels, enable_thinking,
                               preserve_thinking)
        report = check_rows(name, path, entry, chosen, dataset_dir if registered else None, limits, template, out,
                            executor, workers, ray_address, progress, benchmarks, media_dir, near_dedup, max_samples)
        write_reports(report, report_file, pages)
        run.commit()
    return report


def write_reports(report: ValidationReport, report_file: Any, pages: tuple[Any, Any] | None) -> None:
    """The JSON report and, with ``pages`` (the --html file and its PNG), the HTML page and its histogram."""
    report_file.value = report.to_json()
    if pages:
        from ..reports.html import histogram, render

        pages[0].file.write(render(report).encode("utf-8"))
        image = histogram(report)
        pages[1].file.write(image) if image else pages[1].discard()


def token_options(target: Target, model: str | None, template: str, cutoff_len: int | None, lengths_path: str | None,
                  trust_remote_code: bool, max_prompt_length: int | None, truncation_mode: str | None,
                  trl_version: str, image_max_pixels: int | None = None, image_min_pixels: int | None = None,
                  enable_thinking: bool | None = True, preserve_thinking: bool = False) -> TokenOptions | None:
    """What token counting needs, or None without a model; a clear error for options that need another."""
    given = {"max_prompt_length": max_prompt_length is not None, "truncation_mode": truncation_mode is not None,
             "trl_version": trl_version != "auto", "image_max_pixels": image_max_pixels is not None,
             "image_min_pixels": image_min_pixels is not None, "enable_thinking": enable_thinking is not True,
             "preserve_thinking": preserve_thinking is not False}
    foreign = [name for name, set_ in given.items() if set_ and name not in target.options]
    if foreign:
        owners = sorted({t.name for t in TARGETS.values() for name in foreign if name in t.options})
        raise UsageError(f"{', '.join('--' + name.replace('_', '-') for name in foreign)}: not an option of --target "
                         f"{target.name}; " + ", ".join(f"validate --target {owner}" for owner in owners) + " reads it")
    for name in ("image_max_pixels", "image_min_pixels"):
        if given[name] and not model:
            raise UsageError(f"--{name.replace('_', '-')} needs --model: image tokens are counted with the model's "
                             "image processor")
    limit = target.limit_option
    if lengths_path and not model:
        raise UsageError(f"--lengths needs --model and {limit}")
    if (cutoff_len or max_prompt_length) and not model:
        raise UsageError(f"{limit} needs --model: token lengths are counted with the model's tokenizer")
    if model and not cutoff_len and target.limit_required:
        raise UsageError(f"--model needs {limit} (the {limit[2:].replace('-', '_')} you will train with)")
    if not model:
        return None
    pixels = {name: value for name, value in (("image_max_pixels", image_max_pixels),
                                              ("image_min_pixels", image_min_pixels)) if value is not None}
    return TokenOptions(model, cutoff_len, template, trust_remote_code, max_prompt_length, truncation_mode, trl_version,
                        **pixels, enable_thinking=enable_thinking, preserve_thinking=preserve_thinking)


def check_rows(name: str, path: str, entry: dict[str, Any], target: Target, dataset_dir: str | None,
              limits: TokenOptions | None, template: str, out: io.RowFile | None, executor: str, workers: int | None,
              ray_address: str | None, progress: Callable[[int], None] | None,
              benchmarks: Decontaminator | None = None, media_dir: str | None = None,
              near_dedup: float | None = None, max_samples: int | None = None) -> ValidationReport:
    stage = target.stage(entry)
    report = ValidationReport(dataset=name, file=path, entry=entry, stage=stage, target=target.name,
                              trainer=target.trainer)
    findings = report.findings
    if limits and stage == "none":
        if out is not None:
            raise UsageError("--lengths: token lengths are measured for ranking (pairwise) and KTO datasets only")
        findings.add("tokens_not_measured", "info", None, "", "exact token lengths are measured for ranking "
                     "(pairwise) and KTO datasets; this one is neither")
        limits = None
    counter = target.counter(limits, entry) if limits else None
    tokens = TokenStats(counter) if counter else None
    content = ContentChecker(findings)
    for code, level, message in counter.notes() if counter else ():
        findings.add(code, level, None, "", message)
    if dataset_dir:
        for problem in target.check_entry(dataset_dir, entry):
            findings.add("registry", "error", None, "", problem)
    if stage == "none":
        findings.add("not_a_preference_dataset", "error", None, "",
                     "the entry has neither ranking: true nor a kto_tag column: LLaMA-Factory would not train "
                     "dpo/orpo/simpo/kto/rm on it")
    column_types: dict[str, tuple[str, int]] = {}
    runner = get_executor(executor, workers, ray_address)
    rows = iter_rows(path) if max_samples is None else itertools.islice(iter_rows(path), max_samples)
    # on Ray, the first max_samples rows travel from here: a JSONL's line ranges would hold them all
    parts = runner.parts(path, rows) if max_samples is None or runner.local else blocks(rows, BATCH)
    checks = ValidateMap(target, entry, limits, template, counter, benchmarks, media_dir, near_dedup)
    report.contamination = dict.fromkeys(benchmarks.benchmarks, 0) if benchmarks else None
    near = NearSide(near_dedup, content, findings) if near_dedup is not None else None
    reasoning = ReasoningSide(getattr(counter, "thinking", None))  # a reasoning template and the data's thoughts
    try:
        for read, results in runner.map_blocks(parts, checks):  # locally, the checks beside the counting
            report.records += read
            for result in results:  # the ordered side, in input order
                for image in local_files(result.images, media_dir):  # read by the trainer: no output may replace it
                    found(image, f"an image of record {result.index}")
                _column_types(result, column_types, findings)
                findings.items.extend(result.findings)
                if result.drop:
                    report.would_drop.append(result.drop)
                if near is not None:
                    near.take(result)  # before content.take, which marks the pair seen
                if result.content is not None:
                    content.take(result.index, result.content)
                if tokens:
                    _tokens(result, tokens, out, findings)
                reasoning.take(result.index, result.lengths is not None, result.thoughts)
                for benchmark in result.contaminated:
                    report.contamination[benchmark] += 1  # type: ignore[index]
            if progress:
                progress(report.records)
    finally:
        runner.close()
    if report.records == 0:
        raise InputError(f"{path}: no records")
    if max_samples is not None:
        report.samples = samples_read(path, max_samples, report.records, stage)
    content.finish()
    reasoning.finish(findings)
    report.content = content.stats.to_json()
    report.near_duplicates = near.to_json() if near is not None else None
    if tokens:
        report.tokens = tokens.to_json()
        report.sequences = tokens.sequences
        report.stats = tokens
        unit = "examples" if stage == "kto" else "pairs"
        for code in ("truncated", "lost_eos"):
            if tokens.counts[code]:
                findings.add(code, "warning", None, "", f"{tokens.counts[code]} of {tokens.counts['pairs']} {unit} "
                             f"({code.replace('_', ' ')}) at {counter.limit_name} {counter.cutoff_len}; 99% fit in "
                             f"{report.tokens['recommended_cutoff_len']['99%']}", records=tokens.counts[code])
    key = target.size_key
    num_samples = entry.get(key) if key else None
    if isinstance(num_samples, int) and num_samples < report.records:
        findings.add("num_samples_cuts", "warning", None, key,
                     f"{key} {num_samples} keeps only part of the {report.records} records")
    return report


def samples_read(path: str, max_samples: int, read: int, stage: str) -> dict[str, Any]:
    """What ``max_samples`` leaves out: LLaMA-Factory reads the first N rows of each dataset, never the rest."""
    in_file = read if read < max_samples else read + sum(1 for _ in itertools.islice(iter_rows(path), read, None))
    unit = "examples" if stage == "kto" else "pairs"
    return {"max_samples": max_samples, "read": read, "in_file": in_file, "never_trained": in_file - read,
            "message": f"max_samples {max_samples:,} reads {read:,} of {in_file:,} {unit}"
                       + (f": {in_file - read:,} are never trained on" if in_file > read else "")}


def png_path(html: str) -> str:
    """The histogram written beside an HTML report."""
    return os.path.splitext(html)[0] + ".png"


def _tokens(result: RowCheck, tokens: TokenStats, out: io.RowFile | None, findings: Findings) -> None:
    """Count one row's lengths, and write its --lengths line."""
    lengths = result.lengths
    if lengths is None:
        if out and result.outcome:
            out.write({"index": result.index, "dropped": result.outcome})
        elif result.outcome is None:  # measured, but its images stop LLaMA-Factory's run: no lengths to give
            code = next((f.code for f in result.findings if f.code in STOPS_RUN), "")
            if code and tokens.images is not None:
                tokens.images.unmeasured += 1
            if code and out:
                out.write({"index": result.index, "not_measured": code})
        return
    tokens.add(lengths, result.index)
    if lengths.became_identical:
        findings.add("identical_after_truncation", "error", result.index, "",
                     f"chosen and rejected are identical in their first {lengths.chosen_kept} tokens, all that "
                     f"{tokens.counter.limit_name} {tokens.counter.cutoff_len} keeps: no preference signal left")
    if out:
        out.write(lengths.to_json(result.index))


class ValidateMap:
    """The per-row side of validate as a factory: built once in each worker (the tokenizer and the trainer's
    template load there), it maps a block of rows to their RowChecks with exact lengths."""

    def __init__(self, target: Target, entry: dict[str, Any], limits: TokenOptions | None, template: str = "auto",
                 counter: Counter | None = None, benchmarks: Decontaminator | None = None,
                 media_dir: str | None = None, near_dedup: float | None = None) -> None:
        self.target, self.entry, self.limits, self.template = target, entry, limits, template
        self.media_dir, self.near_dedup = media_dir, near_dedup
        self.benchmarks = benchmarks  # travels without its index: each process builds its own
        self.counter = counter  # this process's, reused when the map runs here; a worker builds its own

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "counter": None}

    def __call__(self) -> BlockChecker:
        counter = self.counter
        if counter is None and self.limits is not None:
            tokenizer_only_transformers()  # a worker that only counts tokens: keep torch out of it
            counter = self.target.counter(self.limits, self.entry)
        return BlockChecker(self.target, self.entry, counter, self.template, self.benchmarks, self.media_dir,
                            self.near_dedup)


class NearSide:
    """--near-dedup's ordered side: each row's signature against the earlier rows' (exact duplicates keep their own
    finding, duplicate_pair), a near_duplicate warning naming the record it copies, and the groups for the report."""

    def __init__(self, threshold: float, content: ContentChecker, findings: Findings) -> None:
        from ..hygiene import NearDuplicates

        self.index = NearDuplicates(threshold)
        self.content, self.findings = content, findings

    def take(self, result: RowCheck) -> None:
        facts = result.content
        if result.near is None or (facts is not None and facts.pair in self.content.stats.exact_seen):
            return
        found = self.index.add(result.index, result.near)
        if found is not None:
            self.findings.add("near_duplicate", "warning", result.index, "", f"near-duplicate of record {found.kept} "
                              f"(estimated Jaccard {found.jaccard:.2f})")

    def to_json(self) -> dict[str, Any]:
        groups = sorted(self.index.groups(), key=lambda g: (-g.size, g.indices[0]))
        return {"threshold": self.index.threshold, "groups": len(groups),
                "records_in_groups": sum(g.size for g in groups), "share": round(self.index.share, 4),
                "largest": [{"size": g.size, "indices": list(g.indices[:LISTED]), "jaccard": round(g.jaccard, 3)}
                            for g in groups[:LISTED]]}


def _column_types(result: RowCheck, seen: dict[str, tuple[str, int]], findings: Findings) -> None:
    """pyarrow (under datasets) fails on a column whose JSON type changes from row to row."""
    for key, kind in result.kinds.items():
        first = seen.setdefault(key, (kind, result.index))
        if first[0] != kind:
            findings.add("column_type_conflict", "error", result.index, key,
                         f"{key!r} is a {kind} here but a {first[0]} in record {first[1]}: the trainer's loader "
                         "(datasets/pyarrow) cannot read a column of mixed types")
            seen[key] = (kind, result.index)
