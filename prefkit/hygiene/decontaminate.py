"""Benchmark decontamination: which records hold a benchmark item, by word n-gram overlap.

The rule: texts are lowercased, every non-word character becomes a space and whitespace is collapsed. A record
holds a benchmark item when at least ``overlap`` (50%) of the item's distinct word ``ngram``-grams (8) occur in
the record's user turns (all of them, joined); an item shorter than ``ngram`` words matches only a record whose
normalised user text equals it (open-instruct's rule). With ``answers`` the answers (chosen and rejected, or a
KTO completion) are checked too, each on its own.

N-grams are held as hashes only: Python's ``hash`` of the tuple of words, 64 bits. That hash is seeded per
process, so the index is built in the process that matches (a Ray worker builds its own: :meth:`Decontaminator.index`)
and no hash ever travels; local and Ray runs find the same items.

>>> d = Decontaminator([Item("demo", "1", "Write a haiku about the sea at night, please, in English.")])
>>> [(m.item.name, m.share) for m in d.matches(["Hi!", "WRITE a haiku about the sea at night -- please -- in French"])]
[('demo:1', 0.75)]
>>> d.matches(["Write a haiku about mountains at night, please, in French."])
[]
"""

from __future__ import annotations

import math
import re
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from .sets import BUILTIN, Item, load_items

if TYPE_CHECKING:  # the records (pydantic) load only where convert screens one: validate's checks stay light
    from ..records import KtoExample, PreferencePair, Reject, UnlabeledPair

_WORD = re.compile(r"\w+")  # a run of word characters: what is left when \W becomes a space and spaces collapse
# The same for ASCII text, in one pass (twice as fast): A-Z lowercased, every other non-word character a space.
_ASCII = str.maketrans({i: c.lower() if c.isalnum() or c == "_" else " " for i, c in enumerate(map(chr, range(128)))})
NGRAM, OVERLAP = 8, 0.5


def words(text: str) -> list[str]:
    """The normalised words of a text.

    >>> words("It's  a  Test—of (Unicode) naïveté_2!")
    ['it', 's', 'a', 'test', 'of', 'unicode', 'naïveté_2']
    """
    return text.translate(_ASCII).split() if text.isascii() else _WORD.findall(text.lower())


def grams(tokens: Sequence[str], n: int) -> Iterator[int]:
    """The hashes of a word list's n-grams (all in C: this runs on every record)."""
    return map(hash, zip(*map(tokens.__getitem__, _SLICES[n] if n < len(_SLICES) else _slices(n))))


def _slices(n: int) -> list[slice]:
    return [slice(i, None) for i in range(n)]


_SLICES = [_slices(n) for n in range(33)]


@dataclass(frozen=True, slots=True)
class Match:
    item: Item
    share: float  # of the item's n-grams found in the record (1.0 for a short item's equality)
    equal: bool = False  # a short item, equal to the record's text


class _Index:
    """Item n-gram hashes -> item positions, each item's n-gram count and the hits it needs; short items by text."""

    def __init__(self, items: Sequence[Item], n: int, overlap: float) -> None:
        self.grams: dict[int, list[int]] = {}
        self.size: list[int] = []
        self.need: list[int] = []
        self.short: dict[str, list[int]] = {}
        for i, item in enumerate(items):
            tokens = words(item.text)
            hashes = set(grams(tokens, n))
            if tokens and not hashes:
                self.short.setdefault(" ".join(tokens), []).append(i)
            for h in hashes:
                self.grams.setdefault(h, []).append(i)
            self.size.append(len(hashes))
            self.need.append(math.ceil(round(overlap * len(hashes), 9)))  # 50% of 101 n-grams: 51


class Decontaminator:
    """Benchmark items and the rule. Picklable: it travels with the per-row map to any executor, without its index."""

    def __init__(self, items: Sequence[Item], ngram: int = NGRAM, overlap: float = OVERLAP, answers: bool = False,
                 files: Sequence[str] = ()) -> None:
        if ngram < 1:
            raise UsageError(f"--ngram {ngram}: give 1 or more")
        if not 0 < overlap <= 1:
            raise UsageError(f"--overlap {overlap}: give a share above 0 and at most 1 (0.5 is half of an item's n-grams)")
        self.items, self.ngram, self.overlap, self.answers = list(items), ngram, overlap, answers
        self.benchmarks = list(dict.fromkeys(item.benchmark for item in self.items))  # in the order given
        self.files = list(files)  # the user's item files: inputs of the run, which no output may replace
        self._index: _Index | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_index": None}  # hashes are per process: each process builds its own index

    @property
    def index(self) -> _Index:
        if self._index is None:
            self._index = _Index(self.items, self.ngram, self.overlap)
        return self._index

    def matches(self, user: Sequence[str], answers: Sequence[str] = ()) -> list[Match]:
        """The items a record holds, best first: ``user`` its user turns, ``answers`` its answers (checked with
        ``self.answers``). Runs on every record: kept lean."""
        index, n = self.index, self.ngram
        texts = [words(user[0] if len(user) == 1 else "\n".join(user))] + \
            ([words(a) for a in answers] if self.answers else [])
        found: dict[int, Match] = {}
        hits: list[int] = []
        for tokens in texts:
            if len(tokens) < n:  # no n-grams, but it may equal a short item
                found |= {i: Match(self.items[i], 1.0, True) for i in index.short.get(" ".join(tokens), ())}
            else:  # the item n-grams among the text's, without a set of them all
                hits += index.grams.keys() & grams(tokens, n)
        if hits:
            counts = Counter(i for h in set(hits) for i in index.grams[h])
            found |= {i: Match(self.items[i], k / index.size[i]) for i, k in counts.items() if k >= index.need[i]}
        return [found[i] for i in sorted(found, key=lambda i: (-found[i].share, i))] if found else []

    def describe(self, found: list[Match]) -> str:
        """A reject's message or a finding's: the best match, and how many more."""
        best = found[0]
        where = "user turns" + (" or answers" if self.answers else "")
        what = (f"the normalised {where} equal {best.item.name}" if best.equal else
                f"the {where} hold {best.share:.0%} of the word {self.ngram}-grams of {best.item.name}")
        more = f"; also {', '.join(m.item.name for m in found[1:4])}" + (" ..." if len(found) > 4 else "") \
            if len(found) > 1 else ""
        return f"benchmark contamination: {what}{more}"

    def screen(self, record: PreferencePair | KtoExample | UnlabeledPair) -> list[Reject]:
        """The ``contaminated`` rejects of a record (one per input record it stands for), or none. The detail
        names every item it holds (``mt-bench:81 ifeval:1000``), best first."""
        from ..records import Reject

        user = [m.content for m in record.prompt if m.role == "user"]
        found = self.matches(user, record_answers(record) if self.answers else ())
        if not found:
            return []
        p = record.provenance
        message, detail, data = self.describe(found), " ".join(m.item.name for m in found), record.model_dump(mode="json")
        return [Reject(p.source, i, "contaminated", message, data, p.line if i == p.index else None, detail)
                for i in (p.index, *p.merged)]

    def counts(self, details: dict[str, int]) -> dict[str, int]:
        """{benchmark: records} from the rejects' details ({detail: count}); every benchmark checked is listed."""
        out = dict.fromkeys(self.benchmarks, 0)
        benchmark = {item.name: item.benchmark for item in self.items}
        for detail, n in details.items():
            for name in {benchmark[name] for name in detail.split()}:
                out[name] += n
        return out


def check_aligned(decontaminator: Decontaminator, result: Any, aligned: Any) -> None:
    """validate's check of one row (a RowCheck, and the Aligned row the trainer would train on): a ``contaminated``
    error and the benchmarks of the items it holds."""
    text = lambda m: m["content"] if isinstance(m["content"], str) else ""  # noqa: E731
    found = decontaminator.matches([text(m) for m in aligned.prompt if m["role"] == "user"],
                                   [text(m) for m in aligned.response])
    if found:
        result.add("contaminated", "error", "", decontaminator.describe(found))
        result.contaminated = tuple(dict.fromkeys(m.item.benchmark for m in found))


def record_answers(record: PreferencePair | KtoExample | UnlabeledPair) -> list[str]:
    from ..records import KtoExample, PreferencePair

    if isinstance(record, PreferencePair):
        return [record.chosen.content, record.rejected.content]
    if isinstance(record, KtoExample):
        return [record.completion.content]
    return [record.response_a.content, record.response_b.content]


def load(specs: str | Sequence[str], ngram: int = NGRAM, overlap: float = OVERLAP, answers: bool = False) -> Decontaminator:
    """A Decontaminator for ``--decontaminate SPEC[,SPEC...]``: built-in set names or JSON/JSONL files. A SPEC none of
    whose items has a word to match is a UsageError naming it; items without words are skipped, and said so."""
    names = [s.strip() for s in (specs.split(",") if isinstance(specs, str) else specs) if s.strip()]
    if not names:
        raise UsageError("--decontaminate: give a built-in set name or a file")
    specs = list(dict.fromkeys(names))
    items: list[Item] = []
    for spec in specs:
        items += usable_items(spec, load_items(spec))
    return Decontaminator(items, ngram, overlap, answers, [spec for spec in specs if spec not in BUILTIN])


def usable_items(spec: str, items: list[Item]) -> list[Item]:
    """The items of ``spec`` that have a word to match; none is a UsageError, some without is a notice on stderr
    (an item without words would never match anything: checking it would check nothing)."""
    usable = [item for item in items if words(item.text)]
    if not usable:
        what = f"all {len(items)} of its items are empty (no words)" if items else "it holds no items"
        raise UsageError(f"--decontaminate {spec}: {what}, so nothing would be checked; give items with text in "
                         "prompt, instruction, question or turns")
    if len(usable) < len(items):
        print(f"prefkit: --decontaminate {spec}: {len(items) - len(usable)} of {len(items)} items are empty (no words) "
              f"and skipped; checking {len(usable)}", file=sys.stderr)
    return usable
