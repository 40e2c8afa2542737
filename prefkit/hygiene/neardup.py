"""Near-duplicate pairs: MinHash over word 5-gram shingles, LSH bands tuned to a Jaccard threshold.

The rule (``--near-dedup``, threshold J = 0.8 by default): a pair's text is its system prompt, prompt turns and
both answers (a KTO example: its one answer), normalised as decontamination does (:func:`words`: lowercased,
every non-word character a space, whitespace collapsed) and cut into word 5-grams (a text of fewer than 5 words
is one shingle). Each pair gets a MinHash signature of 128 permutations; its 126 first values form LSH bands
(14 bands of 9 rows for J = 0.8: :func:`bands`). A later pair is a near-duplicate when it shares a band with an
earlier pair and their estimated Jaccard similarity is at least J; it is grouped with the first pair of that
pair's group (``kept``), which is how a chain of near-copies stays one group. A pair with no word at all is
never a near-duplicate.

Per pair, in the per-row map (any process: Ray workers too), a :data:`Signature` of 240 bytes: the 14 band keys
(8 bytes each) and the low byte of each of the 128 minhashes (b-bit MinHash: enough to estimate the Jaccard of
a candidate pair, :func:`jaccard`). The ordered side (:class:`NearDuplicates`) keeps the band keys of every
pair in sorted numpy runs (12 bytes a key) and the 128 low bytes: about 300 bytes a pair, never a text.

Library: rensa (``RMinHash``, 128 independent permutations, Rust), chosen by measurement over datasketch on
100,000 real pair texts (``bench/minhash_libs.py``, blocks of 2,048 pairs, 431 shingles a pair): given the same
5-gram strings rensa signs 25,700 pairs/s, datasketch 2,180 (SHA-1 per shingle, then numpy), rensa's C-MinHash
9,600; each gives byte-identical signatures in processes of different PYTHONHASHSEED (Ray workers sign for the
driver). Making the 5-gram strings in Python costs more than either library (4,650 pairs/s), so the shingles are
hashed here instead, vectorised over a block of texts with numpy (plain integer arithmetic: the same in every
process), and rensa signs the 64-bit hashes (``digest_matrix_from_flat_token_hashes``): 9,700 pairs/s from raw
text, against 3,900 for strings + rensa. A pair given as its parts (system prompt, turns, answers) is hashed a part
at a time, each distinct part once while it stays in a bounded cache (:class:`_Parts`: prompts and system prompts
repeat), its 5-grams then those spanning parts: the same set as the joined text's, so byte-identical signatures
(bench/neardup.py: 2.1 s -> 0.4 s for 30,000 real pairs whose parts repeat).

API (convert uses it in prefkit.pipeline.flow; validate and ``train --eval-split`` may too):

- ``signature(texts, threshold=0.8) -> Signature | None``: one pair's signature (None: no words);
  ``signatures(texts, threshold)`` signs many at once (much faster per pair), each a string or its parts (a list of
  strings, signed as joined by newlines: faster where parts repeat).
- ``NearDuplicates(threshold=0.8)``: ``add(index, signature) -> Duplicate | None`` (in input order; ``Duplicate``
  names ``kept``, the first pair of the group, ``via``, the earlier pair it matched, and ``jaccard``, their
  estimated similarity), ``add_block(indices, signatures)`` the same for many, ``groups() -> list[Group]``
  (``indices``, kept first, ``size`` and ``jaccard``: the lowest estimated Jaccard of a member with the pair it
  matched), ``share`` (the share of the pairs added that are in a group) and ``duplicates`` (how many).
- ``record_texts(record)``: the texts of a PreferencePair, KtoExample or UnlabeledPair that are signed, joined
  with newlines. A signature's band keys depend on the threshold: sign and index with the same one.
- With ``--executor ray``, prefkit.pipeline.near_cluster applies the same rule on the cluster (same rejects).

>>> pairs = ["Write a haiku about the sea at night, please. Waves hum below the moon. The sea sleeps.",
...          "write a haiku about the sea at night please -- Waves hum below the moon; the sea sleeps!",
...          "Write a haiku about the desert at dawn, please. Sand glows under the sun. The dunes wake."]
>>> near = NearDuplicates()
>>> [near.add(i, s) for i, s in enumerate(signatures(pairs))]
[None, Duplicate(kept=0, via=0, jaccard=1.0), None]
>>> [(g.indices, g.size, g.jaccard) for g in near.groups()], round(near.share, 2)
([((0, 1), 2, 1.0)], 0.67)
"""

from __future__ import annotations

import re
import threading
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain

import numpy as np

from ..errors import UsageError
from .decontaminate import words

NUM_PERM, SEED, SHINGLE, THRESHOLD = 128, 1, 5, 0.8
FALSE_NEGATIVE_WEIGHT = 0.9  # candidates are verified by estimated Jaccard: a false positive costs one comparison
LOW = NUM_PERM  # bytes of minhash low bytes at the end of a signature
CHUNK_BYTES = 1 << 18  # texts hashed together (bounds the temporary arrays)

Signature = bytes  # band keys (uint64, little-endian) then the low byte of each minhash

# --- normalisation: words() as bytes, for numpy -----------------------------------------------------------------
_ASCII_BYTES = bytes((ord(chr(i).lower()) if chr(i).isalnum() or chr(i) == "_" else 32) if i < 128 else i
                     for i in range(256))
_NON_ASCII_NON_WORD = re.compile(r"[^\w\x00-\x7f]")
_WORD_CP = np.full(0x110000, -1, dtype=np.int8)  # code point -> 1 a word character, 0 not, -1 not yet known


def normalised(text: str) -> bytes:
    """The text's :func:`words`, UTF-8, separated by one or more spaces.

    >>> text = "It's  a  Test—of (Unicode) naïveté_2!"
    >>> normalised(text).split() == [w.encode() for w in words(text)]
    True
    """
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_BYTES)
    return _NON_ASCII_NON_WORD.sub(" ", text.lower()).encode("utf-8", "surrogatepass").translate(_ASCII_BYTES)


def normalised_block(texts: Sequence[str]) -> tuple[bytes, np.ndarray]:
    """The :func:`normalised` texts joined by spaces, in one buffer, and the byte offset where each starts.

    The same words, though a non-ASCII non-word character becomes as many spaces as its UTF-8 bytes (spaces never
    change a hash): a vectorised pass over the UTF-8 buffer instead of a regex over each text.

    >>> texts = ["Straße, 東京—タワー!", "ok", "naïve_2 (x)"]
    >>> buf, starts = normalised_block(texts)
    >>> [buf[s:e].split() for s, e in zip(starts, [*starts[1:], len(buf)])] == [normalised(t).split() for t in texts]
    True
    """
    parts = [t.encode("ascii") if t.isascii() else t.lower().encode("utf-8", "surrogatepass") for t in texts]
    starts = np.cumsum([0] + [len(p) + 1 for p in parts[:-1]], dtype=np.int64)
    buf = b" ".join(parts)
    if buf.isascii():
        return buf.translate(_ASCII_BYTES), starts
    a = np.frombuffer(buf, dtype=np.uint8).copy()
    lead = np.flatnonzero(a >= 0xC0)  # the first byte of each non-ASCII character
    last = len(a) - 1
    b0, b1, b2, b3 = (a[np.minimum(lead + j, last)].astype(np.uint32) & (0xFF if j == 0 else 0x3F) for j in range(4))
    size = 2 + (b0 >= 0xE0) + (b0 >= 0xF0)  # a lone surrogate too: surrogatepass wrote it as 3 bytes
    point = np.where(size == 2, (b0 & 0x1F) << 6 | b1,
                     np.where(size == 3, (b0 & 0x0F) << 12 | b1 << 6 | b2, (b0 & 0x07) << 18 | b1 << 12 | b2 << 6 | b3))
    other = ~_word_characters(point)
    blank, blank_size = lead[other], size[other]
    for j in range(4):
        a[blank[blank_size > j] + j] = 32
    return a.tobytes().translate(_ASCII_BYTES), starts


def _word_characters(points: np.ndarray) -> np.ndarray:
    """Whether each (non-ASCII) code point is a regex word character, the table filled a 256-point page at a time."""
    known = _WORD_CP[points]
    if (known < 0).any():
        for page in np.unique(points[known < 0] >> 8).tolist():
            chars = "".join(map(chr, range(page << 8, (page + 1) << 8)))
            _WORD_CP[page << 8: (page + 1) << 8] = [_NON_ASCII_NON_WORD.match(c) is None for c in chars]
        known = _WORD_CP[points]
    return known.view(bool)


# --- hashing: plain 64-bit arithmetic, the same in every process ---------------------------------------------------
def _splitmix(seed: int, n: int) -> np.ndarray:
    out = []
    for _ in range(n):
        seed = (seed + 0x9E3779B97F4A7C15) & (2**64 - 1)
        z = seed
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
        out.append(z ^ (z >> 31))
    return np.array(out, dtype=np.uint64)


_BYTE = (_splitmix(1, 256) >> np.uint64(32)).astype(np.uint32)
_BYTE[32] = 0  # a space adds nothing to the word it follows
_P = np.uint32((_splitmix(2, 1)[0] >> np.uint64(32)) | np.uint64(1))
_P_INVERSE = np.uint32(pow(int(_P), -1, 2**32))  # P is odd: invertible modulo 2**32
_SHINGLE_MULT = _splitmix(3, SHINGLE) | np.uint64(1)
_BAND_MULT = _splitmix(4, NUM_PERM) | np.uint64(1)
_BAND_ADD = _splitmix(5, NUM_PERM)
_powers: dict[int, np.ndarray] = {}


def _mix(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser, in place (numpy wraps uint64 arithmetic)."""
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


def _pow(n: int, base: np.uint32 = _P) -> np.ndarray:
    """base**0 .. base**(n-1) (mod 2**32), cached and grown as needed."""
    powers = _powers.get(int(base), np.empty(0, dtype=np.uint32))
    if len(powers) < n:
        size = max(n, 2 * len(powers), 1024)
        powers = np.empty(size, dtype=np.uint32)
        powers[0] = 1
        with np.errstate(over="ignore"):
            np.cumprod(np.full(size - 1, base, dtype=np.uint32), out=powers[1:], dtype=np.uint32)
        _powers[int(base)] = powers
    return powers[:n]


def _word_hashes(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The hash of every space-separated word of the bytes ``a`` and the offset where it starts: the sum, in 64 bits,
    of _BYTE[byte] * P**(its place in the word) mod 2**32, mixed."""
    n = len(a)
    word = a != 32
    starts = np.flatnonzero(word[1:] & ~word[:-1]) + 1
    if n and word[0]:
        starts = np.concatenate(([0], starts))
    if not len(starts):
        return np.empty(0, dtype=np.uint64), starts
    # each byte's place in its word: spaces before the first word and after each word count on (they weigh 0)
    bounds = np.append(starts, n)
    place = np.repeat(starts, np.diff(bounds))
    np.subtract(_arange(n)[starts[0]:], place, out=place)
    x = _BYTE.take(a[starts[0]:])
    x *= _pow(n).take(place)
    total = np.cumsum(x, dtype=np.uint64)  # the word sums: differences of the running total at word ends
    sums = np.diff(total[bounds[1:] - starts[0] - 1], prepend=np.uint64(0))
    return _mix(sums), starts


def _arange(n: int) -> np.ndarray:
    """0 .. n-1 (int64), cached."""
    global _range
    if len(_range) < n:
        _range = np.arange(max(n, 2 * len(_range)), dtype=np.int64)
    return _range[:n]


_range = np.arange(0, dtype=np.int64)


def shingle_hashes(docs: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """The 64-bit hashes of the word 5-grams of normalised texts, all in one array, and how many each text has
    (a text of 1 to 4 words: one shingle of them all; no words: none)."""
    lengths = [len(d) + 1 for d in docs]
    return _block_shingles(b" ".join(docs), np.cumsum([0] + lengths[:-1], dtype=np.int64))


def _block_shingles(buf: bytes, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """shingle_hashes of the texts of ``buf`` (normalised, joined by spaces) that begin at ``starts``."""
    wh, n_words = _block_words(buf, starts)
    sh, doc = _windows(wh, n_words)
    short, short_doc = _short(wh, n_words)
    if len(short):
        order = np.argsort(np.concatenate((doc, short_doc)), kind="stable")
        sh, doc = np.concatenate((sh, short))[order], np.concatenate((doc, short_doc))[order]
    return sh, np.bincount(doc, minlength=len(starts))


def _block_words(buf: bytes, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The hash of every word of the texts of ``buf`` that begin at ``starts``, and how many words each has, hashed
    CHUNK_BYTES of whole texts at a time (bounds the temporary arrays)."""
    if not len(starts):
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    a = np.frombuffer(buf, dtype=np.uint8)
    ends = np.append(starts[1:] - 1, len(a))
    hashes, counts = [], []
    first = 0
    while first < len(starts):
        last = max(first + 1, int(np.searchsorted(ends, starts[first] + CHUNK_BYTES, side="right")))
        begin = int(starts[first])
        wh, word_starts = _word_hashes(a[begin: int(ends[last - 1])])
        hashes.append(wh)
        counts.append(np.diff(np.searchsorted(word_starts, starts[first:last] - begin), append=len(word_starts)))
        first = last
    return np.concatenate(hashes), np.concatenate(counts)


def _windows(wh: np.ndarray, segment_sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The hashes of the runs of 5 words of ``wh`` that lie within one segment (words cut into segments of the given
    sizes), and the segment of each."""
    k = SHINGLE
    if len(wh) < k:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    segment = np.repeat(np.arange(len(segment_sizes)), segment_sizes)
    acc = wh[: len(wh) - k + 1] * _SHINGLE_MULT[0]
    for j in range(1, k):
        acc += wh[j: len(wh) - k + 1 + j] * _SHINGLE_MULT[j]
    whole = segment[: len(wh) - k + 1] == segment[k - 1:]
    return _mix(acc[whole]), segment[: len(wh) - k + 1][whole]


def _short(wh: np.ndarray, n_words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The one shingle of each text of 1 to 4 words (the 5-gram formula cut short), and its text."""
    short = np.flatnonzero((n_words > 0) & (n_words < SHINGLE))
    if not len(short):
        return np.empty(0, dtype=np.uint64), short
    first = (np.cumsum(n_words) - n_words)[short]
    place = _arange(int(n_words[short].sum())) - np.repeat(np.cumsum(n_words[short]) - n_words[short], n_words[short])
    terms = wh[np.repeat(first, n_words[short]) + place] * _SHINGLE_MULT[place]
    return _mix(np.add.reduceat(terms, np.cumsum(n_words[short]) - n_words[short])), short


# --- the parts of a pair, cached: prompts and system prompts repeat across pairs -----------------------------------
EDGE = 2 * (SHINGLE - 1)  # a part's words that a 5-gram spanning parts can hold: its first 4 and its last 4
CACHE_SHINGLES = 1 << 21  # the part cache is emptied past this many 5-gram hashes (16 MB) ...
CACHE_CHARS = 1 << 23  # ... or this many characters of parts (its keys)
SIGN_BLOCK = 4096  # texts signed together (bounds the temporary arrays)


class _Parts:
    """Each distinct part (a system prompt, a turn, an answer) signed lately: the hashes of the 5-grams within it, in
    one flat store, and its edge words (all of them if fewer than 8, else its first 4 and last 4), from which the
    5-grams that span parts are made. A text's 5-grams are its parts' own and those spanning them: the same set as
    the joined text's, so the same MinHash (order and repeats do not change a minimum)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        self.slots: dict[str, int] = {}  # part -> its slot
        self.chars = self.used = 0  # characters held as keys; 5-gram hashes held in the store
        self.store = np.empty(1 << 16, dtype=np.uint64)  # the 5-gram hashes, used first, then room
        self.first = np.empty(0, dtype=np.int64)  # slot -> where its 5-grams start in the store
        self.count = np.empty(0, dtype=np.int64)  # slot -> how many 5-grams
        self.words = np.empty(0, dtype=np.int64)  # slot -> how many words
        self.edge = np.empty((0, EDGE), dtype=np.uint64)  # slot -> its edge words (zeros after the last)

    def rows(self, texts: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """The 5-gram hashes of each text (its parts joined by newlines), in one array, and where each text's begin
        (len(texts) + 1 offsets)."""
        with self.lock:
            if self.used > CACHE_SHINGLES or self.chars > CACHE_CHARS:
                self.clear()
            slots = self._slots([part for parts in texts for part in parts])
            return self._assemble(slots, np.array([len(parts) for parts in texts], dtype=np.int64))

    def _slots(self, parts: list[str]) -> np.ndarray:
        """The slot of each part, the parts not yet seen hashed and added."""
        found = list(map(self.slots.get, parts))
        new: dict[str, int] = {}
        for i in [i for i, slot in enumerate(found) if slot is None]:
            found[i] = new.setdefault(parts[i], len(self.slots) + len(new))
        if new:
            self._add(list(new))
            self.slots.update(new)
            self.chars += sum(map(len, new))
        return np.array(found, dtype=np.int64)

    def _add(self, parts: list[str]) -> None:
        wh, n_words = _block_words(*normalised_block(parts))
        sh, part = _windows(wh, n_words)
        count = np.bincount(part, minlength=len(parts))
        self._grow(len(sh))
        self.store[self.used: self.used + len(sh)] = sh
        self.first = np.concatenate((self.first, self.used + np.cumsum(count) - count))
        self.count = np.concatenate((self.count, count))
        self.words = np.concatenate((self.words, n_words))
        self.edge = np.concatenate((self.edge, _edges(wh, n_words)))
        self.used += len(sh)

    def _grow(self, extra: int) -> None:
        if self.used + extra > len(self.store):
            store = np.empty(max(self.used + extra, 2 * len(self.store)), dtype=np.uint64)
            store[: self.used] = self.store[: self.used]
            self.store = store

    def _assemble(self, slots: np.ndarray, n_parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each text's row: its parts' 5-grams (from the store), then those spanning parts and a short text's one
        shingle (written after the store's used end, for one gather)."""
        n_texts = len(n_parts)
        extra, extra_text = _spanning(self.edge[slots], self.words[slots], np.repeat(np.arange(n_texts), n_parts),
                                      n_texts)
        extra_count = np.bincount(extra_text, minlength=n_texts)
        self._grow(len(extra))
        self.store[self.used: self.used + len(extra)] = extra
        # segments in row order: text t's parts, then its extra shingles
        at_part = np.arange(len(slots)) + np.repeat(np.arange(n_texts), n_parts)
        at_extra = np.cumsum(n_parts) + np.arange(n_texts)
        length = np.empty(len(slots) + n_texts, dtype=np.int64)
        source = np.empty(len(slots) + n_texts, dtype=np.int64)
        length[at_part], source[at_part] = self.count[slots], self.first[slots]
        length[at_extra], source[at_extra] = extra_count, self.used + np.cumsum(extra_count) - extra_count
        offsets = np.concatenate(([0], np.cumsum(length)))
        index = np.repeat(source - offsets[:-1], length) + _arange(int(offsets[-1]))
        return self.store.take(index), offsets[np.concatenate(([0], at_extra + 1))]


def _edges(wh: np.ndarray, n_words: np.ndarray) -> np.ndarray:
    """Per text, its words if fewer than 8, else its first 4 and last 4 (zeros after the last)."""
    j = np.arange(EDGE)
    long = (n_words >= EDGE)[:, None] & (j >= EDGE // 2)
    at = (np.cumsum(n_words) - n_words)[:, None] + np.where(long, n_words[:, None] - EDGE + j, j)
    kept = j < np.minimum(n_words, EDGE)[:, None]
    return np.where(kept, wh[np.minimum(at, len(wh) - 1)] if len(wh) else 0, np.uint64(0))


def _spanning(edge: np.ndarray, n_words: np.ndarray, text: np.ndarray, n_texts: int) -> tuple[np.ndarray, np.ndarray]:
    """From the edge words of each text's parts (in order): the 5-grams that span parts, and the one shingle of a
    text of 1 to 4 words, with the text of each, in text order. A 5-gram within one part may come again (harmless)."""
    kept = np.minimum(n_words, EDGE)
    mask = np.arange(EDGE) < kept[:, None]
    words, word_text = edge[mask], np.repeat(text, kept)
    # a run of words ends at each text's end and between a long part's first 4 and last 4 words
    start = ((n_words >= EDGE)[:, None] & (np.arange(EDGE) == EDGE // 2))[mask]
    start[1:] |= word_text[1:] != word_text[:-1]
    start[:1] = True
    starts = np.flatnonzero(start)
    sh, run = _windows(words, np.diff(np.append(starts, len(words))))
    # fewer than 5 edge words: a text of fewer than 5 words, all of them edge words
    short, short_text = _short(words, np.bincount(word_text, minlength=n_texts))
    extra, extra_text = np.concatenate((sh, short)), np.concatenate((word_text[starts][run], short_text))
    order = np.argsort(extra_text, kind="stable")
    return extra[order], extra_text[order]


# --- LSH bands ----------------------------------------------------------------------------------------------------
def _mass(b: np.ndarray, r: np.ndarray, low: float, high: float, candidate: bool, steps: int = 64) -> np.ndarray:
    """For each (b, r): the integral over [low, high] of the probability that two texts of that Jaccard share at least
    one of b bands of r rows (``candidate``), or that they do not (midpoint rule)."""
    h = (high - low) / steps
    s = low + (np.arange(steps) + 0.5) * h
    p = 1 - (1 - s ** r[:, None]) ** b[:, None]
    return h * (p if candidate else 1 - p).sum(axis=1)


@lru_cache(maxsize=8)
def bands(threshold: float = THRESHOLD, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows) minimising 0.1 x the false positive + 0.9 x the false negative probability mass around
    ``threshold`` (datasketch's ``_optimal_param``, weighted towards recall: candidates are verified).

    >>> bands(0.8), bands(0.7), bands(0.9)
    ((14, 9), (20, 6), (8, 16))
    """
    pairs = [(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)]
    b, r = np.array(pairs, dtype=np.float64).T
    error = ((1 - FALSE_NEGATIVE_WEIGHT) * _mass(b, r, 0.0, threshold, True)
             + FALSE_NEGATIVE_WEIGHT * _mass(b, r, threshold, 1.0, False))
    return pairs[int(np.argmin(error))]


def check_threshold(threshold: float) -> float:
    if not 0 < threshold <= 1:
        raise UsageError(f"--near-threshold {threshold}: give a Jaccard similarity above 0 and at most 1 (default 0.8)")
    return threshold


# --- signatures ---------------------------------------------------------------------------------------------------
Text = str | Sequence[str]  # a pair's text, or its parts (system prompt, turns, answers) to be joined by newlines
_PARTS = _Parts()


def signatures(texts: Sequence[Text], threshold: float = THRESHOLD) -> list[Signature | None]:
    """The signature of each text (None for a text without words). A text given as its parts signs as the parts
    joined by newlines, faster where parts repeat (each distinct part is hashed once, while it stays cached)."""
    b, r = bands(check_threshold(threshold))
    out: list[Signature | None] = []
    for first in range(0, len(texts), SIGN_BLOCK):
        block = [[t] if isinstance(t, str) else t for t in texts[first:first + SIGN_BLOCK]]
        tokens, offsets = _PARTS.rows(block)
        minhashes = _minhashes(tokens, offsets).astype(np.uint64)
        keyed = minhashes[:, : b * r] * _BAND_MULT[: b * r] + _BAND_ADD[: b * r]
        keys = _mix(keyed.reshape(len(block), b, r).sum(axis=2, dtype=np.uint64))
        rows = np.concatenate((keys.astype("<u8").view(np.uint8), (minhashes & np.uint64(0xFF)).astype(np.uint8)), axis=1)
        out += [row.tobytes() if n else None for row, n in zip(rows, np.diff(offsets).tolist())]
    return out


def _minhashes(tokens: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """rensa's 128 minhashes of each row of token hashes (uint32, rows x NUM_PERM)."""
    from rensa import RMinHash

    matrix = RMinHash.digest_matrix_from_flat_token_hashes(tokens, offsets.astype(np.uint64), NUM_PERM, SEED)
    flat = array("I", chain.from_iterable(matrix.to_rows()))  # the matrix has no buffer: its rows as one array
    return np.frombuffer(flat, dtype=np.uint32).reshape(len(offsets) - 1, NUM_PERM)


def signature(texts: Iterable[str], threshold: float = THRESHOLD) -> Signature | None:
    """One pair's signature: its texts (prompt turns, answers) joined."""
    return signatures(["\n".join(texts)], threshold)[0]


def jaccard(a: Signature, b: Signature) -> float:
    """The estimated Jaccard similarity of two signatures' texts (b-bit MinHash, 8 bits: a chance match of the
    low bytes, 1 in 256, is taken out).

    >>> s = signatures(["a b c d e f g h", "a b c d e f g x", "q r s t u v w"])
    >>> jaccard(s[0], s[0]), abs(jaccard(s[0], s[1]) - 3 / 5) < 0.15, jaccard(s[0], s[2]) < 0.1  # 3 of 5 shingles shared
    (1.0, True, True)
    """
    return estimate(int(np.count_nonzero(np.frombuffer(a, np.uint8, LOW, len(a) - LOW) ==
                                         np.frombuffer(b, np.uint8, LOW, len(b) - LOW))))


def estimate(same: int) -> float:
    """The estimated Jaccard of two signatures whose low bytes agree in ``same`` of 128 places."""
    return max(0.0, round((same / LOW - 1 / 256) / (1 - 1 / 256), 4))


# --- the ordered side -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Duplicate:
    kept: int  # the first record of the group
    via: int  # the earlier record this one matched (kept, or a near-duplicate of it)
    jaccard: float  # estimated, between this record and ``via``


@dataclass(frozen=True, slots=True)
class Group:
    indices: tuple[int, ...]  # the kept record first, then its near-duplicates in input order
    jaccard: float  # the lowest estimated Jaccard of a member with the record it matched

    @property
    def size(self) -> int:
        return len(self.indices)


class NearDuplicates:
    """Records' signatures in input order -> which are near-duplicates of an earlier record, and the groups.

    Holds, per record, its band keys in sorted runs (8-byte key, 4-byte position), its 128 minhash low bytes and
    its index; per near-duplicate, its group.
    """

    def __init__(self, threshold: float = THRESHOLD) -> None:
        self.threshold = check_threshold(threshold)
        self.bands = bands(threshold)[0]
        self._need = next((n for n in range(LOW + 1) if estimate(n) >= threshold), LOW + 1)  # low bytes alike
        self._index = array("q")  # position -> the caller's index
        self._low = bytearray()  # position -> 128 low bytes
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted band keys, position of their first record)
        self._root: dict[int, int] = {}  # a near-duplicate's position -> its group's first position
        self._members: dict[int, list[tuple[int, float]]] = {}  # first position -> [(position, jaccard)]

    @property
    def added(self) -> int:
        return len(self._index)

    @property
    def duplicates(self) -> int:
        return len(self._root)

    @property
    def share(self) -> float:
        """The share of the records added that are in a group (kept ones included)."""
        return (len(self._root) + len(self._members)) / self.added if self.added else 0.0

    def add(self, index: int, signature: Signature | None) -> Duplicate | None:
        return self.add_block([index], [signature])[0]

    def add_block(self, indices: Sequence[int], signatures: Sequence[Signature | None]) -> list[Duplicate | None]:
        """Add records in input order; for each, the Duplicate it is or None (also for a record without words)."""
        out: list[Duplicate | None] = [None] * len(indices)
        given = [i for i, s in enumerate(signatures) if s is not None]
        if not given:
            return out
        b, base = self.bands, self.added
        rows = np.frombuffer(b"".join(signatures[i] for i in given), dtype=np.uint8).reshape(len(given), -1)  # type: ignore[misc]
        if rows.shape[1] != 8 * b + LOW:
            raise ValueError(f"a signature of {rows.shape[1]} bytes: this index takes {8 * b + LOW} (threshold {self.threshold})")
        keys = rows[:, : 8 * b].copy().view("<u8").ravel()
        positions = base + np.arange(len(given))
        earlier = self._lookup(keys)
        unique, first_at, inverse = np.unique(keys, return_index=True, return_inverse=True)
        first = np.where(earlier >= 0, earlier, positions[first_at // b][inverse]).reshape(len(given), b)
        self._index.extend(indices[i] for i in given)
        self._low += rows[:, 8 * b:].tobytes()
        new = earlier[first_at] < 0
        self._add_run(unique[new], positions[first_at[new] // b])
        row, column = np.nonzero(first < positions[:, None])  # an earlier record shares this band
        pairs = np.unique(row.astype(np.int64) << 32 | first[row, column])  # by row, then candidate, once each
        row, candidate = pairs >> 32, pairs & 0xFFFFFFFF
        same = self._same(row + base, candidate)
        # the first candidate (in input order) whose estimated Jaccard reaches the threshold
        passing = np.flatnonzero(same >= self._need)
        _, first_passing = np.unique(row[passing], return_index=True)
        for i in passing[first_passing].tolist():
            out[given[int(row[i])]] = self._join(int(row[i]) + base, int(candidate[i]), estimate(int(same[i])))
        return out

    def _same(self, positions: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """In how many of the 128 low bytes each record agrees with its candidate."""
        low = np.frombuffer(self._low, dtype=np.uint8).reshape(-1, LOW)
        same = np.count_nonzero(low[positions] == low[candidates], axis=1)
        del low  # a view of the bytearray would block its growth
        return same

    def _join(self, position: int, candidate: int, similarity: float) -> Duplicate:
        """The record at ``position`` joins the group of ``candidate``, an earlier record."""
        root = self._root.get(candidate, candidate)
        self._root[position] = root
        self._members.setdefault(root, []).append((position, similarity))
        return Duplicate(self._index[root], self._index[candidate], similarity)

    def _lookup(self, keys: np.ndarray) -> np.ndarray:
        """The position of the first record with each key, or -1."""
        found = np.full(len(keys), -1, dtype=np.int64)
        for run_keys, run_positions in self._runs:
            at = np.minimum(np.searchsorted(run_keys, keys), len(run_keys) - 1)
            hit = run_keys[at] == keys
            found[hit] = run_positions[at[hit]]
        return found

    def _add_run(self, keys: np.ndarray, positions: np.ndarray) -> None:
        """Keys arrive sorted and new; runs of similar size merge (few runs to search, each key moved log n times)."""
        if not len(keys):
            return
        self._runs.append((keys, positions.astype(np.uint32)))
        while len(self._runs) > 1 and len(self._runs[-2][0]) <= 2 * len(self._runs[-1][0]):
            (k1, p1), (k2, p2) = self._runs.pop(), self._runs.pop()
            merged = np.concatenate((k2, k1))
            order = np.argsort(merged, kind="stable")
            self._runs.append((merged[order], np.concatenate((p2, p1))[order]))

    def groups(self) -> list[Group]:
        """The groups of near-duplicates, in the order of their kept record."""
        return [Group((self._index[root], *(self._index[p] for p, _ in members)), min(j for _, j in members))
                for root, members in sorted(self._members.items())]

    def memory_bytes(self) -> int:
        """What the index holds: band keys and positions, low bytes, indices (groups not counted)."""
        return sum(k.nbytes + p.nbytes for k, p in self._runs) + len(self._low) + self._index.itemsize * len(self._index)


ANSWERS = ("chosen", "rejected", "completion", "response_a", "response_b")


def record_texts(record: object) -> list[str]:
    """The texts of a pair (or KTO example, or pair to label) that near-duplicate detection reads: system prompt,
    prompt turns and answers (read from the record's fields: a missing attribute costs a pydantic exception)."""
    fields = vars(record)
    texts = [fields["system"]] if fields.get("system") else []
    texts += [m.content for m in fields["prompt"]]
    texts += [fields[name].content for name in ANSWERS if fields.get(name) is not None]
    return texts + list(fields.get("images", ()))  # the same words about other images are another pair


__all__ = ["NUM_PERM", "THRESHOLD", "Duplicate", "Group", "NearDuplicates", "Signature", "bands", "jaccard",
           "record_texts", "signature", "signatures", "words"]
