"""Every pluggable kind of prefkit in one table each: readers (``--from``), writers (``--to``), targets (``--target``),
executors (``--executor``) and labeling backends (``--backend``).

A kind is one registration line: its name, where its spec lives (``"module:attribute"``, imported only when used) and
one line of help. The CLI's ``--help``, its choices, the docs and the name checks all read these tables, so the module
stays light (``prefkit --help`` imports none of the implementations). A package outside prefkit adds a kind through an
entry point in the group ``prefkit.<kind>`` (``prefkit.readers``, ``prefkit.targets`` ...), whose value is the same
``"module:attribute"``; its help line is the spec's ``help`` attribute.

>>> names("executors")
('local', 'ray')
>>> find("writers", "sharegpt").where
'prefkit.writers.sharegpt:SharegptWriter'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")

GROUPS = ("readers", "writers", "targets", "executors", "labelers")
OPTIONS = {"readers": "--from", "writers": "--to", "targets": "--target", "executors": "--executor",
           "labelers": "--backend"}


@dataclass(frozen=True)
class Kind:
    name: str
    where: str  # "module:attribute" of the spec
    help: str  # one line: the CLI's help and the docs' tables
    builtin: bool = True
    layouts: tuple[str, ...] = ()  # targets: the --layout values it reads (its class's ``layouts``; a test checks them)

    def load(self) -> Any:
        module, _, attribute = self.where.partition(":")
        return getattr(importlib.import_module(module), attribute)


# Readers, most specific first: auto-detection takes the first format that fits as many sampled records as any.
READERS = (
    Kind("fastchat-judge", "prefkit.readers.fastchat:SPEC", "FastChat llm_judge pairwise judgments, with the question "
         "and answer files of their benchmark folder"),
    Kind("arena-hard", "prefkit.readers.arena_hard:SPEC", "arena-hard-auto judgments of a model against a baseline, "
         "with the question and answer files of their folder"),
    Kind("openai-preference", "prefkit.readers.openai_preference:SPEC", "OpenAI's preference fine-tuning JSONL "
         "(input, preferred_output, non_preferred_output)"),
    Kind("openai-logs", "prefkit.readers.openai_logs:SPEC", "logged OpenAI chat API calls with feedback on their "
         "answers"),
    Kind("oasst", "prefkit.readers.oasst:SPEC", "OpenAssistant message trees, ranked replies become pairs"),
    Kind("hh-rlhf", "prefkit.readers.hh_rlhf:SPEC", "Anthropic HH transcripts (\\n\\nHuman: ... \\n\\nAssistant: ...)"),
    Kind("openai", "prefkit.readers.openai:SPEC", "role/content messages with chosen and rejected answers, tool calls"),
    Kind("sharegpt", "prefkit.readers.sharegpt:SPEC", "LLaMA-Factory's sharegpt layout (ranking and KTO)"),
    Kind("pairwise", "prefkit.readers.pairwise:SPEC", "a prompt, two responses and a verdict (human votes or a judge)"),
    Kind("ratings", "prefkit.readers.ratings:SPEC", "a prompt with several scored completions (UltraFeedback-like)"),
    Kind("alpaca", "prefkit.readers.alpaca:SPEC", "LLaMA-Factory's alpaca layout (ranking and KTO)"),
    Kind("trl", "prefkit.readers.trl:SPEC", "TRL's preference rows (standard or conversational) and unpaired KTO "
         "rows"),
    Kind("kto-rows", "prefkit.readers.kto_rows:SPEC", "unpaired KTO rows whose labelled answer is apart from its "
         "context"),
)
WRITERS = (
    Kind("sharegpt", "prefkit.writers.sharegpt:SharegptWriter", "LLaMA-Factory sharegpt ranking pairs"),
    Kind("alpaca", "prefkit.writers.alpaca:AlpacaWriter", "LLaMA-Factory alpaca ranking pairs"),
    Kind("kto", "prefkit.writers.kto:KtoWriter", "LLaMA-Factory KTO examples (sharegpt with kto_tag)"),
    Kind("unlabeled", "prefkit.writers.unlabeled:UnlabeledWriter", "pairs to label, the input of prefkit label push"),
    Kind("trl", "prefkit.writers.trl:TrlWriter", "TRL preference rows (prompt, chosen, rejected)"),
    Kind("trl-kto", "prefkit.writers.trl:TrlKtoWriter", "TRL unpaired rows (prompt, completion, label)"),
    Kind("lf-v1", "prefkit.writers.lf_v1:LfV1Writer", "LLaMA-Factory v1 pair rows, registered in dataset_info.yaml"),
    Kind("axolotl", "prefkit.writers.axolotl:AxolotlWriter", "axolotl DPO rows (chat_template.default messages)"),
    Kind("axolotl-kto", "prefkit.writers.axolotl:AxolotlKtoWriter", "axolotl KTO rows"),
    Kind("openrlhf", "prefkit.writers.openrlhf:OpenRlhfWriter", "OpenRLHF RewardDataset rows (prompt, chosen, "
         "rejected)"),
)
# Targets: a file given without --target or --layout is each one's that detects it, in this order, catch-all last.
TARGETS = (
    Kind("lf", "prefkit.targets.lf:LlamaFactory", "LLaMA-Factory (dataset_info.json)",
         layouts=("sharegpt", "alpaca", "kto")),
    Kind("lf-v1", "prefkit.targets.lf_v1:LlamaFactoryV1", "LLaMA-Factory's v1 data engine (USE_V1=1)",
         layouts=("lf-v1",)),
    Kind("trl", "prefkit.targets.trl:Trl", "TRL's DPOTrainer and KTOTrainer", layouts=("trl", "trl-kto")),
    Kind("axolotl", "prefkit.targets.axolotl:Axolotl", "axolotl rl: dpo / kto at sequence_len",
         layouts=("axolotl", "axolotl-kto")),
    Kind("openrlhf", "prefkit.targets.openrlhf:OpenRlhf", "OpenRLHF's RewardDataset (train_dpo.py, train_rm.py)",
         layouts=("openrlhf", "openrlhf-rm")),
)
EXECUTORS = (
    Kind("local", "prefkit.pipeline.executors:LocalExecutor", "in this process"),
    Kind("ray", "prefkit.pipeline.executors:RayExecutor", "a Ray cluster (pip install 'prefkit[scale]')"),
)
LABELERS = (
    Kind("argilla", "prefkit.label.backends:ARGILLA", "an Argilla server (ARGILLA_API_URL, ARGILLA_API_KEY)"),
    Kind("label-studio", "prefkit.label.backends:LABEL_STUDIO", "a Label Studio server (LABEL_STUDIO_URL, "
         "LABEL_STUDIO_API_KEY; prefkit label serve starts one)"),
)
BUILTIN = {"readers": READERS, "writers": WRITERS, "targets": TARGETS, "executors": EXECUTORS, "labelers": LABELERS}


@cache
def kinds(group: str) -> tuple[Kind, ...]:
    """The built-in kinds of ``group``, then those that installed packages add (entry points ``prefkit.<group>``)."""
    from importlib.metadata import entry_points

    builtin = BUILTIN[group]
    taken = {k.name for k in builtin}
    added = tuple(Kind(ep.name, ep.value, "", builtin=False) for ep in entry_points(group=f"prefkit.{group}")
                  if ep.name not in taken)
    return builtin + added


class Table(Mapping[str, T]):
    """Name -> the spec of each kind of ``group`` (``make`` applied to it), all loaded on first use, not on import:
    a package's module that a table loads may itself import the module that holds the table."""

    def __init__(self, group: str, make: Callable[[Any], T] = lambda spec: spec) -> None:
        self.group, self.make = group, make
        self.loaded: dict[str, T] | None = None

    def specs(self) -> dict[str, T]:
        if self.loaded is None:
            self.loaded = {kind.name: self.make(kind.load()) for kind in kinds(self.group)}
        return self.loaded

    def __getitem__(self, name: str) -> T:
        return self.specs()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.specs())

    def __len__(self) -> int:
        return len(self.specs())


def names(group: str) -> tuple[str, ...]:
    return tuple(k.name for k in kinds(group))


def find(group: str, name: str) -> Kind:
    """The kind ``name`` of ``group``; a UsageError that lists the choices when there is none."""
    from .errors import UsageError

    for kind in kinds(group):
        if kind.name == name:
            return kind
    raise UsageError(f"unknown {OPTIONS[group]} {name!r}; choose one of {', '.join(names(group))}")


def layouts_help(lead: str = "") -> str:
    """``--layout`` help: the layouts of each target that lists them here (its class is not loaded)."""
    listed = "; ".join(f"{k.name}: {', '.join(k.layouts)}" for k in kinds("targets") if k.layouts)
    return (f"{lead} " if lead else "") + listed + "."


def help_line(group: str, lead: str = "") -> str:
    """``--help`` text that lists each kind with its line (rich markup: brackets escaped)."""
    listed = "; ".join(f"{k.name}: {k.help}" if k.help else k.name for k in kinds(group))
    return (f"{lead} " if lead else "") + listed.replace("[", "\\[") + "."
