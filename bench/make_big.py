"""Build a large sharegpt ranking file from the third-party demo data (dpo_en_demo + dpo_zh_demo).

    python bench/make_big.py OUT.json|OUT.jsonl N_PAIRS

Records are cycled; each copy's last prompt turn gets a " (variant k)" suffix, so prompts stay
distinct and duplicate counting does real work.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
THIRD = os.path.join(HERE, "..", "..", "shared", "data", "third_party")


def source_records() -> list[dict]:
    records = []
    for name in ("llamafactory_dpo_en_demo.json", "llamafactory_dpo_zh_demo.json"):
        with open(os.path.join(THIRD, name), encoding="utf-8") as f:
            records += json.load(f)
    return records


def main(out: str, n: int) -> None:
    base = source_records()
    array = out.endswith(".json")
    with open(out, "w", encoding="utf-8") as f:
        if array:
            f.write("[\n")
        for i in range(n):
            record = base[i % len(base)]
            k = i // len(base)
            if k:
                turns = [dict(m) for m in record["conversations"]]
                turns[-1]["value"] += f" (variant {k})"
                record = {**record, "conversations": turns}
            text = json.dumps(record, ensure_ascii=False)
            f.write((",\n" if array and i else "") + text + ("" if array else "\n"))
        if array:
            f.write("\n]\n")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
