"""Choose the MinHash library for ``--near-dedup`` by measurement: datasketch or rensa.

    .venv/bin/pip install datasketch  # the candidate prefkit does not depend on
    .venv/bin/python bench/minhash_libs.py [--pairs 100000]

On --pairs real pair texts (bench/pairs.py: prompts, chosen and rejected answers of the third-party demo data,
recombined so that no two pairs share more than one text), in blocks of 2,048 as the convert map sees them, each
pair's text is normalised (prefkit.hygiene.words) and cut into word 5-gram strings (timed: the part both libraries
share), then signed with 128 permutations by each candidate, best of --repeat. Beside them, prefkit's own path
(prefkit.hygiene.signatures: vectorised shingle hashing, then rensa on the 64-bit hashes), from the raw texts.
Determinism: two fresh processes with different PYTHONHASHSEED sign the same 2,000 texts; their signatures must be
byte-identical (Ray workers sign in other processes than the driver). Prints a table and writes
bench/out/minhash_libs.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert import OUT  # noqa: E402
from pairs import pair_texts  # noqa: E402

from prefkit.hygiene.neardup import NUM_PERM, SEED, SHINGLE, signatures, words  # noqa: E402

BLOCK = 2048


def shingles(text: str) -> list[str]:
    """The word 5-grams of a text as strings (a shorter text: its words as one)."""
    w = words(text)
    return list(map(" ".join, zip(*(w[k:] for k in range(SHINGLE))))) if len(w) >= SHINGLE else [" ".join(w)]


def datasketch_sign(docs: list[list[str]]) -> list[bytes]:
    from datasketch import MinHash

    return [m.hashvalues.tobytes() for m in MinHash.generator([[s.encode() for s in d] for d in docs], num_perm=NUM_PERM,
                                                              seed=SEED)]


def rensa_sign(docs: list[list[str]]) -> list[bytes]:
    from rensa import RMinHash

    rows = RMinHash.digest_matrix_from_token_sets(docs, NUM_PERM, SEED).to_rows()
    return [b"".join(v.to_bytes(4, "little") for v in row) for row in rows]


def rensa_c_sign(docs: list[list[str]]) -> list[bytes]:
    from rensa import CMinHash

    return [b"".join(v.to_bytes(8, "little") for v in row) for row in CMinHash.digests64_from_token_sets(docs, NUM_PERM, SEED)]


CANDIDATES = {"datasketch 2.0 MinHash (sha1, numpy)": datasketch_sign, "rensa 0.5 RMinHash (batch)": rensa_sign,
              "rensa 0.5 CMinHash (batch)": rensa_c_sign}
PREFKIT = "prefkit.hygiene.signatures (from raw text)"


def timed(fn, *args):  # noqa: ANN001, ANN201
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def digest(name: str, n: int) -> str:
    """The sha256 of the signatures of the first n texts, in this process."""
    if name == PREFKIT:
        return hashlib.sha256(b"".join(signatures(pair_texts(n)))).hexdigest()
    docs = [shingles(t) for t in pair_texts(n)]
    return hashlib.sha256(b"".join(CANDIDATES[name](docs))).hexdigest()


def deterministic(name: str) -> bool:
    """Two fresh processes with different hash seeds give the same signatures."""
    code = f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); " \
           f"from minhash_libs import digest; print(digest({name!r}, 2000))"
    seen = {subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed}, check=True,
                           capture_output=True, text=True).stdout for seed in ("1", "2")}
    return len(seen) == 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    texts = pair_texts(args.pairs)
    blocks = [texts[i:i + BLOCK] for i in range(0, len(texts), BLOCK)]
    shingle_s, tokens = 0.0, 0
    for block in blocks:
        seconds, docs = timed(lambda b=block: [shingles(t) for t in b])
        shingle_s, tokens = shingle_s + seconds, tokens + sum(map(len, docs))
    print(f"{args.pairs:,} pairs, {sum(map(len, texts)) / args.pairs:,.0f} characters and {tokens / args.pairs:,.0f} "
          f"shingles each on average; normalising + shingling: {args.pairs / shingle_s:,.0f} pairs/s")
    results = []
    for name, fn in [*CANDIDATES.items(), (PREFKIT, None)]:
        best = min(sum(_sign(name, fn, block) for block in blocks) for _ in range(args.repeat))
        results.append({"library": name, "pairs_per_s": round(args.pairs / best), "seconds": round(best, 2),
                        "deterministic_across_processes": deterministic(name)})
        print(f"{name:40} {results[-1]['pairs_per_s']:>10,} pairs/s  {best:7.2f} s  "
              f"deterministic: {results[-1]['deterministic_across_processes']}")
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "minhash_libs.json"), "w") as f:
        json.dump({"pairs": args.pairs, "shingles_per_pair": round(tokens / args.pairs),
                   "shingling_pairs_per_s": round(args.pairs / shingle_s), "results": results}, f, indent=2)


def _sign(name: str, fn, block: list[str]) -> float:  # noqa: ANN001
    """Seconds to sign one block (the shingle strings made first, untimed; prefkit's path times it all)."""
    if fn is None:
        return timed(signatures, block)[0]
    docs = [shingles(t) for t in block]
    return timed(fn, docs)[0]


if __name__ == "__main__":
    main()
