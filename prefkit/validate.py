"""``prefkit validate``: what LLaMA-Factory will do with every row, before any GPU hour.

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

import math
import os
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .checks import v1
from .checks.acceptance import Aligned, Attr, LoaderFailure, align
from .checks.content import ContentChecker, ContentFacts, RowContent
from .checks.findings import Finding, Findings
from .checks.lengths import BATCH, KtoLengths, PairLengths, TokenCounter
from .checks.schema import RowSchema, row_validator
from . import io
from .errors import DataError, InputError, UsageError, unexpected
from .executors import LocalExecutor, blocks, get_executor
from .hygiene import Decontaminator, check_aligned
from .hygiene import load as load_benchmarks
from .names import LEVELS
from .registry import detect_entry, get_entry, info_path, load
from .registry_check import check_entry
from .run import Run
from .sources import Row, iter_rows

PERCENTILES = (50, 90, 95, 99, 100)
LISTED = 200  # truncated records listed in the report (tokens.truncated_records); tokens.truncated counts them all


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

    def raise_if_worse_than(self, fail_on: str) -> None:
        """A DataError (exit 1) when a finding at level ``fail_on`` or worse exists."""
        if self.findings.worst_at_least(fail_on):
            counts = self.findings.counts()
            raise DataError(f"{self.dataset}: {sum(counts['error'].values())} error(s), "
                            f"{sum(counts['warning'].values())} warning(s); {len(self.would_drop)} of {self.records} "
                            "records would be dropped by LLaMA-Factory")

    def to_json(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "file": self.file, "entry": self.entry, "stage": self.stage,
                "records": self.records, "counts": self.findings.counts(),
                "errors": [f.to_json() for f in self.findings.by_level("error")],
                "warnings": [f.to_json() for f in self.findings.by_level("warning")],
                "infos": [f.to_json() for f in self.findings.by_level("info")],
                "would_drop": self.would_drop, "content": self.content, "tokens": self.tokens,
                "contamination": self.contamination}


def check_fail_on(level: str) -> None:
    if level not in LEVELS:
        raise UsageError(f"--fail-on {level!r}: choose one of {', '.join(LEVELS)}")


def locate(target: str, dataset_dir: str | None, layout: str | None) -> tuple[str, str, dict[str, Any]]:
    """(dataset name, file path, registry entry) for a registered NAME (dataset_info.json first, then v1's
    dataset_info.yaml) or a PATH (a file or a ``datasets`` folder)."""
    if target.startswith("hf://"):
        raise UsageError(f"{target}: validate reads local files; hf:// is an input of prefkit convert: convert it to a "
                         f"file first (prefkit convert {target} -o pairs.jsonl), then validate that")
    if dataset_dir and not os.path.isfile(target):
        info = load(dataset_dir)
        if target in info:
            entry = get_entry(dataset_dir, target, info)
            if "file_name" not in entry:
                raise UsageError(f"{target}: the entry points to a hub or script; validate reads local files")
            return target, os.path.join(dataset_dir, entry["file_name"]), entry
        v1_info = load(dataset_dir, "v1")
        if target in v1_info:
            path = v1.entry_file(dataset_dir, target, v1_info[target])
            if not os.path.exists(path):
                raise InputError(f"{path}: no such file (the path of v1 entry {target!r}, read from the current "
                                 "directory as llamafactory-cli reads it)")
            return target, path, v1_info[target]
        if not os.path.isdir(target):
            raise InputError(f"{target}: no such file, and no dataset of that name in {dataset_dir}/dataset_info.json "
                             "or dataset_info.yaml")
    if not os.path.exists(target):
        raise InputError(f"{target}: no such file (pass --dataset-dir to validate a registered name)")
    if layout == v1.LAYOUT or (layout is None and v1.detect(target)):
        return os.path.basename(os.path.normpath(target)), target, v1.file_entry(target)
    entry = detect_entry(target, os.path.dirname(os.path.abspath(target)), layout)
    return os.path.basename(os.path.normpath(target)), target, entry


class _TokenStats:
    def __init__(self, counter: TokenCounter) -> None:
        self.counter = counter
        # 4 bytes a pair each, for the percentiles and histograms
        self.prompt, self.response, self.total = array("I"), array("I"), array("I")
        self.sequences = {"chosen": array("I"), "rejected": array("I")}  # prompt + answer, before truncation
        self.counts = dict.fromkeys(("pairs", "truncated", "truncated_prompt", "truncated_chosen",
                                     "truncated_rejected", "identical_after_truncation", "lost_eos"), 0)
        self.truncated_records: list[dict[str, Any]] = []  # the first LISTED, with their lengths and why

    def add(self, lengths: PairLengths | KtoLengths, index: int | None = None) -> None:
        """One pair, or one KTO example (its answer counts as chosen when desirable, else as rejected)."""
        c = self.counts
        if lengths.truncated and len(self.truncated_records) < LISTED and index is not None:
            self.truncated_records.append({**lengths.to_json(index), "reason": _why_cut(lengths, self.counter.cutoff_len)})
        c["pairs"] += 1
        c["truncated"] += lengths.truncated
        c["truncated_prompt"] += lengths.prompt_kept < lengths.prompt
        for side, length, kept in lengths.answers():
            c[f"truncated_{side}"] += kept < length
            self.sequences[side].append(lengths.prompt + length)
        c["identical_after_truncation"] += lengths.became_identical
        c["lost_eos"] += lengths.lost_eos
        self.prompt.append(lengths.prompt)
        self.response.append(lengths.total - lengths.prompt)
        self.total.append(lengths.total)

    def to_json(self) -> dict[str, Any]:
        def pct(values: array) -> dict[str, int]:
            ordered = sorted(values)
            return {f"p{p}" if p < 100 else "max": ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]
                    for p in PERCENTILES} if ordered else {}

        totals = pct(self.total)
        return {"model": self.counter.tokenizer.name_or_path, "template": self.counter.template_name,
                "template_source": self.counter.template_source,
                "cutoff_len": self.counter.cutoff_len, **self.counts,
                "percentiles": {"prompt": pct(self.prompt), "response": pct(self.response), "total": totals},
                "recommended_cutoff_len": {"95%": totals.get("p95"), "99%": totals.get("p99"),
                                           "100%": totals.get("max")},
                "truncated_records": self.truncated_records}


def _why_cut(lengths: Any, cutoff_len: int) -> str:
    """What cutoff_len does to one record, in words: 'needs 1,300 tokens, cutoff_len 1,024: prompt 900 → 700, ...'."""
    answers = lengths.answers()
    parts = [f"{'answer' if len(answers) == 1 else side} {full:,} → {kept:,}" for side, full, kept in
             [("prompt", lengths.prompt, lengths.prompt_kept), *answers] if kept < full]
    why = f"needs {lengths.total:,} tokens, cutoff_len {cutoff_len:,}: " + (", ".join(parts) or "cut")
    if lengths.lost_eos:
        why += "; the end-of-turn token is cut"
    if lengths.became_identical:
        why += "; chosen and rejected are identical in what is kept"
    return why


def validate(target: str, dataset_dir: str | None = None, layout: str | None = None, model: str | None = None,
             template: str = "auto", cutoff_len: int | None = None, lengths_path: str | None = None,
             report_json: str | None = None, html: str | None = None, executor: str = "local",
             workers: int | None = None, ray_address: str | None = None,
             progress: Callable[[int], None] | None = None, trust_remote_code: bool = False,
             decontaminate: Decontaminator | str | None = None) -> ValidationReport:
    """Check one dataset (a file, or a NAME in ``dataset_dir``) the way LLaMA-Factory will read it.

    With ``model`` (a tokenizer folder or hub name) and ``cutoff_len``, also compute exact token lengths
    with LLaMA-Factory's ``template`` ("auto": its default for known models). ``lengths_path``,
    ``report_json`` and ``html`` (with its PNG histogram) are written when given. ``executor`` "ray" checks
    the rows on a Ray cluster (``ray_address``, or a local one) with the same results. The model folder's own
    Python code (``auto_map``) runs only with ``trust_remote_code``; without it such a folder is refused.
    ``decontaminate`` (a :class:`prefkit.hygiene.Decontaminator`, or "mt-bench,ifeval,FILE") reports the records that
    hold a benchmark item (``contaminated``) and counts them per benchmark.
    """
    benchmarks = load_benchmarks(decontaminate) if isinstance(decontaminate, str) else decontaminate
    name, path, entry = locate(target, dataset_dir, layout)
    is_v1 = v1.is_v1_entry(entry)  # LLaMA-Factory v1 pair data (checks/v1.py)
    if benchmarks is not None and is_v1:
        raise UsageError("--decontaminate checks LLaMA-Factory v0 datasets (sharegpt, alpaca, kto); not lf-v1 data yet")
    inputs = [path] + ([info_path(dataset_dir, "v1" if is_v1 else "v0")] if dataset_dir and name == target else [])
    inputs += benchmarks.files if benchmarks else []  # --decontaminate's item files
    with Run(inputs) as run:
        out = run.rows("--lengths", lengths_path, lines=True) if lengths_path else None
        report_file = run.json("--report-json", report_json)
        pages = (run.file("--html", html), run.file("--html (histogram)", png_path(html))) if html else None
        report = _validate(name, path, entry, dataset_dir, target, is_v1, model, template, cutoff_len, out, executor,
                           workers, ray_address, progress, trust_remote_code, benchmarks)
        report_file.value = report.to_json()
        if pages:
            from .checks.html import histogram, render

            pages[0].file.write(render(report).encode("utf-8"))  # type: ignore[union-attr]
            image = histogram(report)
            pages[1].file.write(image) if image else pages[1].discard()  # type: ignore[union-attr]
        run.commit()
    return report


def _validate(name: str, path: str, entry: dict[str, Any], dataset_dir: str | None, target: str, is_v1: bool,
              model: str | None, template: str, cutoff_len: int | None, out: io.RowFile | None, executor: str,
              workers: int | None, ray_address: str | None, progress: Callable[[int], None] | None,
              trust_remote_code: bool, benchmarks: Decontaminator | None = None) -> ValidationReport:
    lengths_path = out is not None
    attr = v1.attr(entry) if is_v1 else Attr.from_entry(entry)
    report = ValidationReport(dataset=name, file=path, entry=entry, stage=attr.stage)
    findings = report.findings
    if model and not cutoff_len:
        raise UsageError("--model needs --cutoff-len (the cutoff_len you will train with)")
    if lengths_path and not model:
        raise UsageError("--lengths needs --model and --cutoff-len")
    if cutoff_len and not model:
        raise UsageError("--cutoff-len needs --model: token lengths are counted with the model's tokenizer")
    if model and attr.stage == "none":
        if lengths_path:
            raise UsageError("--lengths: token lengths are measured for ranking (pairwise) and KTO datasets only")
        findings.add("tokens_not_measured", "info", None, "", "exact token lengths are measured for ranking "
                     "(pairwise) and KTO datasets; this one is neither")
        model = None
    counter = (v1.V1Counter if is_v1 else TokenCounter)(model, template, cutoff_len, trust_remote_code) if model else None
    tokens = _TokenStats(counter) if counter else None
    content = ContentChecker(findings)
    if counter and not is_v1:
        _template_mismatch(counter, findings)
    if dataset_dir and name == target:
        for problem in (v1.check_entry if is_v1 else check_entry)(dataset_dir, entry):
            findings.add("registry", "error", None, "", problem)
    if attr.stage == "none":
        findings.add("not_a_preference_dataset", "error", None, "",
                     "the entry has neither ranking: true nor a kto_tag column: LLaMA-Factory would not train "
                     "dpo/orpo/simpo/kto/rm on it")
    column_types: dict[str, tuple[str, int]] = {}
    runner = get_executor(executor, workers, ray_address)
    parts = blocks(iter_rows(path), BATCH) if isinstance(runner, LocalExecutor) else runner.parts(path, iter_rows(path))
    checks = ValidateMap(entry, model, template, cutoff_len, counter, trust_remote_code, benchmarks)
    report.contamination = dict.fromkeys(benchmarks.benchmarks, 0) if benchmarks else None
    try:
        for read, results in runner.map_blocks(parts, checks):
            report.records += read
            for result in results:  # the ordered side, in input order
                _column_types(result, column_types, findings)
                findings.items.extend(result.findings)
                if result.drop:
                    report.would_drop.append(result.drop)
                if result.content is not None:
                    content.take(result.index, result.content)
                if tokens:
                    _tokens(result, tokens, out, findings)
                for benchmark in result.contaminated:
                    report.contamination[benchmark] += 1  # type: ignore[index]
            if progress:
                progress(report.records)
    finally:
        runner.close()
    if report.records == 0:
        raise InputError(f"{path}: no records")
    content.finish()
    report.content = content.stats.to_json()
    if tokens:
        report.tokens = tokens.to_json()
        report.sequences = tokens.sequences
        unit = "examples" if attr.stage == "kto" else "pairs"
        for code in ("truncated", "lost_eos"):
            if tokens.counts[code]:
                findings.add(code, "warning", None, "", f"{tokens.counts[code]} of {tokens.counts['pairs']} {unit} "
                             f"({code.replace('_', ' ')}) at cutoff_len {cutoff_len}; 99% fit in "
                             f"{report.tokens['recommended_cutoff_len']['99%']}", records=tokens.counts[code])
    key = "size" if is_v1 else "num_samples"  # v1's size draws that many records at random
    num_samples = entry.get(key)
    if isinstance(num_samples, int) and num_samples < report.records:
        findings.add("num_samples_cuts", "warning", None, key,
                     f"{key} {num_samples} keeps only part of the {report.records} records")
    return report


def png_path(html: str) -> str:
    """The histogram written beside an HTML report."""
    return os.path.splitext(html)[0] + ".png"


@dataclass(slots=True)
class RowCheck:
    """What one row gives, computed from that row alone (so any executor can compute it)."""

    index: int
    outcome: Aligned | str | None  # the aligned row to measure and check (None once done), or the drop code
    findings: list[Finding] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)  # each column's JSON type (the loader's type check)
    drop: dict[str, Any] | None = None  # the report's would_drop entry
    lengths: PairLengths | KtoLengths | None = None  # exact token lengths (with a model)
    content: ContentFacts | None = None  # for the checks across rows (duplicates, contradictions)
    contaminated: tuple[str, ...] = ()  # --decontaminate: the benchmarks whose items the row holds

    def add(self, code: str, level: str, path: str, message: str) -> None:
        self.findings.append(Finding(code, level, self.index, path, message))


def unreadable(row: Row) -> RowCheck | None:
    """The check of a row that holds no record (None for one that does): content after a JSON array breaks the
    loader; an unparsable row is reported under the reason sources.py gives it (invalid_json, too_deep, ...)."""
    i = row.index
    if row.error is not None and row.reason == "trailing_content":
        result = RowCheck(i, "breaks_loader")
        result.add("breaks_loader", "error", "", f"{row.error}: LLaMA-Factory's loader fails on the file")
        return result
    if row.error is None and isinstance(row.data, dict):
        return None
    code = row.reason if row.error is not None else "invalid_json"
    result = RowCheck(i, code, drop={"index": i, "code": code, "path": "", "message": "unreadable"})
    result.add(code, "error", "", row.error or "the record is not a JSON object")
    return result


def check_row(row: Row, attr: Attr, schema: RowSchema | None) -> RowCheck:
    """The findings of one row and what LLaMA-Factory makes of it. Never raises: an odd value no check
    foresaw is reported for this row (``unexpected_value``) and the run goes on."""
    i = row.index
    unread = unreadable(row)
    if unread is not None:
        return unread
    result = RowCheck(i, "", kinds={k: _json_kind(v) for k, v in row.data.items() if v is not None})
    try:
        result.outcome = _aligned(row.data, attr, schema, result)
    except Exception as err:
        reason, message = unexpected(err)
        result.add(reason, "error", "", f"{message}: prefkit cannot tell what LLaMA-Factory does here")
        result.outcome = reason
    return result


def _aligned(data: dict[str, Any], attr: Attr, schema: RowSchema | None, result: RowCheck) -> Aligned | str:
    if schema is not None:
        for where, message in schema.errors(data):
            result.add("schema", "error", where, message)
    try:
        aligned = align(data, attr)
    except LoaderFailure as failure:
        result.add("breaks_loader", "error", failure.path,
                   f"{failure}: LLaMA-Factory's converter raises on this row and the run fails")
        return "breaks_loader"
    for code, where, message in aligned.warnings:
        result.add(code, "warning", where, message)
    if aligned.drop:
        result.add(aligned.drop, "error", aligned.drop_path, aligned.drop_message)
        result.drop = {"index": result.index, "code": aligned.drop, "path": aligned.drop_path,
                       "message": aligned.drop_message}
        if attr.stage == "kto" and _no_kl_answer(aligned.response):
            result.add("breaks_loader", "error", aligned.drop_path,
                       "LLaMA-Factory's KTO processor gives each example the previous record's answer for its KL "
                       "term, and this record has none: the next record raises IndexError and the run fails "
                       "(unless that one is dropped too)")
        return aligned.drop
    return aligned


def _no_kl_answer(response: list[dict[str, Any]]) -> bool:
    """feedback.py reads a KL answer as ``response[0]`` when its content is not empty, else ``response[1]``:
    an IndexError for a row the converter left without one (broken messages, no answer)."""
    return not response or (not response[0]["content"] and len(response) < 2)


def _tokens(result: RowCheck, tokens: _TokenStats, out: io.RowFile | None, findings: Findings) -> None:
    """Count one row's lengths, and write its --lengths line."""
    lengths = result.lengths
    if lengths is None:
        if out and result.outcome:
            out.write({"index": result.index, "dropped": result.outcome})
        return
    tokens.add(lengths, result.index)
    if lengths.became_identical:
        findings.add("identical_after_truncation", "error", result.index, "",
                     f"chosen and rejected are identical in their first {lengths.chosen_kept} tokens, all that "
                     f"cutoff_len {tokens.counter.cutoff_len} keeps: no preference signal left")
    if out:
        out.write(lengths.to_json(result.index))


def attempt_content(content: RowContent, result: RowCheck, kto: bool) -> ContentFacts | None:
    """The row's content facts; an odd value no check foresaw is reported for this row."""
    assert isinstance(result.outcome, Aligned)
    try:
        return content.facts(result.outcome, kto, result.add)
    except Exception as err:
        reason, message = unexpected(err)
        result.add(reason, "error", "", f"{message}: prefkit cannot check this row's content")
        return None


def attempt_lengths(measure: Callable[[list[Any]], list[Any]], kept: list[RowCheck]) -> None:
    """The rows' token lengths, measured as one batch; when LLaMA-Factory's template raises on the batch (a content
    or system that is not text), row by row: the row it raises on breaks the loader, the others are measured."""
    try:
        found: list[Any] = measure([r.outcome for r in kept])
    except Exception:
        found = []
        for result in kept:
            try:
                found += measure([result.outcome])
            except Exception as err:
                message = unexpected(err)[1]  # re-raised under --debug
                result.add("breaks_loader", "error", "", f"LLaMA-Factory's template raises on this row ({message}): "
                           "the run fails")
                result.outcome = "breaks_loader"
                found.append(None)
    for result, lengths in zip(kept, found, strict=True):
        result.lengths = lengths


class ValidateMap:
    """The per-row side of validate as a factory: built once in each worker (the tokenizer and LLaMA-Factory's
    template load there), it maps a block of rows to their RowChecks with exact lengths."""

    def __init__(self, entry: dict[str, Any], model: str | None, template: str, cutoff_len: int | None,
                 counter: TokenCounter | None = None, trust_remote_code: bool = False,
                 benchmarks: Decontaminator | None = None) -> None:
        self.entry, self.model, self.template, self.cutoff_len = entry, model, template, cutoff_len
        self.benchmarks = benchmarks  # travels without its index: each process builds its own
        self.trust_remote_code = trust_remote_code  # travels to the workers: each loads the tokenizer alike
        self.counter = counter  # this process's, reused when the map runs here; a worker builds its own

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "counter": None}

    def __call__(self) -> Callable[[list[Row]], list[RowCheck]]:
        if v1.is_v1_entry(self.entry):
            return v1.block_checker(self.entry, self.model, self.template, self.cutoff_len, self.counter,
                                    self.trust_remote_code)
        attr = Attr.from_entry(self.entry)
        validator = row_validator(attr)
        schema = RowSchema(validator) if validator is not None else None
        counter = self.counter
        if counter is None and self.model and self.cutoff_len:
            from .checks.lengths import tokenizer_only_transformers

            tokenizer_only_transformers()  # a worker that only counts tokens: keep torch out of it
            counter = TokenCounter(self.model, self.template, self.cutoff_len, self.trust_remote_code)

        content = RowContent(list(counter.tokenizer.all_special_tokens) if counter else None)
        kto = attr.stage == "kto"
        benchmarks = self.benchmarks

        def check_block(rows: list[Row]) -> list[RowCheck]:
            results = [check_row(row, attr, schema) for row in rows]
            kept = [r for r in results if isinstance(r.outcome, Aligned)]
            for result in kept:
                result.content = attempt_content(content, result, kto)
                if benchmarks is not None:
                    check_aligned(benchmarks, result)
            if counter is not None:
                attempt_lengths(counter.measure_kto if kto else counter.measure, kept)
            for result in kept:
                if isinstance(result.outcome, Aligned):
                    result.outcome = None  # measured and checked: the text need not travel back
            return results

        return check_block


def _json_kind(value: Any) -> str:
    return "object" if isinstance(value, dict) else "list" if isinstance(value, list) else \
        "bool" if isinstance(value, bool) else "number" if isinstance(value, (int, float)) else "string"


def _column_types(result: RowCheck, seen: dict[str, tuple[str, int]], findings: Findings) -> None:
    """pyarrow (under datasets) fails on a column whose JSON type changes from row to row."""
    for key, kind in result.kinds.items():
        first = seen.setdefault(key, (kind, result.index))
        if first[0] != kind:
            findings.add("column_type_conflict", "error", result.index, key,
                         f"{key!r} is a {kind} here but a {first[0]} in record {first[1]}: LLaMA-Factory's loader "
                         "(datasets/pyarrow) cannot read a column of mixed types")
            seen[key] = (kind, result.index)


def _template_mismatch(counter: TokenCounter, findings: Findings) -> None:
    """Warn when the tokenizer's own chat template does not use the LLaMA-Factory template's user marker."""
    tokenizer = counter.tokenizer
    if not getattr(tokenizer, "chat_template", None):
        return
    probe = "PREFKIT_PROBE"
    user = "".join(e for e in counter.template.format_user.apply(content=probe, idx="0") if isinstance(e, str))
    marker = user.split(probe)[0].strip()
    try:
        rendered = tokenizer.apply_chat_template([{"role": "user", "content": probe}], tokenize=False,
                                                 add_generation_prompt=True)
    except Exception:  # a template that cannot render a plain user turn says nothing about markers
        return
    if marker and marker not in rendered:
        findings.add("template_mismatch", "warning", None, "",
                     f"template {counter.template_name!r} marks a user turn with {marker!r}, which the tokenizer's "
                     "own chat template does not use: check --template")
