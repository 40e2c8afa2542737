#!/usr/bin/env bash
# The README's demo: raw logs in examples/raw -> LLaMA-Factory datasets registered in data/.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFKIT=.venv/bin/prefkit
step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

step "1. logged OpenAI chat calls with scores / thumbs / preferred choice -> sharegpt pairs"
$PREFKIT convert examples/raw/support_chat_logs.jsonl --from openai-logs -o data/support_chat.json \
  --register support_chat --dataset-dir data --report-json data/support_chat.report.json

step "2. the same logs -> KTO examples (thumbs and preferred choices)"
$PREFKIT convert examples/raw/support_chat_logs.jsonl --from openai-logs --to kto -o data/support_chat_kto.json \
  --register support_chat_kto --dataset-dir data

step "3. three annotators' votes in a CSV (majority vote) -> alpaca pairs"
$PREFKIT convert examples/raw/reviewer_votes.csv --from pairwise --map prompt=question --to alpaca \
  -o data/reviewer_votes.json --register reviewer_votes --dataset-dir data

step "4. rated completions -> every answer against the best (auto-detected format)"
$PREFKIT convert examples/raw/rated_answers.jsonl --pairing best-vs-each-lower -o data/rated_answers.json \
  --register rated_answers --dataset-dir data

step "5. your own reader: FastChat's question/answer/review tables (examples/custom_reader.py)"
.venv/bin/python examples/custom_reader.py examples/fastchat_vicuna_eval data/fastchat_gpt4.json

step "6. schema check of every written file, then lint data/dataset_info.json"
.venv/bin/python - <<'PY'
import json
from prefkit.jsonschemas import errors
from prefkit.registry import load

schema = {"sharegpt": "sharegpt_ranking", "alpaca": "alpaca_ranking"}
for name, entry in load("data").items():
    kind = "kto" if "kto_tag" in entry["columns"] else schema[entry["formatting"]]
    rows = json.load(open(f"data/{entry['file_name']}"))
    bad = [(i, p, m) for i, row in enumerate(rows) for p, m in errors(kind, row)]
    print(f"  {name:18} {len(rows):4} rows  {kind:17} schema problems: {len(bad)}")
    assert not bad, bad[:3]
PY
$PREFKIT register --check --dataset-dir data

step "done: data/dataset_info.json now lists these datasets; train with LLaMA-Factory's dataset_dir=data"
