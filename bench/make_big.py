"""Build a large sharegpt ranking file from the third-party demo data (dpo_en_demo + dpo_zh_demo).

    python bench/make_big.py OUT.json|OUT.jsonl N_PAIRS [MAX_CHARS]

Records are cycled; each copy's last prompt turn gets a " (variant k)" suffix, so prompts stay
distinct and duplicate counting does real work. MAX_CHARS cuts every text to that length (before the
suffix): with 200, a pair is about 1.2 KB instead of about 3.9 KB, so that 10M pairs fit on this machine's disk.
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


def _cut(record: dict, chars: int) -> dict:
    def text(value: object) -> object:
        return value[:chars] if isinstance(value, str) else value

    cut = {key: text(value) for key, value in record.items()}
    cut["conversations"] = [{**m, "value": text(m["value"])} for m in record["conversations"]]
    for side in ("chosen", "rejected"):
        if isinstance(record.get(side), dict):
            cut[side] = {**record[side], "value": text(record[side]["value"])}
    return cut


def main(out: str, n: int, chars: int = 0) -> None:
    base = source_records()
    if chars:
        base = [_cut(record, chars) for record in base]
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
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 0)
