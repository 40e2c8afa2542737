"""What the commands share: consoles, progress, report output."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from ..errors import UsageError
from ..kinds import help_line

if TYPE_CHECKING:
    from ..hygiene import Decontaminator

err_console = Console(stderr=True)


# Help texts are rich markup: a bracket that reads as a tag ("[scale]", "[@REVISION]") is escaped as "\\[".
FROM_HELP = help_line("readers", "Input format: auto (the first that fits the first records, in this order), or")
EXECUTOR = typer.Option("local", "--executor", help=help_line("executors", "Where the per-record work runs (same "
                                                                 "results either way):"))
WORKERS = typer.Option(None, "--workers", min=1, help="With --executor ray: worker processes (default: the cluster's CPUs).")
RAY_ADDRESS = typer.Option(None, "--ray-address", help="With --executor ray: an existing cluster (default: start a "
                           "local one on 127.0.0.1 and stop it after).")


def decontaminate_option(does: str) -> typer.models.OptionInfo:
    """--decontaminate, with the rule in its help; ``does``: what the command does with a contaminated record."""
    return typer.Option(None, "--decontaminate", help="SPEC,SPEC...: benchmarks to look for in the records: mt-bench "
                        "(both turns), arena-hard (v0.1), arena-hard-v2, ifeval, or a JSON/JSONL file of items (text in "
                        "prompt, instruction, question or turns, joined). Texts are lowercased, every non-word character "
                        "becomes a space, whitespace collapses; a record holds an item when its user turns (all of them) "
                        "contain at least 50% of the item's word 8-grams, or, for an item under 8 words, when its user "
                        f"text equals the item (--ngram and --overlap change 8 and 50%). {does}")


NGRAM_OPTION = typer.Option(None, "--ngram", min=1, help="With --decontaminate: n-gram length in words (default 8; datatrove "
                     "uses 12, lm-eval 13).")
OVERLAP_OPTION = typer.Option(None, "--overlap", min=0.0, max=1.0, help="With --decontaminate: share of an item's n-grams "
                       "that makes a match (default 0.5).")
DECONTAMINATE_ANSWERS = typer.Option(False, "--decontaminate-answers", help="With --decontaminate: check the answers "
                                     "too (chosen and rejected, or the KTO completion), each on its own.")


def decontaminator(spec: str | None, ngram: int | None, overlap: float | None, answers: bool) -> Decontaminator | None:
    """The Decontaminator of the --decontaminate options (None without --decontaminate)."""
    if spec is None:
        if ngram is not None or overlap is not None or answers:
            raise UsageError("--ngram, --overlap and --decontaminate-answers go with --decontaminate")
        return None
    from ..hygiene import NGRAM, OVERLAP, load

    return load(spec, ngram or NGRAM, OVERLAP if overlap is None else overlap, answers)


def near_dedup_option(does: str) -> typer.models.OptionInfo:
    """--near-dedup, with the rule in its help; ``does``: what the command does with a near-duplicate."""
    return typer.Option(False, "--near-dedup", help="Find near-duplicate pairs: each pair's system prompt, prompt "
                        "turns and answers, normalised as for --decontaminate, cut into word 5-grams; a MinHash of 128 "
                        "permutations per pair, LSH bands tuned to the threshold (14 bands of 9 rows for 0.8); a pair is "
                        "a near-duplicate of an earlier one when they share a band and their estimated Jaccard "
                        f"similarity is at least --near-threshold (default 0.8); it joins that pair's group. {does}")


NEAR_THRESHOLD = typer.Option(None, "--near-threshold", help="With --near-dedup: the estimated Jaccard similarity of "
                              "word 5-grams that makes a near-duplicate (above 0, at most 1; default 0.8).")


def near_threshold(near_dedup: bool, threshold: float | None) -> float:
    """The threshold of the --near-dedup options (--near-threshold alone is a usage error)."""
    from ..hygiene.neardup import THRESHOLD, check_threshold

    if threshold is not None and not near_dedup:
        raise UsageError("--near-threshold goes with --near-dedup")
    return check_threshold(THRESHOLD if threshold is None else threshold)


TIMEOUT = typer.Option(120.0, "--timeout", min=1.0, help="Seconds one attempt of a request may take, whole (a "
                       "reply still coming after it is cut off and retried).")
RETRIES = typer.Option(4, "--retries", min=0, help="Retries of a request after a 429 (waiting its Retry-After), a "
                       "5xx, a timeout or a lost connection, with exponential backoff.")


# Options that take several KEY=VALUE words after one flag: `--map a=b c=d` means `--map a=b --map c=d`.
# True when prefkit's own main() runs this process, so that a command may shape it (not under a test's CliRunner).
OWN_PROCESS = False
QUIET = typer.Option(False, "--quiet", "-q", help="No summary on stderr.")
REPORT_JSON = typer.Option(None, "--report-json", help="Write the machine-readable report here (JSON).")
CONCURRENCY = typer.Option(8, "--concurrency", min=1, help="Requests in flight.")
MULTI_VALUE = ("--map", "--verdict", "--set")
_KEY_VALUE = re.compile(r"[A-Za-z_][\w.-]*=")
# Options whose value may be left out: `--preview` alone means `--preview 3`.
OPTIONAL_VALUE = {"--preview": "3"}


def spread_multi_values(args: list[str]) -> list[str]:
    """Repeat a MULTI_VALUE flag before each further KEY=VALUE word that follows it (a word that is
    an existing path stays an input file), and give an OPTIONAL_VALUE flag its default when no number follows."""
    given = []
    for i, arg in enumerate(args):
        given.append(arg)
        if arg in OPTIONAL_VALUE and not (i + 1 < len(args) and args[i + 1].isdigit()):
            given.append(OPTIONAL_VALUE[arg])
    args = given
    out: list[str] = []
    flag = None
    for arg in args:
        if arg.split("=", 1)[0] in MULTI_VALUE:
            flag = arg.split("=", 1)[0]
        elif flag and out[-1] == flag:
            pass  # the flag's own value
        elif flag and _KEY_VALUE.match(arg) and not os.path.exists(arg):
            out.append(flag)
        else:
            flag = None  # any other word ends the flag's values
        out.append(arg)
    return out


MAP_HELP = ("FIELD=COLUMN [FIELD=COLUMN ...]: which input key holds a field, e.g. --map prompt=question "
            "verdict=pref. A dotted COLUMN reaches a nested key (prompt=input.messages, score_a=metadata.score_chosen; "
            "a key holding a literal dot is read as written first); COLUMN matches case-insensitively when only one "
            "column does (response_A). Without it a pairwise verdict is read from verdict, winner, preference, label, "
            "votes (a list) or annotator<N> columns.")


def parse_pairs(values: list[str] | None, option: str) -> dict[str, str]:
    """``["a=b", "c=d"]`` -> ``{"a": "b", "c": "d"}`` (for --map)."""
    out: dict[str, str] = {}
    for value in values or []:
        key, sep, target = value.partition("=")
        if not sep or not key or not target:
            raise UsageError(f"{option} {value!r}: expected FIELD=COLUMN")
        out[key.strip()] = target.strip()
    return out


class Ticker:
    """A progress line's counter: called with the records done so far; ``phase`` names the step under way."""

    def __init__(self, bar: Any = None, task: Any = None, label: str = "") -> None:
        self.bar, self.task, self.label = bar, task, label

    def __call__(self, done: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done)

    def phase(self, label: str | None) -> None:
        """Show ``label`` in place of the line's own (None: its own again)."""
        if self.bar is not None:
            self.bar.update(self.task, description=label or self.label)


@contextmanager
def progress(label: str, quiet: bool) -> Iterator[Ticker]:
    """A counting progress line on stderr (only on a terminal and without --quiet)."""
    if quiet or not err_console.is_terminal:
        yield Ticker()
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed:,} records"),
                  TimeElapsedColumn(), console=err_console, transient=True) as bar:
        yield Ticker(bar, bar.add_task(label, total=None), label)


@contextmanager
def bar(label: str, quiet: bool) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr for work of known size: call it with (done, total)."""
    if quiet or not err_console.is_terminal:
        yield lambda done, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err_console,
                  transient=True) as progress_bar:
        task = progress_bar.add_task(label, total=None)
        yield lambda done, total: progress_bar.update(task, completed=done, total=total)
