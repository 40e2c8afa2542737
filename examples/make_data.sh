#!/usr/bin/env bash
# The example datasets: raw logs in examples/raw -> LLaMA-Factory datasets registered in the dataset dir $1.
# data/ holds what this script writes (tests/test_examples.py runs it and compares every byte); examples/demo.sh
# runs it into its scratch dataset dir first. Run from the repository root: bash examples/make_data.sh DIR
set -euo pipefail
D=${1:?usage: make_data.sh DATASET_DIR}
PREFKIT=${PREFKIT:-.venv/bin/prefkit}
PYTHON=${PYTHON:-.venv/bin/python}
[ -f "$D/dataset_info.json" ] || { mkdir -p "$D" && echo '{}' > "$D/dataset_info.json"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

step "1. logged OpenAI chat calls with scores / thumbs / preferred choice -> sharegpt pairs"
$PREFKIT convert examples/raw/support_chat_logs.jsonl --from openai-logs -o "$D/support_chat.json" \
  --register support_chat --dataset-dir "$D" --report-json "$D/support_chat.report.json"

step "2. the same logs -> KTO examples (thumbs and preferred choices)"
$PREFKIT convert examples/raw/support_chat_logs.jsonl --from openai-logs --to kto -o "$D/support_chat_kto.json" \
  --register support_chat_kto --dataset-dir "$D"

step "3. three annotators' votes in a CSV (majority vote) -> alpaca pairs"
$PREFKIT convert examples/raw/reviewer_votes.csv --from pairwise --map prompt=question --to alpaca \
  -o "$D/reviewer_votes.json" --register reviewer_votes --dataset-dir "$D"

step "4. rated completions -> every answer against the best (auto-detected format)"
$PREFKIT convert examples/raw/rated_answers.jsonl --pairing best-vs-each-lower -o "$D/rated_answers.json" \
  --register rated_answers --dataset-dir "$D"

step "5. your own reader: FastChat's question/answer/review tables (examples/custom_reader.py)"
$PYTHON examples/custom_reader.py examples/fastchat_vicuna_eval "$D/fastchat_gpt4.json"
