"""Real pair texts at any count, for the hygiene benchmarks: the prompts, chosen and rejected answers of the
third-party demo data (dpo_en_demo + dpo_zh_demo, 600 records, see bench/make_big.py) recombined.

Pair i takes its prompt from record a = i % 600, its chosen answer from record (a + q + 1) % 600 and its rejected
answer from record (a + 2q + 2) % 600, q = i // 600: up to 180,000 pairs, no two of which share more than one of
their three texts, so the pairs are distinct (not near-duplicates of each other) and every text is real.
"""

from __future__ import annotations

from typing import Any

from make_big import source_records

LIMIT = 180_000


def records(n: int) -> list[dict[str, Any]]:
    """n sharegpt ranking records, recombined as above."""
    if n > LIMIT:
        raise SystemExit(f"at most {LIMIT:,} distinct recombined pairs")
    base = source_records()
    k = len(base)
    out = []
    for i in range(n):
        a, q = i % k, i // k
        out.append({"conversations": base[a]["conversations"], "chosen": base[(a + q + 1) % k]["chosen"],
                    "rejected": base[(a + 2 * q + 2) % k]["rejected"]})
    return out


def text(record: dict[str, Any]) -> str:
    """The text a near-duplicate check reads: the prompt's turns, the chosen and the rejected answer."""
    return "\n".join([*(m["value"] for m in record["conversations"]), record["chosen"]["value"],
                      record["rejected"]["value"]])


def pair_texts(n: int) -> list[str]:
    return [text(r) for r in records(n)]
