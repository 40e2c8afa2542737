"""``prefkit convert``: raw logs -> records -> one LLaMA-Factory dataset file, with nothing lost.

Every input record is written (possibly as several pairs) or sent to the rejects file with a reason;
``ConvertReport`` always satisfies ``input_records == accepted + rejected``.

>>> import json, tempfile
>>> d = tempfile.mkdtemp()
>>> rows = [{"prompt": "2+2?", "response_a": "4", "response_b": "5", "winner": "model_a"},
...         {"prompt": "Hi", "response_a": "Hello", "response_b": "Yo", "winner": "tie"}]
>>> _ = open(f"{d}/votes.jsonl", "w").write("\\n".join(json.dumps(r) for r in rows))
>>> report = convert([f"{d}/votes.jsonl"], f"{d}/pairs.json", fmt="pairwise")
>>> report.input_records, report.accepted, report.rejected, report.rejected_by_reason
(2, 1, 1, {'tie': 1})
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import DataError, InputError, UsageError
from ..io import hf
from ..io.run import Run
from ..readers import MAP_FIELDS, ReadOptions, after_run, extra_inputs
from ..readers.mapping import column_notes
from ..registry import info as registry
from ..writers import Writer, get_writer
from ..writers.arrow import schema as arrow_schema
from ..writers.image_files import ImageStore, images_folder
from . import shards
from .convert_options import ConvertOptions
from .executors import Executor, get_executor
from .flow import Input, Sink, SourceReport, convert_sources, on_cluster, resolve_formats
from .preview import Previewed
from .preview import preview as show_records
from .preview import unread_notes

OUTPUT_SUFFIXES = (".json", ".jsonl", ".parquet")


@dataclass
class ConvertReport:
    output: str
    to: str
    rejects_file: str | None = None
    input_records: int = 0
    accepted: int = 0
    rejected: int = 0
    pairs_written: int = 0  # rows written (KTO examples with --to kto)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)
    exact_duplicates: int = 0
    prompt_duplicates: int = 0
    sources: list[SourceReport] = field(default_factory=list)
    dataset_info_entry: dict[str, Any] | None = None
    registered: str | None = None
    mapping_notes: list[str] = field(default_factory=list)  # --map's default columns given away; columns left unread
    contamination: dict[str, int] | None = None  # --decontaminate: {benchmark: rejects naming it}
    near_duplicates: int | None = None  # --near-dedup: rows rejected as near_duplicate
    near_threshold: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def preview(inputs: list[str] | str, n: int = 3, options: ConvertOptions | None = None,
            **fields: Any) -> list[Previewed]:
    """The first ``n`` records as ``convert`` would write them, each field with its source column; writes nothing.
    ``options`` (and ``fields``, which replace some of them) are convert's; those that write files are ignored."""
    options = _options(options, fields)
    inputs = _inputs(inputs)
    if n < 1:
        raise UsageError(f"--preview {n}: show at least 1 record")
    options.check()
    return show_records(inputs, n, options.fmt, get_writer(options.target), options.read_options())


def _options(options: ConvertOptions | None, fields: dict[str, Any]) -> ConvertOptions:
    """``options`` (default: the defaults) with ``fields`` replaced."""
    if options is not None and not isinstance(options, ConvertOptions):
        raise TypeError(f"expected ConvertOptions as the options, got {type(options).__name__}: give fmt=, to=, ... "
                        "by keyword")
    return (options or ConvertOptions()).updated(**fields)


def _inputs(inputs: list[str] | str) -> list[str]:
    """The inputs as a list, each an existing file or folder, or an hf:// dataset."""
    inputs = [inputs] if isinstance(inputs, str) else list(inputs)
    if not inputs:
        raise UsageError("no input files given")
    for path in inputs:
        if not (os.path.exists(path) or path.startswith("hf://")):
            raise InputError(f"{path}: no such file")
    return inputs


def default_rejects_path(output: str) -> str:
    base = output[: -len(".jsonl")] if output.endswith(".jsonl") else os.path.splitext(output)[0]
    return base + ".rejects.jsonl"


def check_output_name(output: str, parts: bool = False) -> None:
    """The output's name says what it is: .json, .jsonl, .parquet, or (``parts``: convert) a folder of parts."""
    if parts and shards.is_sharded(output):
        return
    if not output.lower().endswith(OUTPUT_SUFFIXES):
        folder = ", or a folder of JSONL parts (a name ending in /)" if parts else ""
        raise UsageError(f"{output}: the output must be .json (one array), .jsonl (one record a line) or .parquet"
                         f"{folder}")


def _fill(report: ConvertReport, sink: Sink, rejects_file: str | None) -> None:
    report.sources = sink.sources
    report.input_records = sum(s.input_records for s in sink.sources)
    report.accepted = sum(s.accepted for s in sink.sources)
    report.rejected = sum(s.rejected for s in sink.sources)
    report.pairs_written = sink.written
    report.rejected_by_reason = dict(sink.reasons.most_common())
    report.notes = dict(sink.notes.most_common())
    report.exact_duplicates, report.prompt_duplicates = sink.exact_duplicates, sink.prompt_duplicates
    report.rejects_file = rejects_file


def _writer(to: str, output: str, register: str | None, weight: float | None, size: int | None) -> Writer:
    writer = get_writer(to, parquet=output.lower().endswith(".parquet"), weight=weight, size=size)
    if register and writer.registry is None:
        writer.entry(output)  # raises: the rows are no LLaMA-Factory dataset (pairs to label, TRL rows)
    return writer


def _sink(run: Run, output: str, rejects: str, schema: Any, writer: Writer, dedup: bool, images: ImageStore,
          sharded: bool) -> Sink:
    """The ordered side, writing ``output`` and ``rejects``; ``sharded`` (-o DIR/): the folders of parts that the
    part writers fill, images included (prefkit.pipeline.shards)."""
    if not sharded:
        return Sink(run.rows("-o", output, schema=schema), run.rows("--rejects", rejects, lines=True), writer, dedup)
    rows, rejected = run.folder("-o", output, shards.part_names), run.folder("--rejects", rejects, shards.part_names)
    sink = Sink(None, None, writer, dedup)
    sink.parts = shards.Parts(output, rows.tmp, rejected.tmp, images.staging, rejects_staged=rejected).open()
    return sink


def _remove(path: str) -> None:
    """A rejects file, or a folder of rejects parts (only the parts: a file prefkit did not write stays)."""
    if not os.path.isdir(path):
        os.unlink(path)
        return
    for name in os.listdir(path):
        if shards.is_part(name):
            os.unlink(os.path.join(path, name))
    if not os.listdir(path):
        os.rmdir(path)


def near_side(sink: Sink, inputs: list[Input], writer: Writer, options: ReadOptions, runner: Executor,
              threshold: float, phase: Callable[[str | None], None] | None = None) -> None:
    """--near-dedup: exact duplicates are rejected first; near ones are judged on the cluster when the map runs there
    (the sink gets the decisions), else by the sink itself (an index of signatures)."""
    from ..hygiene.neardup import NearDuplicates

    sink.dedup = True
    if on_cluster(inputs, runner):
        sink.decided = near_decisions(inputs, writer, options, runner, threshold, phase)  # type: ignore[arg-type]
    else:
        sink.near = NearDuplicates(threshold)


def convert_on_cluster(*args: Any) -> None:
    """prefkit.pipeline.ordered_cluster.convert_on_cluster (imported when used: it needs numpy and Ray)."""
    from .ordered_cluster import convert_on_cluster as convert_there

    convert_there(*args)


def near_decisions(*args: Any) -> dict[int, Any]:
    """prefkit.pipeline.near_cluster.near_decisions (imported when used: it needs numpy and Ray)."""
    from .near_cluster import near_decisions as decide

    return decide(*args)


def convert(inputs: list[str] | str, output: str, options: ConvertOptions | None = None,
            **fields: Any) -> ConvertReport:
    """Convert raw preference logs into one LLaMA-Factory dataset file.

    ``inputs`` are files, ``datasets`` folders or ``hf://datasets/ORG/NAME[@REV]`` (``split``, ``subset``).
    ``fmt`` is a reader name or "auto"; ``to`` is sharegpt, alpaca, kto, lf-v1 (LLaMA-Factory v1 pairs), trl,
    trl-kto (TRL's rows) or unlabeled (pairs to label, for ``prefkit label push``; ``unlabeled=True`` says the
    same). The output is .json, .jsonl or .parquet, or ``DIR/``: a folder of JSONL parts, each written where its block
    was mapped (prefkit.pipeline.shards); ``save_to_disk`` writes a ``datasets`` folder as well (file outputs).
    Rejected records go to ``rejects`` (default: ``<output stem>.rejects.jsonl``, written only when something
    is rejected). Images that records carry as ``data:`` URLs are written to ``<output stem>_images/`` (one file per
    distinct image, named by its sha256) and the rows name those files. With ``register`` the output is registered
    in ``dataset_dir``/dataset_info.json (lf-v1: in v1's dataset_info.yaml, with ``weight`` and ``size`` when given).
    Every check that can fail runs before the first byte is written, and a failed run changes no file. ``verdicts``,
    ``preference_scale`` and ``tie_band`` say what pairwise verdicts mean (numbers are never guessed). ``executor`` "ray"
    runs the per-record side on a Ray cluster (``ray_address``, or a local one) with the same results.
    ``decontaminate`` (a :class:`prefkit.hygiene.Decontaminator`, or "mt-bench,ifeval,FILE") rejects the records that
    hold a benchmark item as ``contaminated``. ``near_dedup`` rejects a row whose MinHash estimate of word 5-gram
    Jaccard similarity with an earlier row reaches ``near_threshold`` as ``near_duplicate``, naming the first row of
    its group (prefkit.hygiene.neardup); exact duplicates are rejected first, as ``duplicate_pair``.

    The options are one :class:`prefkit.pipeline.convert_options.ConvertOptions`; ``fields`` (its field names, e.g.
    ``fmt="pairwise"``) replace some of them, so ``convert(inputs, output, fmt="pairwise")`` works as it always has.
    """
    options = _options(options, fields)
    options.check()
    fmt, to, register, dataset_dir = options.fmt, options.target, options.register, options.dataset_dir
    questions, answers, rejects = options.questions, options.answers, options.rejects
    inputs = _inputs(inputs)
    check_output_name(output, parts=True)
    sharded = shards.is_sharded(output)
    if sharded and options.save_to_disk:
        raise UsageError(f"--save-to-disk goes with a file output, not the folder of parts {output}")
    output = output.rstrip("/" + os.sep) if sharded else output
    writer = _writer(to, output, register, options.weight, options.size)
    # relative image paths: as LLaMA-Factory finds them, from the dataset dir it is registered in, else the output's
    writer.image_dir = dataset_dir if register and dataset_dir else os.path.dirname(os.path.abspath(output))
    writer.data_image_dir = images_folder(output)  # images that records carry as data: URLs are written there
    schema = arrow_schema(to) if output.lower().endswith(".parquet") else None
    rejects_path = rejects or (output + ".rejects" if sharded else default_rejects_path(output))
    read = options.read_options()
    report = ConvertReport(output=output, to=to, mapping_notes=column_notes(read.mapping, fmt, MAP_FIELDS.get(fmt, ())))
    layout = [p for p in (questions, answers) if p] + extra_inputs(inputs, fmt)  # the readers' spec.discovers
    layout += read.decontaminate.files if read.decontaminate else []  # --decontaminate's item files
    with Run(inputs + layout) as run:  # a judge layout's question and answer files are inputs too
        if register and dataset_dir:
            run.registry(registry.info_path(dataset_dir, writer.registry))
        registry.precheck_registration(dataset_dir, register, output, options.force, writer.registry or "v0")
        images = ImageStore(run, writer.data_image_dir, output)
        sink = _sink(run, output, rejects_path, schema, writer, options.dedup, images, sharded)
        sink.images, writer.stage = images.add, images.stage  # each data: image written as it is decoded
        report_file = run.json("--report-json", options.report_json)
        saved = options.save_to_disk
        folder = run.folder("--save-to-disk", saved, hf.not_saved) if saved else None
        runner = get_executor(options.executor, options.workers, options.ray_address)
        threshold = options.near_threshold if options.near_dedup else None
        try:
            resolved = resolve_formats(inputs, fmt, read)  # "auto": each input detected once, here
            if threshold is not None:
                near_side(sink, resolved, writer, read, runner, threshold, options.phase)
            if sharded and on_cluster(resolved, runner):  # the cluster decides the sink's key sets too
                convert_on_cluster(resolved, writer, read, sink, runner, options.progress, threshold, options.phase)
            else:
                convert_sources(resolved, writer, read, sink, runner, options.progress, threshold)
            if sink.parts is not None:
                sink.parts.finish(runner, sink.rejects_written)  # the parts of the blocks mapped on workers
        finally:
            runner.close()
        images.sweep()  # the images of rows that were not written in the end
        if sum(s.input_records for s in sink.sources) == 0:
            raise InputError(f"{', '.join(inputs)}: no records in the input")
        after_run((s.format for s in sink.sources), sink.detailed, ", ".join(inputs))  # the readers' spec.after
        try:
            sink.require_rows(", ".join(inputs))
        except DataError as err:  # every record rejected: a column left unread is often why, so say it here too
            notes = unread_notes(resolved[0], read)
            raise DataError(f"{err}; note: {notes[0]}" if notes else str(err)) from None
        rejected = sink.rejects_written
        if not rejected and not rejects:  # the default rejects file exists only when something was rejected
            if sink.parts is not None:
                run.unstage(sink.parts.rejects_staged)
            else:
                sink.rejects.discard()
        if folder:
            sink.out.finish()
            hf.save_to_disk(sink.out.tmp, schema is not None, folder.tmp, folder.path)
        report.dataset_info_entry = registry.output_entry(writer, output, dataset_dir)
        _fill(report, sink, rejects_path if rejected or rejects else None)
        if read.decontaminate is not None:
            report.contamination = read.decontaminate.counts(sink.detailed("contaminated"))
        if threshold is not None:
            report.near_duplicates, report.near_threshold = sink.near_duplicates, threshold
        report.registered = register if register and dataset_dir else None
        report_file.value = report.to_json()
        registry.commit_registered(run, report.dataset_info_entry, writer.registry, dataset_dir, register,
                                   options.force)
    if not rejected and not rejects and os.path.exists(rejects_path):
        _remove(rejects_path)  # a previous run's rejects would now be wrong
    report.mapping_notes += unread_notes(resolved[0], read)  # columns the run left unread: never silent
    return report
