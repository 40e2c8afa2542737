"""The options of ``prefkit convert`` (and ``--preview``) as one value: the CLI, the Python API and the pipeline pass
a :class:`ConvertOptions`, and :meth:`ConvertOptions.check` refuses a bad combination before anything is read.

Each field keeps the keyword that ``prefkit.pipeline.convert.convert`` has always taken (``fmt``,
``pairing_strategy``, ...), so ``convert(inputs, output, fmt="pairwise")`` and
``convert(inputs, output, ConvertOptions(fmt="pairwise"))`` are the same call.

>>> options = ConvertOptions(fmt="pairwise", unlabeled=True)
>>> options.target, options.read_options().target
('unlabeled', 'unlabeled')
>>> ConvertOptions(tie_band=0.1).check()
Traceback (most recent call last):
...
prefkit.errors.UsageError: --tie-band 0.1: a band of 0 or more around the midpoint of --preference-scale
>>> ConvertOptions().updated(colour="red")
Traceback (most recent call last):
...
TypeError: convert() got an unexpected keyword argument 'colour'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..readers import ReadOptions, check_mapping, pairing

if TYPE_CHECKING:
    from ..hygiene import Decontaminator


@dataclass(frozen=True, kw_only=True)
class ConvertOptions:
    """Every option of ``convert``, with the CLI's defaults (the CLI flag of each field in its comment)."""

    fmt: str = "auto"  # --from: a reader name, or "auto" (detected per input)
    to: str = "sharegpt"  # --to: the writer (sharegpt, alpaca, kto, lf-v1, trl, trl-kto, unlabeled, ...)
    unlabeled: bool = False  # --unlabeled: same as to="unlabeled" (pairs to label)
    rejects: str | None = None  # --rejects: default <output stem>.rejects.jsonl, written only when needed
    pairing_strategy: str = "best-vs-worst"  # --pairing: how scores / ranks become pairs
    min_margin: float = 0.0  # --min-margin: pair only answers whose scores differ by more than this
    mapping: dict[str, str] | None = None  # --map: FIELD -> COLUMN (COLUMN may be "c1,c2")
    verdicts: dict[str, list[str]] | None = None  # --verdict: {"a"|"b"|"tie"|"failed": [values]}
    preference_scale: tuple[float, float] | None = None  # --preference-scale: (LOW, HIGH) of a continuous verdict
    tie_band: float = 0.0  # --tie-band: |value - midpoint| <= tie_band is a tie (needs preference_scale)
    dedup: bool = False  # --dedup: exact duplicate rows become rejects
    split: str = "train"  # --split: of a datasets / hf:// input
    subset: str | None = None  # --subset: the config of an hf:// or Hub-shaped input
    questions: str | None = None  # --questions: a judge layout's question file
    answers: str | None = None  # --answers: a judge layout's model_answer folder
    register: str | None = None  # --register: the dataset_info name of the output (with dataset_dir)
    dataset_dir: str | None = None  # --dataset-dir: the LLaMA-Factory dataset dir to register in
    force: bool = False  # --force: replace a different entry of the same name
    weight: float | None = None  # --weight: lf-v1 entry's sampling weight
    size: int | None = None  # --size: lf-v1 entry's sample count
    save_to_disk: str | None = None  # --save-to-disk: also write a datasets folder
    report_json: str | None = None  # --report-json: where the report goes as JSON
    decontaminate: Decontaminator | str | None = None  # --decontaminate: a Decontaminator or "mt-bench,ifeval,FILE"
    near_dedup: bool = False  # --near-dedup: near-duplicate rows become rejects
    near_threshold: float = 0.8  # --near-threshold: the Jaccard estimate that makes a near duplicate
    executor: str = "local"  # --executor: local or ray
    workers: int | None = None  # --workers: Ray worker processes
    ray_address: str | None = None  # --ray-address: an existing Ray cluster
    progress: Callable[[int], None] | None = None  # called with the count of records read so far
    phase: Callable[[str | None], None] | None = None  # the name of a step that reads no records (a shuffle); None: done

    @property
    def target(self) -> str:
        """The writer's name: ``to``, or "unlabeled" with ``unlabeled``."""
        return "unlabeled" if self.unlabeled else self.to

    def updated(self, **fields: Any) -> ConvertOptions:
        """These options with ``fields`` replaced; an unknown name is a TypeError, as a function's keyword is."""
        unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise TypeError(f"convert() got an unexpected keyword argument {unknown[0]!r}")
        return dataclasses.replace(self, **fields) if fields else self

    def check(self) -> None:
        """Refuse option values that cannot work together (raises UsageError), before any input is read."""
        if self.unlabeled and self.to not in ("sharegpt", "unlabeled"):
            raise UsageError(f"--unlabeled writes pairs to label; it cannot be combined with --to {self.to}")
        pairing.check_strategy(self.pairing_strategy)
        check_mapping(self.mapping or {}, self.fmt)
        if self.near_dedup:
            from ..hygiene.neardup import check_threshold

            check_threshold(self.near_threshold)
        if self.tie_band < 0 or (self.tie_band and self.preference_scale is None):
            raise UsageError(f"--tie-band {self.tie_band}: a band of 0 or more around the midpoint of "
                             "--preference-scale")

    def read_options(self) -> ReadOptions:
        """What the readers take (a ``decontaminate`` spec loaded into its Decontaminator)."""
        benchmarks = self.decontaminate
        if isinstance(benchmarks, str):
            from ..hygiene import load

            benchmarks = load(benchmarks)
        return ReadOptions(target=self.target, pairing=self.pairing_strategy, min_margin=self.min_margin,
                           mapping=self.mapping or {}, verdicts=self.verdicts, scale=self.preference_scale,
                           tie_band=self.tie_band, split=self.split, subset=self.subset, questions=self.questions,
                           answers=self.answers, decontaminate=benchmarks)
